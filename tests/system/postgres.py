"""A PostgreSQL server of the test run's own (``initdb`` + ``pg_ctl``), that tests may stop and start."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.system import processes


def _pg_bindir() -> Path | None:
    candidates: list[Path] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in a temp dir, on a free port, that tests may stop and start."""

    def __init__(self) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            pytest.skip(
                "the fault tests need the PostgreSQL server binaries (initdb, pg_ctl): "
                "install PostgreSQL (Debian/Ubuntu: apt-get install postgresql)"
            )
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="credsync-faults-pg-"))
        self.data = self.dir / "data"
        self.port = processes.free_port()
        # initdb and pg_ctl refuse to run as root: run them as the postgres system user.
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, user="postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def admin_url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [*self._as_user, str(self.bindir / program), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\nserver log:\n{self.log_tail()}"
            )

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), *args)

    def up(self) -> None:
        """Start the server (again) on its port and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=200 -c synchronous_commit=off"
        )
        self._pg_ctl("-l", str(self.dir / "server.log"), "-w", "-t", "30", "-o", options, "start")

    def down(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (disconnect clients, clean shutdown) or ``immediate`` (crash)."""
        self._pg_ctl("-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.down("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def server_pids(self) -> list[int]:
        """The postmaster and its children (backends, background processes), while it runs."""
        try:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [postmaster, *processes.children(postmaster)]

    def log_tail(self, chars: int = 3000) -> str:
        return processes.tail(self.dir / "server.log", chars)
