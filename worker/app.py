"""The Dramatiq and periodiq import target: ``dramatiq worker.app``, ``periodiq worker.app``.

Importing it reads the settings once (an invalid value stops the process with a message naming the
variable), builds the app (``worker.composition.build``) and makes its broker, with the task
actors and the per-minute maintenance actor, Dramatiq's global broker, where both commands find it.
"""

from __future__ import annotations

import sys

import dramatiq

from worker import composition, errors, logs, settings


def _load_settings() -> settings.Settings:
    try:
        return settings.load()
    except errors.ConfigurationError as exc:
        print(f"credsync: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


SETTINGS = _load_settings()
logs.apply(SETTINGS.log_format)  # on the handlers Dramatiq / periodiq set up before importing us
APP = composition.build(SETTINGS)
broker = APP.broker
dramatiq.set_broker(broker)
