"""Settings: defaults, and a clear message naming the variable for every invalid value."""

from __future__ import annotations

import pytest

from worker import errors, settings

REQUIRED = {
    "DATABASE_URL": "postgresql://127.0.0.1/test",
    "CREDENTIALS_URL": "http://127.0.0.1:18150",
    "OAUTH_URL": "http://127.0.0.1:18150",
    "OAUTH_CLIENT_ID": "credsync",
    "OAUTH_CLIENT_SECRET": "s3cret",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        *list(REQUIRED),
        "BROKER_URL",
        "CREDENTIALS_ORG_URLS",
        "CREDSYNC_MAX_RETRIES",
        "CREDSYNC_LOG_LEVEL",
        "CREDSYNC_LOG_FORMAT",
    ]:
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_the_upstream_retry_policy() -> None:
    config = settings.load(REQUIRED)
    assert (config.max_retries, config.min_backoff_ms, config.max_backoff_ms) == (10, 30_000, 600_000)
    assert config.broker_url == "redis://127.0.0.1:6379/0"
    assert config.host_schema == "public"
    assert config.credentials_org_urls == {}
    assert config.programs_without_certificates == frozenset()
    assert config.synchronous_commit == "off"


def test_the_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CREDSYNC_MAX_RETRIES", "3")
    monkeypatch.setenv("CREDENTIALS_ORG_URLS", '{"edX": "https://credentials.edx.example"}')
    config = settings.load()
    assert config.max_retries == 3
    assert config.credentials_org_urls == {"edX": "https://credentials.edx.example"}


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_required_variable_is_named(missing: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=f"{missing}(: Field)? required"):
        settings.load({k: v for k, v in REQUIRED.items() if k != missing})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CREDSYNC_MAX_RETRIES", "many", "CREDSYNC_MAX_RETRIES"),
        ("CREDSYNC_MAX_RETRIES", "-1", "CREDSYNC_MAX_RETRIES"),
        ("CREDSYNC_RETENTION_DONE_DAYS", "0", "CREDSYNC_RETENTION_DONE_DAYS"),
        ("CREDSYNC_RETENTION_FAILED_DAYS", "-5", "CREDSYNC_RETENTION_FAILED_DAYS"),
        ("BROKER_URL", "kafka://x", "BROKER_URL: Value error, must start with redis://"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL: Value error, must be a postgresql:// URL"),
        ("CREDENTIALS_URL", "credentials.example", "CREDENTIALS_URL: Value error, must be an absolute"),
        ("CREDENTIALS_ORG_URLS", "[1]", "CREDENTIALS_ORG_URLS"),
        ("CREDENTIALS_ORG_URLS", '{"edX": "ftp://x"}', "the URL for org 'edX'"),
        ("CREDSYNC_HOST_SCHEMA", "lms; drop table x", "CREDSYNC_HOST_SCHEMA"),
        ("CREDSYNC_SYNCHRONOUS_COMMIT", "local; drop table x", "CREDSYNC_SYNCHRONOUS_COMMIT"),
        ("CREDSYNC_LOG_LEVEL", "LOUD", "CREDSYNC_LOG_LEVEL: Value error, must be a log level: DEBUG, INFO"),
        ("CREDSYNC_LOG_LEVEL", "10", "CREDSYNC_LOG_LEVEL: Value error, must be a log level"),
        ("CREDSYNC_LOG_FORMAT", "xml", "CREDSYNC_LOG_FORMAT"),
        (
            "CREDSYNC_MIN_BACKOFF_MS",
            "900000",
            "CREDSYNC_MIN_BACKOFF_MS must not exceed CREDSYNC_MAX_BACKOFF_MS",
        ),
        ("CREDSYNC_MIN_BACKOFF_MS", "0", "CREDSYNC_MIN_BACKOFF_MS"),
        ("CREDSYNC_MAX_BACKOFF_MS", "0", "CREDSYNC_MAX_BACKOFF_MS"),
        ("CREDSYNC_MAX_BACKOFF_MS", str(7 * 86_400_000 + 1), "CREDSYNC_MAX_BACKOFF_MS"),
        ("CREDSYNC_MAX_RETRIES", "101", "CREDSYNC_MAX_RETRIES"),
        ("CREDSYNC_LEASE_S", "1", "CREDSYNC_LEASE_S"),
        ("CREDSYNC_LEASE_S", "3601", "CREDSYNC_LEASE_S"),
        ("CREDSYNC_SCAN_INTERVAL_MS", "0", "CREDSYNC_SCAN_INTERVAL_MS"),
        ("CREDSYNC_CLAIM_BATCH", "0", "CREDSYNC_CLAIM_BATCH"),
        ("CREDSYNC_CLAIM_BATCH", "10001", "CREDSYNC_CLAIM_BATCH"),
        ("CREDSYNC_MAX_IN_FLIGHT", "0", "CREDSYNC_MAX_IN_FLIGHT"),
        # The claim casts it to a Postgres integer: a larger value would fail every claim.
        ("CREDSYNC_MAX_IN_FLIGHT", "3000000000", "CREDSYNC_MAX_IN_FLIGHT"),
        # Pruning turns it into an interval: a larger value would fail every maintenance pass.
        ("CREDSYNC_RETENTION_DONE_DAYS", "99999999999", "CREDSYNC_RETENTION_DONE_DAYS"),
        ("CREDSYNC_RETENTION_FAILED_DAYS", "36501", "CREDSYNC_RETENTION_FAILED_DAYS"),
        ("CREDSYNC_ACTOR_TIME_LIMIT_MS", "999", "CREDSYNC_ACTOR_TIME_LIMIT_MS"),
        ("CREDSYNC_ACTOR_TIME_LIMIT_MS", "86400001", "CREDSYNC_ACTOR_TIME_LIMIT_MS"),
        ("CREDSYNC_QUEUE", "q" * 201, "CREDSYNC_QUEUE"),
        ("CREDSYNC_METRICS_PORT", "0", "CREDSYNC_METRICS_PORT"),
        ("CREDSYNC_METRICS_PORT", "65535", "CREDSYNC_METRICS_PORT"),
        ("CREDSYNC_METRICS_PORT", "-1", "CREDSYNC_METRICS_PORT"),
        ("CREDSYNC_HTTP_CONNECT_TIMEOUT_S", "0", "CREDSYNC_HTTP_CONNECT_TIMEOUT_S"),
        ("CREDSYNC_HTTP_CONNECT_TIMEOUT_S", "nan", "CREDSYNC_HTTP_CONNECT_TIMEOUT_S"),
        ("CREDSYNC_HTTP_READ_TIMEOUT_S", "-1", "CREDSYNC_HTTP_READ_TIMEOUT_S"),
        ("CREDSYNC_HTTP_READ_TIMEOUT_S", "inf", "CREDSYNC_HTTP_READ_TIMEOUT_S"),
        ("CREDENTIALS_SERVICE_USERNAME", "u" * 151, "CREDENTIALS_SERVICE_USERNAME"),
        ("DATABASE_URL", "postgresql://db.example:0/x", "DATABASE_URL: Value error, port '0' is not a port"),
        ("BROKER_URL", "redis://127.0.0.1:65536/0", "BROKER_URL: Value error, port '65536' is not a port"),
        ("CREDENTIALS_URL", "http://127.0.0.1:http/", "CREDENTIALS_URL: Value error, port 'http'"),
        ("OAUTH_URL", "https://lms.example:99999", "OAUTH_URL: Value error, port '99999'"),
        ("CREDENTIALS_ORG_URLS", '{"edX": "http://x:0"}', "CREDENTIALS_ORG_URLS: Value error, port '0'"),
        # Nested past Python's recursion limit: refused like any other bad JSON, not a traceback.
        (
            "CREDENTIALS_ORG_URLS",
            "[" * 100_000,
            "CREDENTIALS_ORG_URLS: Value error, is JSON nested too deeply",
        ),
    ],
)
def test_an_invalid_value_is_refused_with_the_variable_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        settings.load({**REQUIRED, variable: value})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "postgresql://credsync@db1.example:5432,db2.example:5433,[::1]:5434/lms"),
        ("DATABASE_URL", "host=db.example port=5432 dbname=lms"),
        ("BROKER_URL", "redis://:secret@127.0.0.1:6379/0"),
        ("CREDENTIALS_URL", "http://[::1]:18150"),
        ("CREDSYNC_METRICS_PORT", "65534"),
        ("CREDSYNC_MAX_IN_FLIGHT", "1000000"),
        ("CREDSYNC_RETENTION_DONE_DAYS", "36500"),
        ("CREDENTIALS_SERVICE_USERNAME", "u" * 150),
    ],
)
def test_a_value_at_its_bound_is_accepted(variable: str, value: str) -> None:
    # Given a value at the edge of what its variable allows, When the settings are read, Then it loads
    settings.load({**REQUIRED, variable: value})


