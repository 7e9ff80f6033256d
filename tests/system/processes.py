"""The processes of one test: started by role, each with its log, found again, stopped or killed.

Every process a test starts carries two markers in its environment, ``CREDSYNC_TEST_RUN`` (one
value per ``Processes``) and ``CREDSYNC_TEST_ROLE``, which its children inherit: that is how the
test finds every process of a role (a worker's Dramatiq processes, the Procfile runner's children)
to measure, stop or kill it, and proves that none survived.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CREDSYNC = str(BIN / "credsync")
PROCFILE = ROOT / "Procfile"
#: The Procfile's long-running processes (``release`` runs once, before them).
PROCFILE_PROCESSES = ("worker", "scanner", "scheduler")

#: The line each kind of credsync process logs once it is ready for work.
READY_LINES = {
    "worker": "Worker process is ready for action.",
    "scanner": "scanner started",
    "scheduler": "scheduler started",
}
RUN_MARKER = "CREDSYNC_TEST_RUN"
ROLE_MARKER = "CREDSYNC_TEST_ROLE"
#: The line written to a process's log before each start, after which readiness is looked for.
START_HEADER = "===== start"


def kind_of(role: str) -> str:
    """The credsync command of a role: ``worker2`` is the second ``worker``."""
    return role.rstrip("0123456789")


def credsync_argv(role: str, *args: str) -> list[str]:
    """``credsync <kind> args`` for ``role``."""
    return [CREDSYNC, kind_of(role), *args]


def procfile_argv(*names: str) -> list[str]:
    """The Procfile processes ``names`` (all three when none) under honcho, as an operator runs them."""
    honcho = str(Path(sys.executable).with_name("honcho"))
    return [honcho, "start", "-f", str(PROCFILE), "-d", str(ROOT), *(names or PROCFILE_PROCESSES)]


def bin_path() -> str:
    """A ``PATH`` that finds this virtualenv's ``credsync`` first (the Procfile names it bare)."""
    return f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    context: Callable[[], str] = lambda: "",
    interval_s: float = 0.1,
) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` and ``context()`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{context()}")
        time.sleep(interval_s)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the fields after the command name


def session_pids(sid: int) -> list[int]:
    """Running processes of session ``sid`` (one started with ``start_new_session``)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and (fields := _stat(int(proc.name))) is not None and int(fields[3]) == sid:
            found.append(int(proc.name))
    return found


def children(pid: int) -> list[int]:
    """Running processes whose parent is ``pid``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and (fields := _stat(int(proc.name))) is not None and int(fields[1]) == pid:
            found.append(int(proc.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) of ``pids`` so far, with that of their children already reaped."""
    ticks = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tail(path: Path, chars: int) -> str:
    """The last ``chars`` characters of a log file, or why there are none."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no output: {exc})"
    return text[-chars:]


@dataclasses.dataclass
class Process:
    """One started process (and, through the markers, whatever it starts)."""

    role: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def alive(self) -> bool:
        return self.popen.poll() is None


class Processes:
    """The processes one test started, by role, each logging to ``workdir/<role>.log``.

    A role started again (after a stop or a kill) appends to the same log, after a new header.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.run = uuid.uuid4().hex[:12]
        self.by_role: dict[str, Process] = {}

    def start(self, role: str, argv: Sequence[str], env: Mapping[str, str]) -> Process:
        """Start ``argv`` as ``role`` in a session of its own, with ``env`` and the markers."""
        if role in self.by_role and self.by_role[role].alive():
            raise RuntimeError(f"{role} is already running")
        log_path = self.workdir / f"{role}.log"
        log_file = log_path.open("ab")
        command = " ".join([Path(argv[0]).name, *argv[1:]])
        log_file.write(f"\n{START_HEADER} {role}: {command}\n".encode())
        log_file.flush()
        popen = subprocess.Popen(
            list(argv),
            env={**env, RUN_MARKER: self.run, ROLE_MARKER: role},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(role, popen, log_path, log_file)
        self.by_role[role] = process
        return process

    def start_credsync(self, role: str, *args: str, env: Mapping[str, str]) -> Process:
        """Start ``credsync <kind> args`` as ``role`` (kind = role without a trailing number)."""
        return self.start(role, credsync_argv(role, *args), env)

    def wait_ready(self, role: str, timeout_s: float = 30) -> None:
        """Wait until the credsync process ``role`` logged its ready line since its last start."""
        process = self.by_role[role]
        line = READY_LINES[kind_of(role)]
        start = process.log_path.read_text(errors="replace").rfind(START_HEADER)

        def ready() -> bool:
            if not process.alive():
                raise AssertionError(f"{role} exited with {process.popen.returncode}\n{self.output()}")
            return line in process.log_path.read_text(errors="replace")[start:]

        wait_until(ready, timeout_s, f"{role} to be ready", self.output)

    def pids(self, role: str | None = None) -> list[int]:
        """Running processes carrying this run's marker (and ``role``'s), children included."""
        run_marker = f"{RUN_MARKER}={self.run}".encode()
        role_marker = f"{ROLE_MARKER}={role}".encode() if role else None
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if run_marker in environ and (role_marker is None or role_marker in environ):
                found.append(int(proc.name))
        return found

    def _started(self, role: str | None) -> list[Process]:
        return [p for name, p in self.by_role.items() if role is None or name == role]

    def kill(self, role: str | None = None) -> None:
        """SIGKILL ``role``'s process group (every role's when None), then any process that left it."""
        for process in self._started(role):
            if process.alive():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
        for _ in range(50):
            pids = self.pids(role)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for process in self._started(role):
            self._reap(process)

    def stop(self, role: str, timeout_s: float = 15) -> float:
        """One SIGTERM to ``role`` (the process forwards it); seconds until all of it exited.

        Fails (with the output) when anything of ``role`` is still running after ``timeout_s``.
        """
        process = self.by_role[role]
        started = time.monotonic()
        if process.alive():
            process.popen.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=timeout_s)
        remaining_s = max(0.0, timeout_s - (time.monotonic() - started))
        wait_until(lambda: not self.pids(role), remaining_s, f"{role} to exit", self.output)
        took = time.monotonic() - started
        self._reap(process)
        return took

    def shutdown(self, grace_s: float = 12) -> None:
        """Stop everything: one SIGTERM each, then SIGKILL what is left after ``grace_s``."""
        for process in self.by_role.values():
            if process.alive():
                with contextlib.suppress(ProcessLookupError):
                    process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.pids():
            time.sleep(0.1)
        self.kill()

    def _reap(self, process: Process) -> None:
        try:
            process.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()
        if not process.log_file.closed:
            process.log_file.close()

    def log(self, role: str) -> str:
        """Everything ``role`` wrote, over all its starts ("" before the first)."""
        process = self.by_role.get(role)
        return process.log_path.read_text(errors="replace") if process else ""

    def output(self, chars: int = 4000) -> str:
        """The tail of every role's log, for a failure message."""
        parts = [f"--- {role} (tail)\n{tail(p.log_path, chars)}" for role, p in self.by_role.items()]
        return "\n".join(parts) or "(no process output)"
