"""The worker's exposition process, and the directories it shares with the worker processes.

A Dramatiq run's worker processes write their metrics to ``<tmp>/credsync-prometheus-<queue>-<port>/
<pid of Dramatiq's main process>`` (``run_dir``: the main process is the parent of every process of
the run); ``serve_worker_metrics``, which the main process forks once per run, serves their sum and
removes the directories of finished runs.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from worker import settings

log = logging.getLogger(__name__)

#: The exposition process's main thread waits on its server thread in steps this long (a signal
#: interrupts the wait at once).
_IDLE_WAIT_S = 3600.0


def serve_worker_metrics() -> int:
    """The exposition process Dramatiq forks once per run: every worker process's metrics, until SIGTERM.

    It reads the shared files of this Dramatiq run, and first removes the directories left by
    runs whose Dramatiq process is gone (prometheus_client's files must not outlive their run).
    """
    config = settings.load_core()
    assert config.metrics_port is not None
    run = run_dir(base_dir(config))
    run.mkdir(parents=True, exist_ok=True)
    _remove_finished_runs(run)
    import prometheus_client
    from prometheus_client import multiprocess

    # Only the run's files, by path: this process records nothing, so it needs no multiprocess mode.
    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(run))  # type: ignore[no-untyped-call]
    try:
        server, thread = prometheus_client.start_http_server(
            config.metrics_port, addr=config.metrics_host, registry=registry
        )
    except OSError as exc:
        log.error(
            "metrics: cannot serve on %s:%d (%s); workers run on without metrics",
            config.metrics_host,
            config.metrics_port,
            exc,
        )
        return 1
    log.info("metrics: serving worker metrics on http://%s:%d/metrics", *server.server_address[:2])
    try:
        while thread.is_alive():
            thread.join(_IDLE_WAIT_S)
    finally:
        server.shutdown()
        server.server_close()
    return 0


def base_dir(config: settings.CoreSettings) -> Path:
    """Where the runs of the worker of ``config``'s queue and metrics port keep their directories."""
    return Path(tempfile.gettempdir()) / f"credsync-prometheus-{config.queue_name}-{config.metrics_port}"


def run_dir(base: Path) -> Path:
    """This Dramatiq run's directory: its worker processes and exposition process share one parent."""
    return base / str(os.getppid())


def _remove_finished_runs(current: Path) -> None:
    for entry in current.parent.iterdir():
        if entry != current and entry.name.isdigit() and not _alive(int(entry.name)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
