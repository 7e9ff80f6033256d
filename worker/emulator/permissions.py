"""Who may call what: the Admins group's model permissions and the API's permission classes."""

from __future__ import annotations

from collections.abc import Iterable

from worker.emulator import accounts, models

VIEW = "credentials.view_usercredential"
ADD = "credentials.add_usercredential"
CHANGE = "credentials.change_usercredential"
DELETE = "credentials.delete_usercredential"
# credentials/apps/core/migrations/0002 and 0016 give Admins these; 0003 would add VIEW but skips
# a permission that already exists, which Django's own post-migrate step has created (SPEC §5.2).
ADMINS_PERMISSIONS = frozenset({ADD, CHANGE, "records.add_usergrade", "records.change_usergrade"})
# UserCredentialPermissions.perms_map (credentials/apps/api/v2/permissions.py).
CREDENTIAL_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "GET": (VIEW,),
    "OPTIONS": (),
    "HEAD": (),
    "POST": (ADD,),
    "PUT": (CHANGE,),
    "PATCH": (CHANGE,),
    "DELETE": (DELETE,),
}


def has_perms(account: models.Account, perms: Iterable[str], *, admins_can_view: bool) -> bool:
    """Django's ``user.has_perms``: a superuser has all; others what their groups grant."""
    if account.is_superuser:
        return True
    granted: set[str] = set()
    if accounts.ADMINS in account.groups:
        granted |= ADMINS_PERMISSIONS | ({VIEW} if admins_can_view else set())
    return set(perms) <= granted


def credentials_allowed(
    principal: accounts.Principal | None,
    method: str,
    action: str | None,
    username_param: str,
    *,
    admins_can_view: bool,
) -> bool:
    """UserCredentialPermissions.has_permission (credentials/apps/api/v2/permissions.py).

    The model permission for the method, except that listing with a ``username`` parameter equal
    (case-insensitively) to the caller's is allowed too. Without the parameter a learner needs
    ``view_usercredential`` like anyone else; retrieving one credential always needs it.
    """
    if principal is None:
        return False
    default = has_perms(principal.account, CREDENTIAL_PERMISSIONS[method], admins_can_view=admins_can_view)
    filtered_username = username_param.lower()
    if method == "GET" and action == "list" and filtered_username:
        return default or principal.account.username.lower() == filtered_username
    return default


def admin_user_allowed(principal: accounts.Principal | None) -> bool:
    """DRF IsAdminUser, which the course certificates viewset uses: staff only."""
    return principal is not None and principal.is_staff
