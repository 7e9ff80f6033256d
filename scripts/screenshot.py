"""``scripts/screenshot``: the web console's overview, as the README shows it (docs/console.png).

Runs what ``scripts/demo`` runs, in a throwaway database: the Credentials emulator, the Procfile's
worker and scanner, the demo's sample platform loaded and synced (its one malformed row fails on
purpose), then ``credsync web`` on a login role that is only a member of ``credsync_inspector``,
and headless Chromium through Selenium saves the overview at 1280x900.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks import env

OUT = env.ROOT / "docs" / "console.png"
WIDTH, HEIGHT = 1280, 900
#: The PNG is committed: keep it small.
MAX_BYTES = 200_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/screenshot", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the PNG (default {OUT})")
    args = parser.parse_args(argv)
    log_dir = Path(tempfile.mkdtemp(prefix="credsync-screenshot-"))
    try:
        with env.database("credsync_screenshot") as url:
            png = _shoot(url, log_dir)
    except BaseException:
        print(f"scripts/screenshot failed; the processes' logs are in {log_dir}", file=sys.stderr)
        raise
    shutil.rmtree(log_dir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(f"wrote {args.out} ({len(png):,} bytes, {WIDTH}x{HEIGHT})")
    if len(png) > MAX_BYTES:
        print(f"scripts/screenshot: {args.out} is over {MAX_BYTES:,} bytes", file=sys.stderr)
        return 1
    return 0


def _shoot(database_url: str, log_dir: Path) -> bytes:
    """The synced demo platform's console overview, as PNG bytes."""
    emulator = env.Emulator(log_dir)
    system = env.System(database_url, emulator, log_dir)
    web: env.Process | None = None
    role = f"credsync_screenshot_{uuid.uuid4().hex[:8]}"
    try:
        system.start("worker", "scanner")
        for step in (["load"], ["watch", "--timeout", "120", "--quiet"], ["change"], ["watch", "--quiet"]):
            subprocess.run(
                [sys.executable, str(env.ROOT / "scripts" / "demo_platform.py"), *step],
                env=system.env,
                cwd=env.ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        with env.connect(database_url) as sql:
            sql.execute(f"CREATE ROLE {role} LOGIN IN ROLE credsync_inspector")
            # As README "Web console" suggests: the console may see whether processing is paused.
            sql.execute(f"GRANT SELECT ON credentials_credentialsapiconfig TO {role}")
        parts = urlsplit(database_url)
        inspector = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
        port = env.free_port()
        web_env = {**system.env, "CREDSYNC_WEB_DATABASE_URL": inspector, "PORT": str(port)}
        web = env.Process("web", env.procfile()["web"], web_env, log_dir)
        console = f"http://127.0.0.1:{port}/"
        env.wait_until(lambda: _answers(console, web), 30, "the console to answer")
        return _png(console)
    finally:
        if web is not None:
            web.stop()
        system.stop()
        emulator.close()
        with env.connect(database_url) as sql:
            sql.execute(
                f"DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
                f"DROP OWNED BY {role}; DROP ROLE {role}; END IF; END $$"
            )


def _answers(url: str, web: env.Process) -> bool:
    if web.popen.poll() is not None:
        raise RuntimeError(f"credsync web exited:\n{web.log_tail()}")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 -- our own http:// URL
            return bool(response.status == 200)
    except OSError:
        return False


def _png(url: str) -> bytes:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CREDSYNC_CHROMIUM") or shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={WIDTH},{HEIGHT}")
    options.add_argument("--hide-scrollbars")
    driver_path = os.environ.get("CREDSYNC_CHROMEDRIVER") or shutil.which("chromedriver") or "chromedriver"
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_window_size(WIDTH, HEIGHT)
        driver.get(url)
        # The window's outer size includes no browser chrome headless, but make the page exactly so.
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        driver.set_window_size(WIDTH + WIDTH - inner[0], HEIGHT + HEIGHT - inner[1])
        driver.get(url)
        return bytes(driver.get_screenshot_as_png())
    finally:
        driver.quit()


if __name__ == "__main__":
    raise SystemExit(main())
