"""Everything one emulated Credentials install holds: catalog, accounts, configurations, credentials."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from worker.emulator import (
    accounts,
    catalog,
    certificates,
    grades,
    models,
    permissions,
    throttle,
    user_credentials,
)


@dataclasses.dataclass
class Switches:
    """How this install is configured where a default install can differ (SPEC §5.7).

    - ``admins_can_view``: the Admins group also holds ``view_usercredential`` (the fix an
      operator applies; a default install lacks it, so staff tokens cannot list other users).
    - ``learner_records``: the site's ``records_enabled`` (default on), whose email code crashes
      a first program award for a username without an account.
    """

    admins_can_view: bool = False
    learner_records: bool = True

    def to_json(self) -> dict[str, bool]:
        """The switches as the admin API renders them."""
        return dataclasses.asdict(self)


class Store:
    """One install's data and its rules, reached through the attributes below.

    Not thread-safe: the emulator calls it under its lock. ``now`` is the emulator's clock.
    """

    def __init__(
        self, rng: random.Random, now: Callable[[], dt.datetime], *, throttle_rate_per_min: int
    ) -> None:
        self.switches = Switches()
        self.catalog = catalog.Catalog()
        self.accounts = accounts.Accounts()
        self.programs: dict[uuid.UUID, models.ProgramCertificate] = {}
        self.certificates = certificates.CourseCertificates(self.catalog)
        self.credentials = user_credentials.UserCredentials(
            programs=self.programs,
            runs=self.catalog,
            course_certificates=self.certificates,
            users=self.accounts,
            rng=rng,
            now=now,
        )
        self.grades = grades.UserGrades(self.catalog, now)
        self.throttle = throttle.RateThrottle(throttle_rate_per_min)
        # ScopedRateThrottle keys its history by scope too: grade_view has a window of its own.
        self.grade_throttle = throttle.RateThrottle(grades.RATE_PER_MIN)
        self._program_ids = itertools.count(1)

    def configure_program(
        self, program_uuid: str, *, active: bool, course_runs: Iterable[str]
    ) -> models.ProgramCertificate:
        """Create or update a ProgramCertificate and its catalog Program (whose runs join the catalog).

        ValueError on a malformed uuid or run list.
        """
        try:
            parsed = uuid.UUID(program_uuid)
        except (ValueError, AttributeError, TypeError):
            raise ValueError(f"not a program uuid: {program_uuid!r}") from None
        self.catalog.set_program(parsed, course_runs)
        program = self.programs.get(parsed)
        if program is None:
            program = models.ProgramCertificate(next(self._program_ids), parsed, bool(active))
            self.programs[parsed] = program
        program.active = bool(active)
        return program

    def configure_account(
        self, username: str, *, perms: Iterable[str] | None, is_superuser: bool | None
    ) -> dict[str, Any]:
        """Create or change an account as an operator would in Django's admin (see
        ``Accounts.configure``); returns its username, superuser flag and own permissions.

        ValueError on an empty username or a permission Credentials does not define.
        """
        if not isinstance(username, str) or not username:
            raise ValueError("an account needs a non-empty username")
        granted = None if perms is None else set(perms)
        unknown = sorted(granted - permissions.KNOWN) if granted is not None else []
        if unknown:
            raise ValueError(f"unknown permissions {unknown}; known: {sorted(permissions.KNOWN)}")
        superuser = None if is_superuser is None else bool(is_superuser)
        account = self.accounts.configure(username, perms=granted, is_superuser=superuser)
        return {
            "username": account.username,
            "is_superuser": account.is_superuser,
            "permissions": sorted(account.permissions),
        }

    def serialize_program(self, program: models.ProgramCertificate) -> dict[str, Any]:
        """A ProgramCertificate and its catalog runs, as the admin API renders them."""
        return {
            "id": program.id,
            "uuid": str(program.uuid),
            "active": program.active,
            "course_runs": sorted(self.catalog.program_runs(program.uuid)),
        }
