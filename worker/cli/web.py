"""``credsync web`` (the operators' console) and ``credsync web-password`` (an operator's hash)."""

from __future__ import annotations

import argparse
import getpass
import sys

from worker import settings
from worker.cli import common


def register(add: common.Add) -> None:
    p = add("web", _web, "serve the operators' web console (read-only unless operators are configured)")
    p.add_argument("--host", help="address to listen on (default CREDSYNC_WEB_HOST, 127.0.0.1)")
    p.add_argument("--port", type=common.port, help="port (default PORT, 8000)")

    add("web-password", _password, "print the hash of an operator's password, for CREDSYNC_WEB_OPERATORS")


def _web(args: argparse.Namespace) -> int:
    from worker.web import server

    overrides: dict[str, object] = {}
    if args.host:
        overrides["CREDSYNC_WEB_HOST"] = args.host
    if args.port:
        overrides["PORT"] = args.port
    config = settings.load_web(overrides)
    server.serve(config)
    return common.EXIT_OK


def _password(args: argparse.Namespace) -> int:
    from worker.web import auth

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("credsync: the passwords differ", file=sys.stderr)
            return common.EXIT_USAGE
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        print("credsync: use a password of at least 12 characters", file=sys.stderr)
        return common.EXIT_USAGE
    print(auth.hash_password(password))
    return common.EXIT_OK
