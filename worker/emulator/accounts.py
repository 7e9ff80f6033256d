"""Credentials' user accounts, created and updated by each JWT authentication (SPEC §5.2)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from worker.emulator import models

ADMINS = "Admins"
# credentials/settings/base.py EDX_DRF_EXTENSIONS["JWT_PAYLOAD_USER_ATTRIBUTE_MAPPING"].
CLAIM_TO_ATTRIBUTE = {
    "administrator": "is_staff",
    "email": "email",
    "full_name": "full_name",
    "user_id": "lms_user_id",
}
# Django BooleanField.to_python: what saving ``is_staff`` accepts.
_DJANGO_TRUE: tuple[Any, ...] = (True, "t", "True", "1")
_DJANGO_FALSE: tuple[Any, ...] = (False, "f", "False", "0")


class AuthenticationFailed(Exception):
    """The token was valid but names no usable account: a 401 with ``detail``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who a request authenticated as.

    ``is_staff`` is the flag as that request sees it: edx-drf-extensions assigns the raw
    ``administrator`` claim to the user object before saving, so a claim of ``"f"`` is saved as
    False but counts as staff (a truthy string) for the request that carried it.
    """

    account: models.Account
    is_staff: bool


class Accounts:
    """Every account, by exact username (SQLite compares case-sensitively, as measured in §5.7).

    Not thread-safe: the emulator calls it under its lock.
    """

    def __init__(self) -> None:
        self._by_username: dict[str, models.Account] = {}
        self._ids = itertools.count(1)

    def get(self, username: str) -> models.Account | None:
        """The account named ``username``, if it ever authenticated."""
        return self._by_username.get(username)

    def all(self) -> list[models.Account]:
        """Every account, in creation order."""
        return list(self._by_username.values())

    def configure(
        self, username: str, *, perms: set[str] | None, is_superuser: bool | None
    ) -> models.Account:
        """What an operator does in Django's admin: create the user if needed, then set the
        permissions granted to it directly and its superuser flag (None keeps either).

        Authentication never changes either, so they outlast every token.
        """
        account = self._by_username.get(username)
        if account is None:
            account = models.Account(id=next(self._ids), username=username)
            self._by_username[username] = account
        if perms is not None:
            account.permissions = set(perms)
        if is_superuser is not None:
            account.is_superuser = is_superuser
        return account

    def authenticate(self, claims: dict[str, Any]) -> Principal:
        """Get or create the claims' user and copy the mapped claims onto it; AuthenticationFailed.

        Follows edx-drf-extensions ``JwtAuthentication.authenticate_credentials`` (a claim that is
        present and differs is assigned; a value the model cannot save fails the authentication,
        after the account was created) and Credentials' override in
        credentials/apps/api/authentication.py (a truthy ``administrator`` adds the user to Admins,
        anything else removes it).
        """
        username = claims.get("preferred_username") or claims.get("username")
        if not username:
            raise AuthenticationFailed("JWT must include a preferred_username or username claim!")
        username = str(username)
        account = self._by_username.get(username)
        if account is None:
            account = models.Account(id=next(self._ids), username=username)
            self._by_username[username] = account
        raw = {
            attribute: claims[claim]
            for claim, attribute in CLAIM_TO_ATTRIBUTE.items()
            if claims.get(claim) is not None and getattr(account, attribute) != claims[claim]
        }
        saved = _saved_values(raw)
        if saved is None:
            raise AuthenticationFailed(f"[edx-drf-extensions] User retrieval failed for username {username}.")
        for attribute, value in saved.items():
            setattr(account, attribute, value)
        if claims.get("administrator"):
            account.groups.add(ADMINS)
        else:
            account.groups.discard(ADMINS)
        is_staff = bool(raw["is_staff"]) if "is_staff" in raw else account.is_staff
        return Principal(account, is_staff)


def _saved_values(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The values as the user table stores them, or None when saving would raise."""
    saved: dict[str, Any] = {}
    for attribute, value in raw.items():
        if attribute == "is_staff":
            if value in _DJANGO_TRUE:
                saved[attribute] = True
            elif value in _DJANGO_FALSE:
                saved[attribute] = False
            else:
                return None
        elif attribute == "lms_user_id":
            try:
                saved[attribute] = int(value)
            except (TypeError, ValueError):
                return None
        else:
            saved[attribute] = str(value)
    return saved


def serialize(account: models.Account) -> dict[str, Any]:
    """An account as the admin API renders it."""
    return {
        "username": account.username,
        "email": account.email,
        "is_staff": account.is_staff,
        "is_superuser": account.is_superuser,
        "groups": sorted(account.groups),
    }
