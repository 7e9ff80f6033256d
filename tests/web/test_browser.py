"""The browser tier: Debian's Chromium (through chromedriver) drives the console of a running system.

The Procfile's worker, scanner and scheduler run against the emulator; ``credsync web`` runs as its
own process on the inspector role. Skipped, saying why, where Chromium or its driver is missing
(``scripts/test`` installs them with apt where it can).
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import System, wait_for
from tests.platform import Platform
from tests.system import processes
from tests.web.conftest import OPERATOR, PASSWORD
from worker.web import auth

RUN = "course-v1:edX+DemoX+2026"
CHROMIUM = os.environ.get("CREDSYNC_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("CREDSYNC_CHROMEDRIVER") or shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no Chromium and chromedriver (Debian: apt-get install chromium chromium-driver)",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1000")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def console_url(
    system: System, inspector_url: str, database_url: str, emulator: Any, platform: Platform
) -> str:
    """The system running (worker, scanner, scheduler) with a settled history, and the console's address."""
    emulator.add_course_runs([RUN])
    platform.enable_credentials()
    platform.course_run(RUN)
    with psycopg.connect(database_url, autocommit=True) as conn:
        host = Platform(conn)
        ada = host.learner("ada")
        host.certificate(ada["id"], RUN)
        host.enqueue("award_course_certificate", {"username": "ada", "course_run_key": RUN})
        for _ in range(3):
            host.enqueue("award_course_certificate", {"username": 42, "course_run_key": RUN})
    system.start()
    wait_for(lambda: _unsettled(database_url) == 0, 60, "rows to settle", system)
    port = processes.free_port()
    env = {
        **system.env,
        "CREDSYNC_WEB_DATABASE_URL": inspector_url,
        "CREDSYNC_WEB_OPERATORS": f'{{"{OPERATOR}": "{auth.hash_password(PASSWORD)}"}}',
        "PORT": str(port),
        # No page reloads itself under the test's hands (an element read after a refresh is stale).
        "CREDSYNC_WEB_REFRESH_S": "3600",
    }
    credsync = str(Path(sys.executable).with_name("credsync"))
    system.processes.start("web", [credsync, "web"], env)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url), 20, "the console to listen", system)
    return url


def _unsettled(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM credsync.outbox WHERE status NOT IN ('done', 'failed')"
        ).fetchone()
    return int(row[0]) if row else 0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=2) as answer:  # noqa: S310 -- our own http URL
            return bool(answer.status == 200)
    except OSError:
        return False


def test_an_operator_reads_filters_retries_and_follows_a_row_in_the_browser(
    browser: Any, console_url: str, database_url: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    # The overview: its figures and its chart
    browser.get(console_url + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
    assert browser.find_element(By.CSS_SELECTOR, "svg.chart").is_displayed()
    assert "failed" in browser.find_element(By.ID, "counts").text

    # The failed rows, filtered by error text
    browser.find_element(By.LINK_TEXT, "Failed").click()
    search = browser.find_element(By.NAME, "error")
    search.send_keys("valid string")
    browser.find_element(By.CSS_SELECTOR, "#filter button").click()
    WebDriverWait(browser, 10).until(lambda driver: "error=" in driver.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.rows tbody tr")
    assert len(rows) == 3
    assert all("Input should be a valid string" in r.text for r in rows)

    # A bulk retry: log in, preview, confirm; the audit log records it
    browser.get(console_url + "/login?next=/failed%3Ferror%3Dvalid%2Bstring")
    browser.find_element(By.NAME, "name").send_keys(OPERATOR)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    assert browser.find_element(By.ID, "operator").text == OPERATOR
    browser.find_element(By.ID, "retry-matching").click()
    assert browser.find_element(By.ID, "preview").text == "3 failed rows match"
    browser.find_element(By.CSS_SELECTOR, "#confirm button").click()
    assert "3 failed rows back to pending" in browser.find_element(By.CLASS_NAME, "flash").text
    assert OPERATOR in browser.find_element(By.ID, "audit").text
    with psycopg.connect(database_url) as conn:
        runs = conn.execute("SELECT run FROM credsync.outbox WHERE payload ->> 'username' = '42'").fetchall()
    assert [r[0] for r in runs] == [2, 2, 2]

    # A learner search, then the row and its ledger timeline
    browser.find_element(By.LINK_TEXT, "Learner").click()
    browser.find_element(By.NAME, "username").send_keys("ada")
    browser.find_element(By.CSS_SELECTOR, "#search button").click()
    browser.find_element(By.CSS_SELECTOR, "table.rows tbody tr td a").click()
    assert "done" in browser.find_element(By.TAG_NAME, "h1").text
    ledger = browser.find_elements(By.CSS_SELECTOR, "#ledger li")
    assert ledger
    assert any("POST" in item.text and "/api/v2/" in item.text for item in ledger)
    assert '"username": "ada"' in browser.find_element(By.ID, "payload").text
