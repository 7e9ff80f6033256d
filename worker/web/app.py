"""The console's Flask app: routes, who may see and do what, and the security headers of every answer."""

from __future__ import annotations

import datetime
import json
import secrets
from typing import Any

import flask
from werkzeug import exceptions
from werkzeug.wrappers import Response

from worker import errors, settings
from worker.web import auth, charts, filters, reads, writes

#: No script at all, styles and images from here only, never framed, forms post only here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: under no-referrer Chromium posts forms with "Origin: null",
    # which the CSRF check refuses; nothing leaks to another site either way.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}
_OPEN_ENDPOINTS = {"login", "static"}


def create(config: settings.WebSettings, reader: reads.Reader, writer: writes.Writer | None) -> flask.Flask:
    """The app: pages read through ``reader``; ``writer`` (None: read-only) takes the operators' actions."""
    app = flask.Flask(__name__)
    secret = config.web_secret_key.get_secret_value() if config.web_secret_key else secrets.token_hex(32)
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="credsync_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.web_cookie_secure,
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=8),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.jinja_env.filters["pretty"] = _pretty
    app.jinja_env.filters["ago"] = _ago
    app.jinja_env.filters["when"] = _when
    can_write = writer is not None

    @app.context_processor
    def _common() -> dict[str, Any]:
        return {
            "operator": auth.operator(),
            "can_write": can_write,
            "csrf_token": auth.csrf_token,
            "login_to_read": config.login_to_read,
        }

    @app.before_request
    def _gate() -> Response | None:
        if config.login_to_read and auth.operator() is None and flask.request.endpoint not in _OPEN_ENDPOINTS:
            return flask.redirect(flask.url_for("login", next=flask.request.full_path))
        if flask.request.method == "POST" and not auth.csrf_ok(flask.request.form):
            flask.abort(403, "the form's CSRF token is missing or stale: reload the page and try again")
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.errorhandler(errors.DatabaseError)
    def _database_down(exc: errors.DatabaseError) -> tuple[str, int]:
        return flask.render_template("error.html", code=503, message=f"database error: {exc}"), 503

    @app.errorhandler(exceptions.HTTPException)
    def _http_error(exc: exceptions.HTTPException) -> tuple[str, int]:
        code = exc.code or 500
        return flask.render_template("error.html", code=code, message=exc.description), code

    @app.get("/")
    def overview() -> str:
        found = reader.overview()
        return flask.render_template(
            "overview.html",
            o=found,
            chart=charts.throughput(found.minutes, label="rows finished per minute, last 3 hours"),
            rate_meter=charts.meter(found.failure_rate, label="failure rate, last hour"),
            refresh=config.web_refresh_s,
        )

    @app.get("/failed")
    def failed() -> str:
        where = filters.FailedFilter.parse(flask.request.args)
        after = _cursor(flask.request.args)
        rows = reader.failed_page(where, after)
        more = None
        if len(rows) == reads.PAGE_ROWS:
            last = rows[-1]
            more = {**where.query(), "after_at": last["finished_at"].isoformat(), "after_id": last["id"]}
        return flask.render_template(
            "failed.html",
            rows=rows,
            where=where,
            tasks=reader.tasks(),
            more=more,
            refresh=None if after else config.web_refresh_s,
        )

    @app.get("/failed/retry")
    def retry_preview() -> str:
        _require_operator(can_write)
        where = filters.FailedFilter.parse(flask.request.args)
        as_of = datetime.datetime.now(datetime.UTC)
        match = reader.failed_match(where, as_of)
        return flask.render_template("retry.html", where=where, match=match, as_of=as_of)

    @app.post("/failed/retry")
    def retry_confirm() -> Response:
        _require_operator(can_write)
        assert writer is not None
        form = flask.request.form
        where = filters.FailedFilter.parse(form)
        as_of = filters.FailedFilter.parse({"since": form.get("as_of", "")}).since
        if as_of is None:
            flask.abort(400, "the confirmation has no as_of time: start again from the failed rows")
        previewed = int(form.get("previewed", "0") or 0)
        operator = auth.operator()
        assert operator is not None
        audit_id, retried = writer.retry_failed(
            where, as_of=as_of, operator=operator, previewed=previewed, client=flask.request.remote_addr
        )
        flask.flash(f"{retried:,} failed rows back to pending (audit #{audit_id})")
        return flask.redirect(flask.url_for("audit"))

    @app.get("/waiting")
    def waiting() -> str:
        return flask.render_template("waiting.html", **reader.waiting(), refresh=config.web_refresh_s)

    @app.get("/rows/<int:row_id>")
    def row(row_id: int) -> str:
        found, ledger = reader.row(row_id)
        if found is None:
            flask.abort(404, f"no outbox row {row_id} (pruned, or never existed)")
        return flask.render_template("row.html", row=found, ledger=ledger, refresh=config.web_refresh_s)

    @app.get("/learner")
    def learner() -> str:
        username = flask.request.args.get("username", "").strip()[:200]
        rows = reader.learner(username) if username else []
        return flask.render_template("history.html", kind="learner", key=username, rows=rows)

    @app.get("/course")
    def course() -> str:
        key = flask.request.args.get("key", "").strip()[:300]
        rows = reader.course(key) if key else []
        return flask.render_template("history.html", kind="course", key=key, rows=rows)

    @app.get("/doctor")
    def doctor() -> str:
        return flask.render_template(
            "doctor.html", findings=reader.doctor(config.broker_url, config.queue_name)
        )

    @app.get("/progress")
    def progress() -> str:
        return flask.render_template("progress.html", **reader.progress(), refresh=config.web_refresh_s)

    @app.get("/audit")
    def audit() -> str:
        return flask.render_template("audit.html", rows=reader.audit())

    @app.route("/login", methods=["GET", "POST"])
    def login() -> str | Response:
        if not config.web_operators:
            return flask.render_template("login.html", disabled=True), 404  # type: ignore[return-value]
        target = _local(flask.request.values.get("next", "/"))
        if flask.request.method == "POST":
            name = flask.request.form.get("name", "")
            if auth.check(config.web_operators, name, flask.request.form.get("password", "")):
                auth.log_in(name)
                return flask.redirect(target)
            flask.flash("unknown name or wrong password")
        return flask.render_template("login.html", disabled=False, next=target)

    @app.post("/logout")
    def logout() -> Response:
        auth.log_out()
        return flask.redirect(flask.url_for("overview"))

    return app


def _require_operator(can_write: bool) -> None:
    if not can_write:
        flask.abort(403, "this console is read-only: no operators are configured (CREDSYNC_WEB_OPERATORS)")
    if auth.operator() is None:
        flask.abort(403, "log in as an operator to retry rows")


def _cursor(args: Any) -> tuple[datetime.datetime, int] | None:
    at = filters.FailedFilter.parse({"since": args.get("after_at", "")}).since
    row_id = args.get("after_id", "")
    return (at, int(row_id)) if at is not None and row_id.isdigit() else None


def _local(target: str) -> str:
    """Only a path on this console (no open redirect to another site)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _pretty(value: Any) -> str:
    """JSON for reading (the template escapes it)."""
    if value is None:
        return ""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _when(value: datetime.datetime | None) -> str:
    if not isinstance(value, datetime.datetime):
        return ""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
