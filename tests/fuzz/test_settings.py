"""The settings door: any value of any variable loads, or stops the process naming the variable.

``worker.settings.load`` (and ``load_core``, ``load_logging``) answer settings or a
``ConfigurationError`` whose message names the variable (or, for a check across variables, one of
the variables it spans), and never shows a secret's value.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import keys
from tests.fuzz import doors, strategies
from worker import errors, settings

VARIABLES = sorted(str(field.validation_alias) for field in settings.Settings.model_fields.values())
SECRETS = {"OAUTH_CLIENT_SECRET", "LMS_JWT_PRIVATE_SIGNING_JWK", "LMS_JWT_SECRET_KEY"}
#: Variables checked together: a refusal may name another of its group.
GROUPS = [
    {"CREDSYNC_MIN_BACKOFF_MS", "CREDSYNC_MAX_BACKOFF_MS"},
    {
        "OAUTH_URL",
        "OAUTH_CLIENT_ID",
        "OAUTH_CLIENT_SECRET",
        "LMS_JWT_ISSUER",
        "LMS_JWT_AUDIENCE",
        "LMS_JWT_PRIVATE_SIGNING_JWK",
        "LMS_JWT_SECRET_KEY",
        "LMS_JWT_SIGNING_ALGORITHM",
    },
]
OAUTH = {
    "DATABASE_URL": "postgresql://127.0.0.1/test",
    "CREDENTIALS_URL": "http://127.0.0.1:18150",
    "OAUTH_URL": "http://127.0.0.1:18150",
    "OAUTH_CLIENT_ID": "credsync",
    "OAUTH_CLIENT_SECRET": "s3cret-value",
}
SIGNING = {
    "DATABASE_URL": "postgresql://127.0.0.1/test",
    "CREDENTIALS_URL": "http://127.0.0.1:18150",
    "LMS_JWT_ISSUER": keys.ISSUER,
    "LMS_JWT_AUDIENCE": keys.AUDIENCE,
    "LMS_JWT_SECRET_KEY": keys.SECRET,
}

numbers = st.integers(min_value=-(10**30), max_value=10**30).map(str) | st.sampled_from(
    ["0", "1", "-1", "2", "65534", "65535", "65536", "3600", "3601", "1e3", "1.5", " 7 ", "0x10", "nan",
     "inf", "-inf", "1_000", "\uff11", "9" * 5000]
)  # fmt: skip
urls = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https", "redis", "rediss", "amqp", "postgresql", "postgres", "ftp", ""]),
    st.sampled_from(["", "user:pw@", "@", "u@"]),
    st.sampled_from(["127.0.0.1", "[::1]", "[::1", "host", "h1:5432,h2", ""]),
    st.sampled_from(["", ":", ":0", ":1", ":65535", ":65536", ":-1", ":port", "/", "/db?x=1", "#f"]),
)
jsons = st.builds(str, strategies.values(max_leaves=4)) | st.sampled_from(
    ['{"edX": "https://c.example"}', '{"edX": 5}', "[" * 5000, "{}", "null", '{"kty": "RSA", "d": 1}',
     keys.private_jwk(), '{"keys": [{"kty": "RSA"}]}']
)  # fmt: skip
values = st.text() | numbers | urls | jsons | strategies.sized_text(st.characters())


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the values drawn count: none of the variables comes from the test's own environment.
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _names(variable: str) -> set[str]:
    """The variables a refusal of ``variable`` may name."""
    return next((group for group in GROUPS if variable in group), {variable})


@doors.EXAMPLES
@given(
    base=st.sampled_from([OAUTH, SIGNING]),
    drawn=st.dictionaries(st.sampled_from(VARIABLES), values, min_size=1, max_size=3),
    loader=st.sampled_from([settings.load, settings.load_core, settings.load_logging]),
)
def test_any_value_of_any_variable_loads_or_is_refused_naming_the_variable(
    base: dict[str, str], drawn: dict[str, str], loader: Any
) -> None:
    with doors.attempt("settings"):
        # Given a working configuration with some variables set to arbitrary values
        overrides = {**base, **drawn}
        # When the settings are read
        refusal: errors.ConfigurationError | None = None
        try:
            loader(overrides)
        except errors.ConfigurationError as exc:
            refusal = exc
        if refusal is None:
            doors.answered("settings", "loaded")
            return
        # Then the refusal names a variable drawn (or one it is checked with)
        message = str(refusal)
        assert message.startswith("invalid configuration: "), message
        named = set().union(*(_names(variable) for variable in drawn))
        assert any(name in message for name in named), (drawn, message)
        # And never shows a secret
        for name in SECRETS & set(overrides):
            if len(overrides[name]) >= 8:
                assert overrides[name] not in message, name
        doors.answered("settings", "refused")
