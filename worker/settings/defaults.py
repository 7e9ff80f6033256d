"""Every setting's default and bound: named constants whose names carry their unit, written once."""

from __future__ import annotations

from typing import Literal

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MAX_RETRIES = 10
DEFAULT_MIN_BACKOFF_MS = 30_000
DEFAULT_MAX_BACKOFF_MS = 600_000
DEFAULT_HOST_SCHEMA = "public"
DEFAULT_QUEUE = "credsync"
DEFAULT_LEASE_S = 30
DEFAULT_SCAN_INTERVAL_MS = 200
DEFAULT_CLAIM_BATCH = 500
DEFAULT_ROWS_PER_MESSAGE = 10
DEFAULT_MESSAGES_PER_CLAIM = 8
DEFAULT_MAX_IN_FLIGHT = 2_000
DEFAULT_RETENTION_DONE_DAYS = 7
DEFAULT_RETENTION_FAILED_DAYS = 30
DEFAULT_HTTP_CONNECT_TIMEOUT_S = 3.05
DEFAULT_HTTP_READ_TIMEOUT_S = 5.0
DEFAULT_ACTOR_TIME_LIMIT_MS = 300_000
DEFAULT_METRICS_HOST = "127.0.0.1"
DEFAULT_SERVICE_USERNAME = "credentials_service_user"
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8000
DEFAULT_WEB_REFRESH_S = 10
# Upper bounds, where a larger value would break something rather than merely be unwise:
#: The claim compares it as a Postgres integer; more rows in flight than this is a backlog, not a setting.
MAX_MAX_IN_FLIGHT = 1_000_000
#: Pruning subtracts it from now() as an interval: a century keeps the arithmetic in range.
MAX_RETENTION_DAYS = 36_500
#: One attempt of one row; the default is 5 minutes.
MAX_ACTOR_TIME_LIMIT_MS = 86_400_000
#: RabbitMQ refuses queue names over 255 bytes, and Dramatiq appends ".DQ" and ".XQ".
MAX_QUEUE_NAME_LENGTH = 200
#: Django's auth_user.username.
MAX_USERNAME_LENGTH = 150
LogFormat = Literal["text", "json"]
DEFAULT_LOG_FORMAT: LogFormat = "text"
