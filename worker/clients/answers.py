"""What a Credentials answer says: its JSON object, or its HTTP error with a readable body and Retry-After.

An answer that is not usable (invalid JSON, JSON but not an object) raises
``errors.CredentialsUnavailable``; an HTTP status outside 2xx becomes ``errors.CredentialsHTTPError``
with the status, the truncated body (an HTML page by its title only) and ``Retry-After`` in ms.
Which statuses are worth a retry is the sync logic's decision, not this module's.
"""

from __future__ import annotations

import email.utils
import html
import re
from collections.abc import Callable
from datetime import UTC
from typing import Any

import requests

from worker import errors

ERROR_BODY_MAX_CHARS = 2_000

_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def json_object(method: str, url: str, response: requests.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer; ``{}`` for an empty body."""
    if not response.content.strip():
        return {}
    try:
        answer = response.json()
    except requests.exceptions.RequestException as exc:
        raise errors.CredentialsUnavailable(
            f"{method} {url} failed: invalid JSON in the HTTP {response.status_code} answer"
        ) from exc
    if not isinstance(answer, dict):
        raise errors.CredentialsUnavailable(
            f"{method} {url} failed: the HTTP {response.status_code} answer is JSON but not an object"
        )
    return answer


def http_error(
    method: str, url: str, response: requests.Response, *, redact: Callable[[str], str], now_s: float
) -> errors.CredentialsHTTPError:
    """The error of a non-2xx answer; ``redact`` removes secrets the server may have echoed."""
    body = redact(readable_body(response))[:ERROR_BODY_MAX_CHARS]
    retry_after = retry_after_ms(response.headers.get("Retry-After"), now_s=now_s)
    return errors.CredentialsHTTPError(method, url, response.status_code, body, retry_after)


def readable_body(response: requests.Response) -> str:
    """The answer's text for a message: a page of HTML (Django's 5xx pages) by its title only."""
    if "html" not in response.headers.get("Content-Type", "").lower():
        return response.text
    found = _HTML_TITLE.search(response.text)
    title = " ".join(found.group(1).split()) if found else ""
    return f"(an HTML page{': ' + html.unescape(title) if title else ''})"


def retry_after_ms(value: str | None, *, now_s: float) -> int | None:
    """``Retry-After`` (seconds or an HTTP-date) as ms from ``now_s``; None when absent or unparseable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return int(value) * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, round((when.timestamp() - now_s) * 1000))
