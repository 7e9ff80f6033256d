"""The console over HTTP (Flask's test client, real Postgres): its pages, and that it is closed by default."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import OPERATOR, PASSWORD, Console, fail_rows
from worker import errors, settings
from worker.web import app as web_app
from worker.web import reads, server

PAGES = [
    "/",
    "/failed",
    "/waiting",
    "/learner?username=u1",
    "/course?key=k",
    "/doctor",
    "/progress",
    "/audit",
]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def _statuses(sql: Any, ids: list[int]) -> set[str]:
    return {r["status"] for r in sql.execute("SELECT status FROM credsync.outbox WHERE id = ANY(%s)", (ids,))}


def test_every_page_answers_with_the_security_headers(console: Console, sql: Any) -> None:
    # Given a console over a database with a failed row
    fail_rows(sql, 1)
    client = console().test_client()
    for page in PAGES:
        # When a page is read
        answer = client.get(page)
        # Then it answers, closed to scripts and framing, and is not cached
        assert answer.status_code == 200, page
        assert answer.headers["Content-Security-Policy"] == web_app.CONTENT_SECURITY_POLICY
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"


def test_the_overview_draws_its_chart_and_counts_without_scanning(console: Console, sql: Any) -> None:
    # Given finished and pending rows
    fail_rows(sql, 3)
    sql.execute(
        "INSERT INTO credsync.outbox (task, payload) VALUES ('award_program_certificates', %s)",
        ('{"username": "p"}',),
    )
    sql.execute("ANALYZE credsync.outbox")
    # When the overview is read
    html = console().test_client().get("/").get_data(as_text=True)
    # Then it has the SVG chart, the backlog and the (estimated) counts
    assert "<svg" in html
    assert 'class="failed"' in html
    assert 'id="backlog">1<' in html
    assert ">3<" in html  # failed: counted, the table being small
    assert 'http-equiv="refresh"' in html


def test_a_payload_and_an_error_are_shown_escaped(console: Console, sql: Any) -> None:
    # Given a failed row whose payload and error carry markup
    [row_id] = fail_rows(sql, 1, error="<img src=x onerror=alert(1)>", username="<script>alert(1)</script>")
    client = console().test_client()
    for page in (f"/rows/{row_id}", "/failed", "/learner?username=<script>alert(1)</script>1"):
        html = client.get(page).get_data(as_text=True)
        # Then no markup of theirs reaches the page
        assert "<script>alert" not in html, page
        assert "<img src=x" not in html, page
        assert "&lt;script&gt;" in html or "\\u003cscript\\u003e" in html, page


def test_a_row_page_shows_every_column_and_its_ledger(console: Console, sql: Any) -> None:
    # Given a row with two HTTP requests in the ledger
    [row_id] = fail_rows(sql, 1)
    sql.execute(
        "INSERT INTO credsync.delivery (outbox_id, attempt, method, url, status, duration_ms, error) VALUES "
        "(%s, 1, 'POST', 'http://c/api/v2/credentials/', 503, 12, 'unavailable'), "
        "(%s, 2, 'POST', 'http://c/api/v2/credentials/', 400, 9, 'bad')",
        (row_id, row_id),
    )
    html = console().test_client().get(f"/rows/{row_id}").get_data(as_text=True)
    assert "ordering_key" in html
    assert "HTTP 400 from Credentials" in html
    assert html.count("POST http://c/api/v2/credentials/") == 2
    assert "503 in 12 ms" in html
    assert "400 in 9 ms" in html


def test_a_read_only_console_refuses_every_write(console: Console, sql: Any) -> None:
    # Given a console without operators, and failed rows
    ids = fail_rows(sql, 3)
    client = console().test_client()
    # When someone asks for the retry preview or posts a retry, with or without a token
    page = client.get("/failed").get_data(as_text=True)
    assert "Retry every matching row" not in page
    assert client.get("/failed/retry").status_code == 403
    assert client.post("/failed/retry", data={"as_of": "2999-01-01T00:00:00+00:00"}).status_code == 403
    assert client.get("/login").status_code == 404
    # Then nothing changed
    assert _statuses(sql, ids) == {"failed"}


def test_an_unauthenticated_request_cannot_retry_rows(console: Console, sql: Any) -> None:
    # Given a console with operators and failed rows
    ids = fail_rows(sql, 3)
    client = console(operators=True).test_client()
    # When a visitor who is not logged in posts a retry, with a session's own token
    token = _csrf(client.get("/login").get_data(as_text=True))
    answer = client.post("/failed/retry", data={"csrf_token": token, "as_of": "2999-01-01T00:00:00+00:00"})
    # Then it is refused and no row changed
    assert answer.status_code == 403
    assert client.get("/failed/retry").status_code == 403
    assert _statuses(sql, ids) == {"failed"}
    # And a wrong password opens no session
    client.post("/login", data={"csrf_token": token, "name": OPERATOR, "password": "wrong"})
    assert client.get("/failed/retry").status_code == 403


def _log_in(client: Any) -> str:
    token = _csrf(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"csrf_token": token, "name": OPERATOR, "password": PASSWORD})
    assert answer.status_code == 302
    return _csrf(client.get("/").get_data(as_text=True))


def test_a_post_without_the_csrf_token_is_refused_even_for_an_operator(console: Console, sql: Any) -> None:
    ids = fail_rows(sql, 2)
    client = console(operators=True).test_client()
    _log_in(client)
    for data in ({}, {"csrf_token": "forged"}):
        answer = client.post("/failed/retry", data={**data, "as_of": "2999-01-01T00:00:00+00:00"})
        assert answer.status_code == 403
    assert _statuses(sql, ids) == {"failed"}


def test_an_operator_retries_every_matching_row_after_a_preview_and_it_is_audited(
    console: Console, sql: Any
) -> None:
    # Given more matching failed rows than a page holds, and others that do not match
    matching = fail_rows(sql, reads.PAGE_ROWS + 10, error="HTTP 400: bad program uuid")
    other = fail_rows(sql, 5, error="HTTP 500", username="o")
    client = console(operators=True).test_client()
    _log_in(client)
    # When the operator previews the retry of the rows whose error contains "bad program"
    preview = client.get("/failed/retry?error=bad+program").get_data(as_text=True)
    assert f"{len(matching)} failed rows match" in preview
    form = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', preview))
    # And confirms it
    answer = client.post("/failed/retry", data=form)
    # Then every matching row is pending again, the others are still failed
    assert answer.status_code == 302
    assert _statuses(sql, matching) == {"pending"}
    assert _statuses(sql, other) == {"failed"}
    # And the audit log says who, what and how many
    [audit] = sql.execute(
        "SELECT operator, action, filter, previewed, rows, finished_at FROM credsync.web_audit"
    )
    assert audit["operator"] == OPERATOR
    assert audit["action"] == "retry_failed"
    assert audit["filter"]["error"] == "bad program"
    assert audit["previewed"] == audit["rows"] == len(matching)
    assert audit["finished_at"] is not None
    assert OPERATOR in client.get("/audit").get_data(as_text=True)


def test_a_console_beyond_loopback_needs_a_login_to_read(console: Console, sql: Any) -> None:
    client = console(operators=True, CREDSYNC_WEB_HOST="0.0.0.0").test_client()  # noqa: S104
    answer = client.get("/failed")
    assert answer.status_code == 302
    assert "/login" in answer.headers["Location"]
    _log_in(client)
    assert client.get("/failed").status_code == 200


def test_the_console_refuses_a_read_role_that_may_write(console: Console, database_url: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="credsync_inspector"):
        console(CREDSYNC_WEB_DATABASE_URL=database_url)


def test_the_login_redirect_stays_on_the_console(console: Console) -> None:
    client = console(operators=True).test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    answer = client.post(
        "/login",
        data={"csrf_token": token, "name": OPERATOR, "password": PASSWORD, "next": "//evil.example/"},
    )
    assert answer.headers["Location"] == "/"


def test_the_read_path_is_read_only_and_bounded_whatever_its_role(inspector_url: str) -> None:
    # Given the console's pools, as credsync web builds them
    _, pools = server.build(settings.load_web({"CREDSYNC_WEB_DATABASE_URL": inspector_url}))
    try:
        # Then each session of the read pool is read-only and cancels a statement past 5 s
        [read_pool] = pools
        with read_pool.statement() as cur:
            cur.execute(
                "SELECT current_setting('default_transaction_read_only') AS read_only,"
                " current_setting('statement_timeout') AS timeout"
            )
            assert cur.fetchone() == {"read_only": "on", "timeout": "5s"}
    finally:
        for pool in pools:
            pool.close()
