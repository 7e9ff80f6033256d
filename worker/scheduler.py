"""The ``scheduler`` process: periodiq's scheduler, riding out broker outages at its ticks.

``periodiq``'s own entry point exits when sending a tick's messages fails (e.g. Redis down at the
minute): under a Procfile runner that stops every other process too. Here a failed send is logged
and the next tick tries again; the maintenance it would have run is a safety net, and the scanner
does the urgent part (lease rescue) on its own every few seconds.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterable
from typing import Any

import dramatiq
import periodiq

log = logging.getLogger(__name__)

#: periodiq ticks on minute boundaries; starting in a minute's last seconds waits for the next one.
LATE_IN_MINUTE_S = 55


class ResilientScheduler(periodiq.Scheduler):  # type: ignore[misc]
    def send_actors(self, actors: Iterable[Any], now: Any) -> None:
        for actor in actors:
            try:
                log.info("scheduling %s at %s", actor.actor_name, now)
                actor.send_with_options(scheduled_at=str(now))
            except Exception:
                log.exception("could not enqueue %s at %s; the next tick tries again", actor.actor_name, now)


def periodic_actors(broker: dramatiq.Broker) -> list[Any]:
    return [actor for actor in broker.actors.values() if "periodic" in actor.options]


def run(broker: dramatiq.Broker) -> int:
    """Schedule the broker's periodic actors until the process is signalled to stop."""
    actors = periodic_actors(broker)
    if not actors:
        log.error("no periodic actor to schedule")
        return 1
    log.info("scheduler started: %s", ", ".join(f"{a.actor_name} ({a.options['periodic']})" for a in actors))
    scheduler = ResilientScheduler(actors=actors)
    second = datetime.datetime.now().second
    if second > LATE_IN_MINUTE_S:
        time.sleep(60 - second)
    scheduler.schedule()
    scheduler.loop()
    return 0
