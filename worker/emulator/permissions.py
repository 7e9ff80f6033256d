"""Who may call what: the Admins group's model permissions and the API's permission classes."""

from __future__ import annotations

from collections.abc import Iterable

from worker.emulator import accounts, models

VIEW = "credentials.view_usercredential"
ADD = "credentials.add_usercredential"
CHANGE = "credentials.change_usercredential"
DELETE = "credentials.delete_usercredential"
ADD_GRADE = "records.add_usergrade"
CHANGE_GRADE = "records.change_usergrade"
# credentials/apps/core/migrations/0002 and 0016 give Admins these; 0003 would add VIEW but skips
# a permission that already exists, which Django's own post-migrate step has created (SPEC §5.2).
ADMINS_PERMISSIONS = frozenset({ADD, CHANGE, ADD_GRADE, CHANGE_GRADE})
# The model permissions an operator can grant a user (Django's four per model).
KNOWN = frozenset(
    f"{model}.{verb}_{name}"
    for model, name in (("credentials", "usercredential"), ("records", "usergrade"))
    for verb in ("add", "change", "delete", "view")
)
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
# The same map on GradeViewSet's model, records.UserGrade.
GRADE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "GET": ("records.view_usergrade",),
    "OPTIONS": (),
    "HEAD": (),
    "POST": (ADD_GRADE,),
    "PUT": (CHANGE_GRADE,),
    "PATCH": (CHANGE_GRADE,),
    "DELETE": ("records.delete_usergrade",),
}


def has_perms(account: models.Account, perms: Iterable[str], *, admins_can_view: bool) -> bool:
    """Django's ``user.has_perms``: a superuser has all; others their own and their groups'."""
    if account.is_superuser:
        return True
    granted = set(account.permissions)
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


def grades_allowed(principal: accounts.Principal | None, method: str, *, admins_can_view: bool) -> bool:
    """UserCredentialPermissions on GradeViewSet: the model permission for the method, nothing else.

    The viewset has no ``list`` action, so the username exception never applies; GET and DELETE
    need ``view_usergrade`` and ``delete_usergrade``, which no default group holds (403 before 405).
    """
    if principal is None:
        return False
    return has_perms(principal.account, GRADE_PERMISSIONS[method], admins_can_view=admins_can_view)


def admin_user_allowed(principal: accounts.Principal | None) -> bool:
    """DRF IsAdminUser, which the course certificates viewset uses: staff only."""
    return principal is not None and principal.is_staff
