"""Frozen, validated settings read once from the environment.

Every variable credsync reads is a field of a model here, its default a named constant written
once (``defaults``; checks the models share in ``checks``). The models, in layers:
``LogSettings`` is how a process logs (all ``credsync`` reads before its command runs, so a command
that needs no database needs no ``DATABASE_URL``); ``CoreSettings`` adds what every process needs
(database, broker, outbox tuning: ``core``); ``Settings`` adds the Credentials service and its
OAuth2 client or signing key, needed where sync handlers run (``service``); ``WebSettings`` is the
web console's (``web``). ``load_logging()`` / ``load_core()`` / ``load()`` / ``load_web()`` turn any
problem into ``ConfigurationError`` naming the variable, which the entry points print before
exiting with status 2.

Metrics are off unless ``CREDSYNC_METRICS_PORT`` is set; then nothing else binds a port, and
``CREDSYNC_METRICS_HOST`` (default ``127.0.0.1``, loopback only) is the address:

* a ``worker`` (all its Dramatiq processes together) serves ``/metrics`` on the port itself:
  an exposition process Dramatiq forks once per run, with the message and worker metrics;
* the ``scanner`` serves on the port + 1: the outbox gauges (read at scrape time) and its counters;
* the ``scheduler`` serves nothing. See ``worker.metrics`` for the metric names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
import pydantic_settings

from worker import errors
from worker.settings import defaults
from worker.settings.core import CoreSettings, LogSettings
from worker.settings.service import Settings
from worker.settings.web import WebSettings

__all__ = [
    "CoreSettings",
    "LogSettings",
    "Settings",
    "WebSettings",
    "defaults",
    "load",
    "load_core",
    "load_logging",
    "load_web",
]

Model = TypeVar("Model", bound=pydantic_settings.BaseSettings)


def _load(model: type[Model], overrides: Mapping[str, Any] | None = None) -> Model:
    try:
        return model(**dict(overrides or {}))
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "configuration"
            problems.append(f"{where}: {error['msg']}")
        raise errors.ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
    except (ValueError, TypeError) as exc:
        raise errors.ConfigurationError(f"invalid configuration: {exc}") from None


def load_logging(overrides: Mapping[str, Any] | None = None) -> LogSettings:
    """Read only ``LogSettings`` (``overrides`` by variable name, for tests): no other variable is needed."""
    return _load(LogSettings, overrides)


def load_core(overrides: Mapping[str, Any] | None = None) -> CoreSettings:
    """Read ``CoreSettings`` from the environment (``overrides`` by variable name, for tests)."""
    return _load(CoreSettings, overrides)


def load_web(overrides: Mapping[str, Any] | None = None) -> WebSettings:
    """Read the web console's ``WebSettings`` from the environment (``overrides`` by variable name)."""
    return _load(WebSettings, overrides)


def load(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the full ``Settings`` from the environment (``overrides`` by variable name, for tests)."""
    return _load(Settings, overrides)
