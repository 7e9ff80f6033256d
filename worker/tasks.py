"""The task registry: each upstream task bound to its sync function and its dependencies.

This is where a new kind of sync job is declared: a payload model and a function in
``worker.sync``, plus one ``TaskSpec`` below (`credsync migrate` registers it in the database).
Learner tasks are ordered per learner, course tasks per course run: a learner's grade rows share
the learner's ordering key with their certificate rows, so a grade and an award run in insert order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pydantic

from worker import outcomes
from worker.clients import credentials
from worker.outbox import handlers
from worker.sync import certificates, course_dates, grades, host, payloads, programs


@dataclasses.dataclass(frozen=True)
class Deps:
    """What the sync functions need, built once per worker process by ``worker.composition``."""

    host: host.HostReader
    credentials: credentials.CredentialsClient
    rules: certificates.Rules
    #: The platform's ``FEATURES['ENABLE_LEARNER_RECORDS']`` (a site configuration of an org
    #: overrides it for that org's runs): grades are sent only where learner records are on.
    learner_records_enabled: bool = True


def _award_program_certificates(deps: Deps, payload: payloads.AwardProgramCertificates) -> outcomes.Outcome:
    return programs.award_program_certificates(deps.host, deps.credentials, payload, deps.rules)


def _award_course_certificate(deps: Deps, payload: payloads.AwardCourseCertificate) -> outcomes.Outcome:
    return certificates.award_course_certificate(deps.host, deps.credentials, payload, deps.rules)


def _revoke_program_certificates(deps: Deps, payload: payloads.RevokeProgramCertificates) -> outcomes.Outcome:
    return programs.revoke_program_certificates(deps.host, deps.credentials, payload, deps.rules)


def _update_available_date(deps: Deps, payload: payloads.UpdateCertificateAvailableDate) -> outcomes.Outcome:
    return course_dates.update_certificate_available_date_on_course_update(deps.host, payload)


def _update_configuration_date(
    deps: Deps, payload: payloads.UpdateCertificateConfigurationDate
) -> outcomes.Outcome:
    return course_dates.update_credentials_course_certificate_configuration_available_date(
        deps.host, deps.credentials, payload, deps.rules
    )


def _send_grade(deps: Deps, payload: payloads.SendGradeToCredentials) -> outcomes.Outcome:
    return grades.send_grade_to_credentials(
        deps.host, deps.credentials, payload, deps.rules, learner_records_enabled=deps.learner_records_enabled
    )


Run = Callable[[Deps, Any], outcomes.Outcome]


def _learner_task(
    name: str, model: type[pydantic.BaseModel], run: Run, *required: str
) -> handlers.TaskSpec[Deps]:
    return handlers.TaskSpec(name, model, run, ("username", *required), "learner", ("username",))


def _course_task(name: str, model: type[pydantic.BaseModel], run: Run) -> handlers.TaskSpec[Deps]:
    return handlers.TaskSpec(name, model, run, ("course_key",), "course", ("course_key",))


REGISTRY: handlers.Registry[Deps] = handlers.Registry(
    [
        _learner_task(
            "award_program_certificates", payloads.AwardProgramCertificates, _award_program_certificates
        ),
        _learner_task(
            "award_course_certificate",
            payloads.AwardCourseCertificate,
            _award_course_certificate,
            "course_run_key",
        ),
        _learner_task(
            "revoke_program_certificates",
            payloads.RevokeProgramCertificates,
            _revoke_program_certificates,
            "course_key",
        ),
        _learner_task(
            "send_grade_to_credentials",
            payloads.SendGradeToCredentials,
            _send_grade,
            "course_run_key",
        ),
        _course_task(
            "update_certificate_available_date_on_course_update",
            payloads.UpdateCertificateAvailableDate,
            _update_available_date,
        ),
        _course_task(
            course_dates.SUBTASK,
            payloads.UpdateCertificateConfigurationDate,
            _update_configuration_date,
        ),
    ]
)
