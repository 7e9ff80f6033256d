"""The Dramatiq version guard: a Redis broker is built only on the Dramatiq releases it was tested with."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import dramatiq
import pytest

from worker import broker as brokers
from worker import errors, settings

ROOT = Path(__file__).resolve().parents[2]


def _config(broker_url: str) -> settings.CoreSettings:
    return settings.load_core(
        {"DATABASE_URL": "postgresql://unused/x", "BROKER_URL": broker_url, "CREDSYNC_METRICS_PORT": ""}
    )


@pytest.mark.parametrize("version", ["2.0.0", "2.1.0", "2.2.0", "2.2.1", "2.2.9", "2.2.2.dev0"])
def test_a_tested_major_minor_passes_whatever_its_patch(version: str) -> None:
    brokers.check_dramatiq_version(version)


@pytest.mark.parametrize("version", ["1.18.0", "2.3.0", "2.3.0rc1", "3.0.0", "10.0", "unknown"])
def test_an_untested_version_is_refused_naming_the_tested_range_and_the_test_to_rerun(version: str) -> None:
    with pytest.raises(errors.UntestedDependencyError) as raised:
        brokers.check_dramatiq_version(version)
    message = str(raised.value)
    assert f"dramatiq {version} is installed" in message
    assert "tested with dramatiq 2.0 to 2.2 only" in message
    assert "dramatiq>=2.0,<2.3" in message
    assert "tests/integration/test_broker_redis.py" in message


def test_the_installed_dramatiq_is_a_tested_one() -> None:
    brokers.check_dramatiq_version()


def test_given_an_untested_dramatiq_installed_building_a_redis_broker_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given
    monkeypatch.setattr(dramatiq, "__version__", "2.3.0")
    # When / Then: before any connection (nothing listens on port 1)
    with pytest.raises(errors.UntestedDependencyError, match=r"dramatiq 2\.3\.0 is installed"):
        brokers.build(_config("redis://127.0.0.1:1/0"))


def test_given_an_untested_dramatiq_installed_a_rabbitmq_broker_is_still_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: the RabbitMQ broker uses no Dramatiq internals, so the guard does not apply
    monkeypatch.setattr(dramatiq, "__version__", "2.3.0")
    # When
    built = brokers.build(_config("amqp://guest:guest@127.0.0.1:1/"))
    # Then
    assert not isinstance(built, brokers.IdlePollRedisBroker)


def test_the_dramatiq_pin_in_pyproject_is_the_tested_range() -> None:
    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [r for r in requirements if re.match(r"dramatiq\b", r)]
    (first_major, first_minor), (last_major, last_minor) = brokers.TESTED_DRAMATIQ
    assert pin.endswith(f">={first_major}.{first_minor},<{last_major}.{last_minor + 1}")


def test_the_key_layout_is_dramatiqs() -> None:
    # As documented at the top of dramatiq/brokers/redis/dispatch.lua.
    assert brokers.queue_key("q") == "dramatiq:q"
    assert brokers.messages_key("q") == "dramatiq:q.msgs"
    assert brokers.delayed_queue_key("q") == "dramatiq:q.DQ"
    assert brokers.delayed_messages_key("q") == "dramatiq:q.DQ.msgs"
    assert brokers.dead_letter_key("q") == "dramatiq:q.XQ"
    assert brokers.dead_letter_messages_key("q") == "dramatiq:q.XQ.msgs"
    assert brokers.heartbeats_key() == "dramatiq:__heartbeats__"
    assert brokers.acks_key("b1", "q") == "dramatiq:__acks__.b1.q"