def test_the_client_secret_never_shows_in_the_settings_repr() -> None:
    config = settings.load(REQUIRED)
    assert "s3cret" not in repr(config)
    assert "s3cret" not in str(config)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", frozenset()),
        ("a, b", frozenset({"a", "b"})),
        ("x,all", frozenset({"x", "ALL"})),
        ("All", frozenset({"ALL"})),
    ],
)
def test_programs_without_certificates_is_a_comma_separated_list_where_all_means_every_program(
    raw: str, expected: frozenset[str]
) -> None:
    config = settings.load({**REQUIRED, "CREDSYNC_PROGRAMS_WITHOUT_CERTIFICATES": raw})
    assert config.programs_without_certificates == expected


def test_the_core_settings_need_only_the_database() -> None:
    assert settings.load_core({"DATABASE_URL": REQUIRED["DATABASE_URL"]}).queue_name == "credsync"


def test_the_logging_settings_need_no_other_variable_and_default_to_info_as_text() -> None:
    # Given no variable at all (DATABASE_URL included)
    # When only the logging settings are read
    config = settings.load_logging()
    # Then they load, with their defaults
    assert (config.log_level, config.log_format) == ("INFO", "text")


@pytest.mark.parametrize(("raw", "level"), [("debug", "DEBUG"), (" Warning ", "WARNING"), ("ERROR", "ERROR")])
def test_a_log_level_is_any_logging_level_name_in_any_case(raw: str, level: str) -> None:
    # Given CREDSYNC_LOG_LEVEL spelled in any case
    # When the logging settings and the core settings are read
    logging_config = settings.load_logging({"CREDSYNC_LOG_LEVEL": raw, "CREDSYNC_LOG_FORMAT": "json"})
    core = settings.load_core({"DATABASE_URL": REQUIRED["DATABASE_URL"], "CREDSYNC_LOG_LEVEL": raw})
    # Then both hold the level's canonical name
    assert (logging_config.log_level, logging_config.log_format) == (level, "json")
    assert core.log_level == level


