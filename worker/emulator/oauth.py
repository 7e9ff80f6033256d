"""The LMS's ``/oauth2/access_token``: the client-credentials grant that signs the service user's JWT."""

from __future__ import annotations

import hmac
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
