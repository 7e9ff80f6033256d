"""The task registry: each upstream task bound to its sync function and its dependencies.

This is where a new kind of sync job is declared: a payload model and a function in
``worker.sync``, plus one ``TaskSpec`` below (`credsync migrate` registers it in the database).
"""

from __future__ import annotations

import dataclasses

from worker.outbox import handlers
from worker.sync import certificates, host


@dataclasses.dataclass(frozen=True)
class Deps:
    """What the sync functions need, built once per worker process by ``worker.app``."""

    host: host.HostReader
    credentials: certificates.CredentialsPoster
    rules: certificates.Rules


LEARNER = ("learner", ("username",))


def _award_course_certificate(deps: Deps, payload: certificates.AwardCourseCertificate):  # type: ignore[no-untyped-def]
    return certificates.award_course_certificate(deps.host, deps.credentials, payload, deps.rules)


REGISTRY: handlers.Registry[Deps] = handlers.Registry(
    [
        handlers.TaskSpec(
            name="award_course_certificate",
            payload_model=certificates.AwardCourseCertificate,
            run=_award_course_certificate,
            required_keys=("username", "course_run_key"),
            ordering_scope=LEARNER[0],
            ordering_keys=LEARNER[1],
        ),
    ]
)
