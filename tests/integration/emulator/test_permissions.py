"""Who may call what on the emulator: UserCredentialPermissions, IsAdminUser and the Admins group."""

from __future__ import annotations

import pytest

from tests.integration.emulator import support
from worker.emulator import server

CREDENTIALS = support.CREDENTIALS
COURSE_CERTIFICATES = support.COURSE_CERTIFICATES
DENIED = {"detail": "You do not have permission to perform this action."}


def test_a_staff_service_token_reading_another_users_credentials_gets_403(client: support.Client) -> None:
    # Given a learner holding a credential
    client.award("ada")
    # When the service user (staff, in Admins) lists that learner's credentials
    response = client.get(CREDENTIALS, username="ada")
    # Then it is refused: Admins hold add/change but not view_usercredential
    assert (response.status_code, response.json()) == (403, DENIED)


def test_a_learner_lists_their_own_credentials_the_username_compared_case_insensitively(
    client: support.Client,
) -> None:
    # Given a learner holding a credential
    client.award("ada")
    # When the learner lists with their username, and with it in other letters
    client.as_user("ada")
    exact = client.get(CREDENTIALS, username="ada")
    other_case = client.get(CREDENTIALS, username="ADA")
    # Then both are allowed; the filter itself is exact, so only the first finds the credential
    assert (exact.status_code, exact.json()["count"]) == (200, 1)
    assert (other_case.status_code, other_case.json()["count"]) == (200, 0)


@pytest.mark.parametrize(
    "params", [{}, {"username": ""}, {"username": "bob"}], ids=["none", "empty", "other"]
)
def test_a_learner_listing_without_their_own_username_gets_403(
    client: support.Client, params: dict[str, str]
) -> None:
    # Given a learner's token
    client.as_user("ada")
    # When the learner lists without a username, with an empty one, or with someone else's
    response = client.get(CREDENTIALS, **params)
    # Then it needs view_usercredential, which a learner lacks
    assert (response.status_code, response.json()) == (403, DENIED)


def test_admins_can_view_lets_the_service_token_list_any_learner(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a learner's credential and the operator's fix: Admins may view credentials
    client.award("ada")
    switches = emulator.set_switches(admins_can_view=True)
    # When the service user lists the learner's credentials, and everyone's
    one = client.get(CREDENTIALS, username="ada")
    everyone = client.get(CREDENTIALS)
    # Then both are allowed
    assert switches == {"admins_can_view": True, "learner_records": True}
    assert (one.status_code, one.json()["count"]) == (200, 1)
    assert everyone.status_code == 200


def test_a_learner_token_cannot_award_a_credential(emulator: server.Emulator, client: support.Client) -> None:
    # Given a learner's token
    client.as_user("ada")
    # When the learner posts a credential for themselves
    response = client.award("ada")
    # Then it needs add_usercredential; nothing is stored
    assert (response.status_code, response.json()) == (403, DENIED)
    assert emulator.credentials() == []


def test_delete_on_the_credentials_collection_gets_403_and_put_gets_405(client: support.Client) -> None:
    # Given the service user's token
    # When it sends DELETE and PUT to the collection
    deleted = client.request("DELETE", CREDENTIALS)
    put = client.request("PUT", CREDENTIALS, {})
    # Then DELETE fails the delete permission (Admins lack it) and PUT, permitted, has no handler
    assert (deleted.status_code, deleted.json()) == (403, DENIED)
    assert (put.status_code, put.json()) == (405, {"detail": 'Method "PUT" not allowed.'})


def test_course_certificates_need_a_staff_token(client: support.Client) -> None:
    # Given a learner token and no token at all
    client.as_user("ada")
    as_learner = client.configure_certificate()
    client.token = ""
    anonymous = client.configure_certificate()
    # When either posts a course certificate configuration
    # Then IsAdminUser refuses the learner (403) and asks the anonymous caller to authenticate (401)
    assert (as_learner.status_code, as_learner.json()) == (403, DENIED)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'JWT realm="api"'


def test_a_non_administrator_staff_claim_still_reaches_course_certificates(client: support.Client) -> None:
    # Given a staff token for a user who is not an administrator in the usual way
    client.as_user("ops", staff=True)
    # When it posts a course certificate configuration
    response = client.configure_certificate()
    # Then IsAdminUser only asks for is_staff
    assert response.status_code == 201


def test_retrieving_one_credential_needs_view_usercredential_even_for_its_owner(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a learner's credential
    uuid = client.award("ada").json()["uuid"]
    path = f"{CREDENTIALS}{uuid}/"
    # When the service user, the learner, then the service user with the Admins fix retrieve it
    as_service = client.get(path).status_code
    as_learner = client.as_user("ada").get(path).status_code
    emulator.set_switches(admins_can_view=True)
    fixed = client.as_service().get(path)
    # Then only view_usercredential opens it (the username rule is for listing only)
    assert (as_service, as_learner) == (403, 403)
    assert (fixed.status_code, fixed.json()["uuid"]) == (200, uuid)


def test_the_service_user_can_patch_a_credentials_status(client: support.Client) -> None:
    # Given a learner's credential
    uuid = client.award("ada").json()["uuid"]
    # When the service user (change_usercredential) patches its status
    response = client.request("PATCH", f"{CREDENTIALS}{uuid}/", {"status": "revoked"})
    # Then it is revoked
    assert (response.status_code, response.json()["status"]) == (200, "revoked")


def test_deleting_one_credential_needs_delete_usercredential(client: support.Client) -> None:
    # Given a learner's credential
    uuid = client.award("ada").json()["uuid"]
    # When the service user deletes it
    response = client.request("DELETE", f"{CREDENTIALS}{uuid}/")
    # Then Admins lack the permission
    assert (response.status_code, response.json()) == (403, DENIED)