def test_an_invalid_log_level_is_refused_by_the_logging_settings_alone() -> None:
    with pytest.raises(
        errors.ConfigurationError, match="CREDSYNC_LOG_LEVEL: Value error, must be a log level"
    ):
        settings.load_logging({"CREDSYNC_LOG_LEVEL": "LOUD"})


def test_the_credentials_client_times_out_by_the_settings_defaults() -> None:
    from worker.clients import credentials

    # Given the settings read with no timeout variable set
    config = settings.load(REQUIRED)
    # Then a client built without settings waits as long as one built from them (3.05 s, 5 s)
    assert config.http_timeout == credentials.DEFAULT_TIMEOUT_S == (3.05, 5.0)


SIGNING = {
    "DATABASE_URL": REQUIRED["DATABASE_URL"],
    "CREDENTIALS_URL": REQUIRED["CREDENTIALS_URL"],
    "LMS_JWT_ISSUER": "https://lms.example.com/oauth2",
    "LMS_JWT_AUDIENCE": "lms-key",
}


def test_a_signing_key_replaces_the_oauth_client() -> None:
    from tests import keys

    config = settings.load({**SIGNING, "LMS_JWT_PRIVATE_SIGNING_JWK": keys.private_jwk()})
    assert config.signs_tokens
    assert config.lms_jwt_algorithm == "RS512"
    assert config.credentials_service_username == "credentials_service_user"
    secret = settings.load({**SIGNING, "LMS_JWT_SECRET_KEY": keys.SECRET})
    assert secret.lms_jwt_algorithm == "HS256"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"LMS_JWT_ISSUER": ""}, "LMS_JWT_ISSUER is required to sign tokens"),
        (
            {"LMS_JWT_PRIVATE_SIGNING_JWK": '{"kty": "RSA", "n": "x", "e": "AQAB"}'},
            "private RSA JSON web key",
        ),
        ({"LMS_JWT_PRIVATE_SIGNING_JWK": "not json"}, "LMS_JWT_PRIVATE_SIGNING_JWK"),
        ({"LMS_JWT_PRIVATE_SIGNING_JWK": "[" * 100_000}, "LMS_JWT_PRIVATE_SIGNING_JWK"),
        # PyJWT answers a member of the wrong type with a TypeError, a missing one with a KeyError.
        (
            {"LMS_JWT_PRIVATE_SIGNING_JWK": '{"kty": "RSA", "d": 5, "n": 1, "e": 2}'},
            "LMS_JWT_PRIVATE_SIGNING_JWK: Value error, is not a usable RSA key",
        ),
        (
            {"LMS_JWT_PRIVATE_SIGNING_JWK": '{"kty": "RSA", "d": "AQAB"}'},
            "LMS_JWT_PRIVATE_SIGNING_JWK: Value error, is not a usable RSA key",
        ),
        ({"LMS_JWT_SECRET_KEY": "s", "LMS_JWT_SIGNING_ALGORITHM": "RS512"}, "does not fit the key"),
        ({"LMS_JWT_SECRET_KEY": "s", "LMS_JWT_SIGNING_ALGORITHM": "none"}, "LMS_JWT_SIGNING_ALGORITHM"),
    ],
)
def test_a_wrong_signing_configuration_is_named(overrides: dict[str, str], message: str) -> None:
    base = (
        {**SIGNING, "LMS_JWT_SECRET_KEY": "s"} if "LMS_JWT_PRIVATE_SIGNING_JWK" not in overrides else SIGNING
    )
    with pytest.raises(errors.ConfigurationError, match=message):
        settings.load({**base, **overrides})


def test_no_module_but_settings_reads_the_environment() -> None:
    # Given every module of the worker package but the settings
    import re
    from pathlib import Path

    own = Path(settings.__file__).resolve().parent
    root = own.parent
    reads = re.compile(r"os\.getenv\(|os\.environ\.get\(|os\.environ\[[^\]]+\](?!\s*=[^=])")
    # When their source is searched for reads of os.environ (writes for a library are allowed)
    found = [
        f"{path.relative_to(root)}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        if own not in path.parents
        for line in path.read_text(encoding="utf-8").splitlines()
        if reads.search(line)
    ]
    # Then there is none: a variable credsync reads is a field of worker.settings
    assert found == []
