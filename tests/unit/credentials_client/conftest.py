"""Fixtures of the Credentials client's unit tests: a client with a fake clock, and a ``responses`` mock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from tests.unit.credentials_client import support
from worker.clients import credentials


@pytest.fixture
def clock() -> support.FakeClock:
    return support.FakeClock()


@pytest.fixture
def client(clock: support.FakeClock) -> Iterator[credentials.CredentialsClient]:
    client = credentials.CredentialsClient(
        credentials_url=support.CREDENTIALS_ROOT,
        oauth_url=support.LMS_ROOT,
        client_id=support.CLIENT_ID,
        client_secret=support.SECRET,
        org_urls={"MITx": support.MITX_ROOT},
        timeout=(1.5, 2.5),
        clock=clock,
        user_agent="credsync-test/1",
    )
    yield client
    client.close()


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
