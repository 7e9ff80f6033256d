"""The metrics endpoints of the Procfile processes, scraped over HTTP as Prometheus would."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import requests
from prometheus_client import parser

from tests.acceptance.conftest import System, wait_for
from tests.acceptance.test_procfile import _catalog, _host_awards, _rows, _setup_platform  # noqa: F401 (_catalog: autouse fixture)
from worker.emulator import server

SCRAPE_DEADLINE_S = 30


def _free_port_pair() -> int:
    """A port P such that P and P + 1 are both free now."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65_535:
                continue
            with socket.socket() as second, contextlib.suppress(OSError):
                second.bind(("127.0.0.1", port + 1))
                return port
    raise AssertionError("no two consecutive free ports")


def _scrape_until(url: str, needles: list[str], system: System) -> str:
    """Scrape ``url`` until its text holds every needle (deadline SCRAPE_DEADLINE_S)."""
    deadline = time.monotonic() + SCRAPE_DEADLINE_S
    text = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            text = requests.get(url, timeout=5).text
            if all(needle in text for needle in needles):
                return text
        time.sleep(0.3)
    missing = [n for n in needles if n not in text]
    raise AssertionError(
        f"{url} never showed {missing}; last scrape:\n{text[-3000:]}\n"
        f"process output:\n{system.output()[-4000:]}"
    )


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_worker_and_the_scanner_serve_their_metrics_on_the_configured_ports(
    system: System, database_url: str, emulator: server.Emulator, tmp_path: Path
) -> None:
    # Given metrics on, on two free ports, and the Procfile processes running
    port = _free_port_pair()
    system.env["CREDSYNC_METRICS_PORT"] = str(port)
    system.env["TMPDIR"] = str(tmp_path)  # where the worker processes share their metrics files
    # (and the files a previous, finished Dramatiq run left there)
    base = tmp_path / f"credsync-prometheus-{system.env['CREDSYNC_QUEUE']}-{port}"
    (base / "4999999").mkdir(parents=True)
    (base / "4999999" / "counter_5000000.db").write_bytes(b"stale")
    _setup_platform(database_url)
    system.start()
    # When a host commits a few awards and they are synced
    learners = ["ada", "bob", "cy"]
    _host_awards(database_url, learners)
    wait_for(lambda: all(r["status"] == "done" for r in _rows(database_url)), 60, "rows done", system)
    # Then the worker's endpoint has Dramatiq's metrics and credsync's, summed over its processes
    queue = system.env["CREDSYNC_QUEUE"]
    worker = _scrape_until(
        f"http://127.0.0.1:{port}/metrics",
        [
            # (none in progress: every finished message counted)
            f'dramatiq_messages_inprogress{{actor_name="award_course_certificate",queue_name="{queue}"}} 0.0',
            "credsync_http_requests_total",
            'credsync_rows_total{outcome="done",task="award_course_certificate"} 3.0',
            "credsync_row_latency_seconds_bucket",
        ],
        system,
    )
    samples = _samples(worker)
    award = frozenset({("queue_name", queue), ("actor_name", "award_course_certificate")})
    assert samples[("dramatiq_messages_total", award)] >= len(learners)
    assert samples[("dramatiq_message_duration_milliseconds_count", award)] >= len(learners)
    done = frozenset({("task", "award_course_certificate"), ("outcome", "done")})
    assert samples[("credsync_row_latency_seconds_count", done)] == 3
    assert 0 < samples[("credsync_row_latency_seconds_sum", done)] < 3 * 60
    answered = sum(
        value
        for (name, labels), value in samples.items()
        if name == "credsync_http_requests_total" and dict(labels)["status"].startswith("2")
    )
    assert answered >= len(learners)
    # And the scanner's endpoint, on the next port, has the outbox gauges and its counters
    scanner = _scrape_until(
        f"http://127.0.0.1:{port + 1}/metrics",
        ['credsync_outbox_rows{status="pending"}', "credsync_scanner_claimed_total"],
        system,
    )
    samples = _samples(scanner)
    assert samples[("credsync_outbox_rows", frozenset({("status", "pending")}))] == 0
    assert samples[("credsync_outbox_rows", frozenset({("status", "failed")}))] == 0
    assert samples[("credsync_scanner_claimed_total", frozenset())] >= len(learners)
    assert samples[("credsync_processing_paused", frozenset())] == 0
    assert samples[("credsync_metrics_scrape_error", frozenset())] == 0
    # And everything still stops in time, leaving the files of this run only
    assert system.stop() < 15
    assert system.survivors() == []
    [run] = base.iterdir()
    assert run.name.isdigit()
    assert run.name != "4999999"
