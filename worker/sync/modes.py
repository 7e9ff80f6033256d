"""Course modes and certificate statuses of the LMS (SPEC §3.7) that decide what is synced."""

from __future__ import annotations

CREDIT_ELIGIBLE_MODES = frozenset(
    {
        "verified",
        "professional",
        "no-id-professional",
        "executive-education",
        "paid-executive-education",
        "paid-bootcamp",
    }
)
CERTIFICATE_RELEVANT_MODES = CREDIT_ELIGIBLE_MODES | {"credit", "masters"}
PASSING_STATUSES = frozenset({"downloadable", "generating"})
AUDIT_STATUSES = frozenset({"audit_passing", "audit_notpassing"})


def is_eligible_for_certificate(mode: str, *, disable_honor_certificates: bool = False) -> bool:
    """``CourseMode.is_eligible_for_certificate(mode)`` without a status (as the tasks call it)."""
    if mode == "audit":
        return False
    return not (disable_honor_certificates and mode == "honor")


def is_certificate_mode(mode: str, *, disable_honor_certificates: bool = False) -> bool:
    """The tasks' gate: relevant, or eligible for a certificate (in practice: not audit)."""
    return mode in CERTIFICATE_RELEVANT_MODES or is_eligible_for_certificate(
        mode, disable_honor_certificates=disable_honor_certificates
    )
