"""Validates credential request bodies as UserCredential(Creation)Serializer does (api/v2/serializers.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from worker.emulator import fields, models

STATUSES = ("awarded", "revoked")
MAX_CHARS = 255

Target = models.ProgramCertificate | models.CourseCertificate


@dataclasses.dataclass(frozen=True)
class Creation:
    """A valid ``POST /api/v2/credentials/`` body."""

    username: str
    target: Target
    status: str | None  # None: the issuer's default, awarded
    attributes: dict[str, str]
    date_override: dt.datetime | None  # None: any override is deleted


def not_a_dict(data: Any) -> models.ValidationFailed:
    """DRF's answer to a body (or nested object) that is not a JSON object."""
    return models.ValidationFailed(
        {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(data).__name__}."]}
    )


def validate_creation(data: Any, credential_field: Callable[[dict[str, Any]], Target]) -> Creation:
    """The creation serializer's ``is_valid``: every field in order, errors collected.

    ``credential_field`` resolves the ``credential`` object (CredentialField.to_internal_value)
    and raises ValidationFailed with that field's error; it runs, with its side effects, even
    when other fields are invalid, as the real field does. A ``credential`` that is not an object
    crashes the real field (``data.get`` on a string): ServerError.
    """
    if data is None:
        raise models.ValidationFailed({"non_field_errors": ["No data provided"]})
    if not isinstance(data, dict):
        raise not_a_dict(data)
    errors: dict[str, Any] = {}
    username = _required_char(data, "username", MAX_CHARS, errors)
    target: Target | None = None
    if data.get("credential") is None:
        errors["credential"] = [fields.missing_or_null(data, "credential")]
    elif not isinstance(data["credential"], dict):
        kind = type(data["credential"]).__name__
        raise models.ServerError(f"AttributeError: '{kind}' object has no attribute 'get'")
    else:
        try:
            target = credential_field(data["credential"])
        except models.ValidationFailed as invalid:
            errors["credential"] = invalid.errors
    status = _status(data, errors)
    attributes = _attributes(data, errors)
    date_override = _date_override(data, errors)
    if "lms_user_id" in data:
        _required_char(data, "lms_user_id", None, errors)
    if errors:
        raise models.ValidationFailed(errors)
    assert target is not None
    return Creation(username, target, status, attributes, date_override)


def validate_update(data: Any) -> str | None:
    """PUT/PATCH of one credential (UserCredentialSerializer): the new status, if given.

    Only ``status`` and ``date_override`` are writable; a valid ``date_override`` object makes
    DRF's ModelSerializer.update refuse the nested write with an AssertionError (a 500), and a
    null one changes nothing.
    """
    if data is None:
        raise models.ValidationFailed({"non_field_errors": ["No data provided"]})
    if not isinstance(data, dict):
        raise not_a_dict(data)
    errors: dict[str, Any] = {}
    status = _status(data, errors)
    override = _date_override(data, errors)
    if errors:
        raise models.ValidationFailed(errors)
    if override is not None:
        raise models.ServerError("AssertionError: .update() does not support writable nested fields")
    return status


def _required_char(data: dict[str, Any], name: str, max_length: int | None, errors: dict[str, Any]) -> str:
    if data.get(name) is None:
        errors[name] = [fields.missing_or_null(data, name)]
        return ""
    text, problems = fields.char_field(data[name], max_length=max_length)
    if problems:
        errors[name] = problems
    return text


def _status(data: dict[str, Any], errors: dict[str, Any]) -> str | None:
    if "status" not in data:
        return None
    if data["status"] is None:
        errors["status"] = [fields.NULL]
        return None
    status, problem = fields.choice_field(data["status"], STATUSES)
    if problem is not None:
        errors["status"] = [problem]
    return status


def _attributes(data: dict[str, Any], errors: dict[str, Any]) -> dict[str, str]:
    raw = data.get("attributes", [])
    if raw is None:
        errors["attributes"] = [fields.NULL]
        return {}
    if not isinstance(raw, list):
        message = f'Expected a list of items but got type "{type(raw).__name__}".'
        errors["attributes"] = {"non_field_errors": [message]}
        return {}
    item_errors: list[Any] = []
    pairs: list[tuple[str, str]] = []
    for item in raw:
        if item is None:
            item_errors.append([fields.NULL])
            continue
        if not isinstance(item, dict):
            item_errors.append(not_a_dict(item).errors)
            continue
        problems: dict[str, Any] = {}
        name = _required_char(item, "name", MAX_CHARS, problems)
        value = _required_char(item, "value", MAX_CHARS, problems)
        item_errors.append(problems)
        pairs.append((name, value))
    if any(item_errors):
        errors["attributes"] = item_errors
        return {}
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        errors["attributes"] = ["Attribute names cannot be duplicated."]
        return {}
    return dict(pairs)


def _date_override(data: dict[str, Any], errors: dict[str, Any]) -> dt.datetime | None:
    raw = data.get("date_override")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors["date_override"] = not_a_dict(raw).errors
        return None
    if raw.get("date") is None:
        errors["date_override"] = {"date": [fields.missing_or_null(raw, "date")]}
        return None
    parsed = fields.parse_datetime(raw["date"])
    if parsed is None:
        errors["date_override"] = {"date": [fields.DATETIME_FORMAT_ERROR]}
    return parsed
