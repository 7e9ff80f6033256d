"""A credentials listing read page by page: its filters, its ``next`` links kept on our host, loop guards.

Follows each page's ``next`` link (SPEC §8.6), always on the configured host: a link to another
scheme or host (a proxy that hides the public origin) keeps only its path and query, so the token
never leaves for a host we were not configured with. A page without a list of objects in
``results``, a ``next`` link seen before, or more than ``MAX_PAGES`` pages raise
``errors.CredentialsUnavailable``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypedDict
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from worker import errors
from worker.clients import answers, tokens

# A `next` chain longer than this is a server bug, not a learner with 20,000 credentials.
MAX_PAGES = 1_000

_log = logging.getLogger(__name__)

Fetch = Callable[[str, "Mapping[str, str] | None"], requests.Response]
"""Sends one authenticated ``GET`` of a page: its URL, and the query (the first page only)."""


class CredentialQuery(TypedDict, total=False):
    """The filters of a credentials listing, and whose token reads it (``credential_pages``)."""

    credential_type: str | None
    status: str
    only_visible: bool
    program_uuid: str | None
    learner: tokens.Identity | None


def filters(
    username: str, *, credential_type: str | None, status: str, only_visible: bool, program_uuid: str | None
) -> dict[str, str]:
    """The query of the first page (later pages carry theirs in their ``next`` link)."""
    params = {"username": username, "status": status}
    if only_visible:
        params["only_visible"] = "True"
    if credential_type:
        params["type"] = credential_type
    if program_uuid:
        params["program_uuid"] = program_uuid
    return params


class Pager:
    """Reads listings page by page; warns once per client about links to another origin."""

    def __init__(self) -> None:
        self._warned_foreign_next = False

    def read(self, first_url: str, params: Mapping[str, str], fetch: Fetch) -> Iterator[list[dict[str, Any]]]:
        """The ``results`` of each page from ``first_url``, fetched only as the caller iterates."""
        url: str = first_url
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            response = fetch(url, query)
            page_url = response.url or url
            seen.add(page_url)
            page = answers.json_object("GET", page_url, response)
            items = page.get("results")
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise _unusable_page(page_url, "no list of objects in results")
            yield items
            link = page.get("next")
            if link is None or link == "":
                return
            if not isinstance(link, str):
                raise _unusable_page(page_url, "a next link that is not a string")
            url, query = self._on_our_origin(urljoin(page_url, link), first_url), None
            if url in seen:
                raise _unusable_page(page_url, f"a next link seen before ({url}): pagination loops")
        raise errors.CredentialsUnavailable(f"GET {first_url} failed: more than {MAX_PAGES} pages")

    def _on_our_origin(self, url: str, api_url: str) -> str:
        link, ours = urlsplit(url), urlsplit(api_url)
        if (link.scheme, link.netloc) == (ours.scheme, ours.netloc):
            return url
        if not self._warned_foreign_next:
            self._warned_foreign_next = True
            _log.warning(
                "Credentials pagination links point at %s://%s, not %s://%s; following their path on the "
                "configured host (check the proxy's X-Forwarded-* headers)",
                link.scheme,
                link.netloc,
                ours.scheme,
                ours.netloc,
            )
        return urlunsplit((ours.scheme, ours.netloc, link.path, link.query, ""))


def _unusable_page(url: str, what: str) -> errors.CredentialsUnavailable:
    return errors.CredentialsUnavailable(f"GET {url} failed: the page has {what}")
