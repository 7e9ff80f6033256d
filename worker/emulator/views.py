"""Answers API requests as DRF's APIView runs a viewset: negotiate, authenticate, permit, throttle, handle.

The viewsets are CredentialViewSet, GradeViewSet and CourseCertificateViewSet
(credentials/apps/api/v2/views.py) behind DRF's DefaultRouter; the order of the checks is
rest_framework/views.py ``APIView.initial``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from worker.emulator import (
    accounts,
    certificates,
    grades,
    listing,
    models,
    permissions,
    routes,
    state,
    throttle,
    tokens,
    transport,
    user_credentials,
)

logger = logging.getLogger(__name__)

WWW_AUTHENTICATE = ("WWW-Authenticate", 'JWT realm="api"')
NOT_AUTHENTICATED = "Authentication credentials were not provided."
PERMISSION_DENIED = "You do not have permission to perform this action."
# The viewsets' actions by (detail route?, method); a method without one is a 405.
_CREDENTIAL_ACTIONS = {
    (False, "GET"): "list",
    (False, "POST"): "create",
    (True, "GET"): "retrieve",
    (True, "PUT"): "update",
    (True, "PATCH"): "partial_update",
    (True, "DELETE"): "destroy",
}
_CERTIFICATE_ACTIONS = {
    (False, "POST"): "create",
    (True, "GET"): "retrieve",
    (True, "PUT"): "update",
    (True, "PATCH"): "partial_update",
}


class Refused(Exception):
    """An answer decided before (or instead of) the handler."""

    def __init__(self, response: transport.Response) -> None:
        super().__init__(response.status)
        self.response = response


class Api:
    """The ``/api/v2/`` endpoints over the emulator's store (reached through ``store()``).

    Token signatures are checked outside ``lock``; everything touching state runs under it.
    """

    def __init__(
        self,
        *,
        lock: threading.Lock,
        authority: tokens.TokenAuthority,
        issuer: Callable[[], str],
        store: Callable[[], state.Store],
        page_size: int,
        clock: Callable[[], float],
    ) -> None:
        self._lock = lock
        self._tokens = authority
        self._issuer = issuer
        self._store = store
        self._page_size = page_size
        self._clock = clock

    def respond(self, request: transport.Request) -> transport.Response:
        """The answer to one request that no fault intercepted."""
        resolved = routes.resolve(request.path, request.query_string)
        if resolved is None:
            return transport.not_found_page()
        if isinstance(resolved, routes.Redirect):
            return transport.redirect(resolved.location)
        # Content negotiation comes first in APIView.initial: an unknown format is a 404.
        wanted = resolved.format or request.params.get("format")
        if wanted and wanted not in routes.RENDERER_FORMATS:
            return transport.detail(404, "Not found.")
        token = _token_from_header(request.authorization)
        claims = None if token is None else self._tokens.verify(token, self._issuer())
        with self._lock:
            try:
                store = self._store()
                principal = None
                if token is not None:
                    if claims is None or self._tokens.is_revoked(claims):
                        raise Refused(transport.detail(401, "Invalid token.", WWW_AUTHENTICATE))
                    principal = _authenticate(store, claims)
                return self._dispatch(store, request, resolved, principal)
            except Refused as refused:
                return refused.response
            except throttle.Throttled as throttled:
                wait = () if not throttled.wait_s else (("Retry-After", str(throttled.wait_s)),)
                return transport.detail(429, throttled.detail, *wait)
            except models.ValidationFailed as invalid:
                return transport.Response(400, invalid.errors)
            except models.NotFound as missing:
                return transport.detail(404, missing.detail)
            except models.ServerError as crash:
                logger.info("emulated server error on %s %s: %s", request.method, request.path, crash)
                return transport.server_error()

    def _dispatch(
        self,
        store: state.Store,
        request: transport.Request,
        match: routes.Match,
        principal: accounts.Principal | None,
    ) -> transport.Response:
        detail_route = match.lookup is not None
        if match.view == routes.ROOT:
            # APIRootView: any authenticated user (DjangoModelPermissions ignores the root view).
            _permit(principal, principal is not None)
            _allowed_method(request.method, {"GET"})
            names = (routes.CREDENTIALS, routes.GRADES, routes.COURSE_CERTIFICATES)
            links = {name: routes.link(request.base_url, name, match.format) for name in names}
            return transport.Response(200, links)
        if match.view == routes.COURSE_CERTIFICATES:
            _permit(principal, permissions.admin_user_allowed(principal))
            action = _CERTIFICATE_ACTIONS.get((detail_route, request.method))
            _allowed_method(request.method, set() if action is None else {request.method})
            return self._course_certificates(store, request, action, match.lookup)
        if match.view == routes.GRADES:
            return self._grades(store, request, match.lookup, principal)
        action = _CREDENTIAL_ACTIONS.get((detail_route, request.method))
        allowed = permissions.credentials_allowed(
            principal,
            request.method,
            action,
            request.params.get("username", ""),
            admins_can_view=store.switches.admins_can_view,
        )
        _permit(principal, allowed)
        assert principal is not None
        # CredentialRateThrottle (credentials/apps/api/v2/views.py) covers every action of the
        # viewset, POSTs included; staff and superusers are exempt (so in practice only learners'
        # reads count: posting needs Admins, which only an administrator claim grants, or an
        # operator's grant of the permission to a non-staff user).
        # APIView.initial checks it after the permissions, so refused requests never count.
        self._throttle(store.throttle, principal, "CredentialViewSet")
        _allowed_method(request.method, set() if action is None else {request.method})
        return self._credentials(store, request, action, match.lookup)

    def _credentials(
        self, store: state.Store, request: transport.Request, action: str | None, lookup: str | None
    ) -> transport.Response:
        if action == "list":
            return self._list(store, request)
        if action == "create":
            learner_records = store.switches.learner_records
            credential = store.credentials.issue(_data(request), learner_records=learner_records)
            return transport.Response(201, user_credentials.serialize(credential, request.base_url))
        assert lookup is not None
        # get_object() filters with the listing's filters before the lookup.
        selected = listing.matching(store.credentials, store.catalog, request.params, self._now())
        credential = store.credentials.find(lookup)
        if credential not in selected:
            raise models.NotFound("No UserCredential matches the given query.")
        if action in ("update", "partial_update"):
            credential = store.credentials.update(credential, _data(request))
        elif action == "destroy":
            credential = store.credentials.revoke(credential)
        return transport.Response(200, user_credentials.serialize(credential, request.base_url))

    def _grades(
        self,
        store: state.Store,
        request: transport.Request,
        lookup: str | None,
        principal: accounts.Principal | None,
    ) -> transport.Response:
        """GradeViewSet: model permissions on UserGrade, the grade_view throttle, then the action."""
        admins_can_view = store.switches.admins_can_view
        _permit(
            principal, permissions.grades_allowed(principal, request.method, admins_can_view=admins_can_view)
        )
        assert principal is not None
        self._throttle(store.grade_throttle, principal, "GradeViewSet")
        action = grades.ACTIONS.get((lookup is not None, request.method))
        _allowed_method(request.method, set() if action is None else {request.method})
        assert action is not None
        return grades.answer(store.grades, action, lookup, lambda: _data(request, forms=True))

    def _throttle(self, limiter: throttle.RateThrottle, principal: accounts.Principal, view: str) -> None:
        """CredentialRateThrottle: staff and superusers are exempt; a refusal is logged as there."""
        if principal.is_staff or principal.account.is_superuser:
            return
        try:
            limiter.check(principal.account.id, self._clock())
        except throttle.Throttled:
            logger.warning("Credentials API endpoint %s is being throttled.", view)
            raise

    def _course_certificates(
        self, store: state.Store, request: transport.Request, action: str | None, lookup: str | None
    ) -> transport.Response:
        if action == "create":
            certificate = store.certificates.create_or_update(_data(request))
            return transport.Response(201, certificates.serialize(certificate))
        assert lookup is not None
        if action == "retrieve":
            certificate = store.certificates.retrieve(lookup)
        else:
            partial = action == "partial_update"
            certificate = store.certificates.update(lookup, _data(request), partial=partial)
        return transport.Response(200, certificates.serialize(certificate))

    def _list(self, store: state.Store, request: transport.Request) -> transport.Response:
        """PageNumberPagination over the filtered credentials (no client page size)."""
        matches = listing.matching(store.credentials, store.catalog, request.params, self._now())
        pages = max(1, math.ceil(len(matches) / self._page_size))
        raw_page = request.params.get("page") or "1"
        try:
            number = pages if raw_page == "last" else int(raw_page)
        except ValueError:
            number = 0
        if not 1 <= number <= pages:
            raise models.NotFound("Invalid page.")
        start = (number - 1) * self._page_size
        body = {
            "count": len(matches),
            "next": _page_link(request, number + 1) if number < pages else None,
            "previous": _page_link(request, number - 1) if number > 1 else None,
            "results": [
                user_credentials.serialize(item, request.base_url)
                for item in matches[start : start + self._page_size]
            ],
        }
        return transport.Response(200, body)

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)


def _token_from_header(authorization: str | None) -> str | None:
    """drf-jwt's header parsing: exactly ``<prefix> <token>``, prefix ``JWT`` in any case.

    Anything else (``Bearer``, extra spaces, no header) is no JWT at all: the request goes on
    unauthenticated and is refused by the permission check, not by authentication.
    """
    parts = (authorization or "").split(" ")
    if len(parts) != 2 or parts[0].lower() != "jwt" or not parts[1]:
        return None
    return parts[1]


def _authenticate(store: state.Store, claims: dict[str, Any]) -> accounts.Principal:
    try:
        return store.accounts.authenticate(claims)
    except accounts.AuthenticationFailed as failed:
        raise Refused(transport.detail(401, failed.detail, WWW_AUTHENTICATE)) from None


def _permit(principal: accounts.Principal | None, allowed: bool) -> None:
    """APIView.permission_denied: 401 with the JWT challenge when unauthenticated, else 403."""
    if allowed:
        return
    if principal is None:
        raise Refused(transport.detail(401, NOT_AUTHENTICATED, WWW_AUTHENTICATE))
    raise Refused(transport.detail(403, PERMISSION_DENIED))


def _allowed_method(method: str, allowed: set[str]) -> None:
    if method not in allowed:
        raise Refused(transport.detail(405, f'Method "{method}" not allowed.'))


def _data(request: transport.Request, *, forms: bool = False) -> Any:
    """``request.data`` as DRF parses it when a handler first reads it.

    JSON, and with ``forms`` a form body (GradeViewSet's: the LMS posts grades form-encoded).
    """
    media_type = request.content_type.split(";")[0].strip().lower()
    if forms and media_type == transport.FORM_MEDIA_TYPE:
        return request.data if request.has_body else transport.FormData()
    if not request.has_body:
        return {}
    if media_type != "application/json":
        # DRF would parse (other) form and multipart bodies too; the emulator refuses them.
        message = f'Unsupported media type "{request.content_type}" in request.'
        raise Refused(transport.detail(415, message))
    if request.data_too_deep:
        raise models.ServerError("RecursionError in JSONParser: the body nests too deep")
    if request.data_error is not None:
        raise Refused(transport.detail(400, request.data_error))
    return request.data


def _page_link(request: transport.Request, number: int) -> str:
    """DRF's page links: the same URL with ``page`` replaced (dropped for page 1), params sorted."""
    query = {name: values for name, values in request.query.items() if name != "page"}
    if number > 1:
        query["page"] = [str(number)]
    encoded = urllib.parse.urlencode(sorted(query.items()), doseq=True)
    return f"{request.base_url}{request.path}" + (f"?{encoded}" if encoded else "")
