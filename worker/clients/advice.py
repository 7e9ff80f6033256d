"""What to do when Credentials refuses credsync: one sentence per kind of refusal.

Used in the refusal's ERROR log line, on the waiting rows, and by ``credsync doctor``. The facts
behind each sentence were measured on a default Credentials install (SPEC §5.2, §5.7).
"""

from __future__ import annotations

CREDENTIALS_PATH = "/api/v2/credentials/"

#: A default install's Admins group holds add_/change_usercredential but not view_usercredential.
VIEW_GRANT = (
    "in Credentials' Django admin, give the service user's group (Admins) the permission "
    "credentials | user credential | Can view user credential (credentials.view_usercredential)"
)
SIGN_AS_LEARNER = (
    "or set LMS_JWT_ISSUER, LMS_JWT_AUDIENCE and LMS_JWT_PRIVATE_SIGNING_JWK (or LMS_JWT_SECRET_KEY) "
    "so that credsync reads each learner's credentials as that learner, as the LMS does (no grant needed, "
    "and new learners' first program certificates work too)"
)
WITHOUT_KEY = (
    "Without a signing key, a first program award for a learner who never signed in to Credentials still "
    "answers HTTP 500 (Credentials creates a learner's account only from the learner's own request)"
)
STAFF = (
    "the service user (CREDENTIALS_SERVICE_USERNAME) must be staff: set is_staff on its auth_user row in "
    "the LMS (its token's administrator claim puts it in Credentials' Admins group)"
)
UNKNOWN_SERVICE_USER = (
    "create the service user in the LMS (auth_user, is_staff true) or set CREDENTIALS_SERVICE_USERNAME "
    "to the user the LMS's CREDENTIALS_SERVICE_USERNAME names"
)


def for_refusal(call: str, status: int, *, learner_token: bool, signs: bool) -> str:
    """The fix for Credentials answering ``status`` (401/403) to ``call`` ("GET /api/v2/credentials/")."""
    if status == 401:
        if signs:
            return (
                "Credentials does not accept the tokens credsync signs: LMS_JWT_ISSUER, LMS_JWT_AUDIENCE and "
                "the signing key must match an entry of Credentials' JWT_AUTH JWT_ISSUERS (and its "
                "JWT_PUBLIC_SIGNING_JWK_SET for an RSA key), as the LMS's JWT_AUTH does"
            )
        return (
            "Credentials does not accept the token from OAUTH_URL: its JWT_AUTH JWT_ISSUERS must list "
            "the LMS that issues it (issuer, audience, key)"
        )
    if call.startswith("GET ") and call.endswith(CREDENTIALS_PATH):
        if learner_token:
            return (
                "Credentials refused a learner reading their own credentials: check that the learner's "
                "username in the LMS matches the token's preferred_username and that Credentials runs "
                "its default permissions"
            )
        return f"{VIEW_GRANT}; {SIGN_AS_LEARNER}"
    return STAFF
