"""The LMS's ``/oauth2/access_token``: the client-credentials grant that signs the service user's JWT."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from worker.emulator import tokens, transport

TOKEN_SCOPE = " ".join(tokens.SCOPES)


def refusal(form: dict[str, Any], client_id: str, client_secret: str) -> transport.Response | None:
    """Why the grant is refused (DOT's error answers), or None when the form asks correctly."""
    given_id, given_secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
    good_client = hmac.compare_digest(given_id.encode(), client_id.encode())
    good_secret = hmac.compare_digest(given_secret.encode(), client_secret.encode())
    if not (good_client and good_secret):
        return transport.Response(401, {"error": "invalid_client"})
    if form.get("grant_type") != "client_credentials":
        return transport.Response(400, {"error": "unsupported_grant_type"})
    if str(form.get("token_type", "")).lower() != "jwt":
        return transport.Response(
            400, {"error": "invalid_request", "error_description": "token_type must be jwt"}
        )
    return None


def answer(token: str, lifetime_s: int) -> transport.Response:
    """The LMS's token answer (edx_rest_api_client reads ``access_token`` and ``expires_in``)."""
    body = {"access_token": token, "token_type": "JWT", "expires_in": lifetime_s, "scope": TOKEN_SCOPE}
    return transport.Response(200, body, (("Cache-Control", "no-store"),))


class TokenEndpoint:
    """The LMS's client-credentials grant for one OAuth client: a JWT for the service user (an administrator).

    ``issue`` must run under the emulator's lock (the token authority is not thread-safe).
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        username: str,
        authority: tokens.TokenAuthority,
        issuer: Callable[[], str],
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._username = username
        self._authority = authority
        self._issuer = issuer

    def refusal(self, request: transport.Request) -> transport.Response | None:
        """Why ``request`` gets no token (a wrong method or a refused grant), or None."""
        if request.method != "POST":
            return transport.detail(405, f'Method "{request.method}" not allowed.')
        form = request.data if isinstance(request.data, dict) else {}
        return refusal(form, self._client_id, self._client_secret)

    def issue(self) -> str:
        """A new token for the service user."""
        return self._authority.issue(
            issuer=self._issuer(), username=self._username, email=f"{self._username}@example.com"
        )

    def answer(self, token: str) -> transport.Response:
        """The token answer for ``token``."""
        return answer(token, self._authority.lifetime_s)
