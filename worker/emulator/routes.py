"""Resolves request paths as Credentials' URLconf does: DRF's DefaultRouter plus Django's APPEND_SLASH."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse

API_ROOT = "/api/v2/"
CREDENTIALS = "credentials"
GRADES = "grades"
COURSE_CERTIFICATES = "course_certificates"
ROOT = "root"
# DefaultRouter (credentials/apps/api/v2/urls.py): list and detail routes whose lookup is DRF's
# default ``[^/.]+`` (so a key holding a dot does not resolve), each also with a format suffix.
_RESOURCE = re.compile(
    rf"{re.escape(API_ROOT)}(?P<view>{CREDENTIALS}|{GRADES}|{COURSE_CERTIFICATES})"
    r"(?:/(?P<lookup>[^/.]+))?(?:/|\.(?P<format>[a-z0-9]+)/?)"
)
_ROOT = re.compile(rf"{re.escape(API_ROOT)}(?:\.(?P<format>[a-z0-9]+)/?)?")
# The renderers (DRF defaults): a format naming neither is a 404 before authentication.
RENDERER_FORMATS = ("json", "api")


@dataclasses.dataclass(frozen=True)
class Match:
    """A resolved API route: which viewset, the detail lookup (None for the list route), a format."""

    view: str
    lookup: str | None
    format: str | None


@dataclasses.dataclass(frozen=True)
class Redirect:
    """CommonMiddleware's answer to a path that resolves only with a trailing slash (301)."""

    location: str


def resolve(raw_path: str, query: str) -> Match | Redirect | None:
    """The route for a path (percent-decoded first, as Django does), a redirect, or None (404)."""
    path = urllib.parse.unquote(raw_path)
    match = _match(path)
    if match is not None:
        return match
    if not path.endswith("/") and _match(f"{path}/") is not None:
        return Redirect(f"{raw_path}/" + (f"?{query}" if query else ""))
    return None


def _match(path: str) -> Match | None:
    resource = _RESOURCE.fullmatch(path)
    if resource is not None:
        return Match(resource["view"], resource["lookup"], resource["format"])
    root = _ROOT.fullmatch(path)
    if root is not None:
        return Match(ROOT, None, root["format"])
    return None


def link(base_url: str, view: str, format_suffix: str | None) -> str:
    """The absolute URL of a list route, as the API root renders it."""
    return f"{base_url}{API_ROOT}{view}" + (f".{format_suffix}" if format_suffix else "/")
