"""The emulator as a process: ``python -m worker.emulator [options]``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import types
from pathlib import Path
from typing import Any

from worker.emulator import admin_api, server


def _port(text: str) -> int:
    """A TCP port, or 0 for any free one."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"must be 0 (any free port) to 65535, got {port}")
    return port


def _host(text: str) -> str:
    """A host name or address the socket layer can encode (it uses IDNA)."""
    try:
        text.encode("idna")
    except UnicodeError:
        raise argparse.ArgumentTypeError(f"not a host name: {text!r}") from None
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credsync emulator", description="Local Credentials service.")
    parser.add_argument("--host", type=_host, default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=server.DEFAULT_PORT)
    parser.add_argument("--client-id", default="credsync")
    parser.add_argument("--client-secret", default="credsync-secret")
    parser.add_argument("--token-lifetime-s", type=int, default=3600)
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--programs", metavar="FILE", help='JSON list of {"uuid", "active", "course_runs"}')
    parser.add_argument("--issuer", help="the JWT issuer accepted and used (default: URL/oauth2)")
    parser.add_argument("--audience", default="credentials", help="the JWT audience accepted and used")
    parser.add_argument("--jwt-secret-key", help="the LMS's HS256 JWT_SECRET_KEY (default: random)")
    parser.add_argument("--jwt-signing-jwk-file", metavar="FILE", help="the LMS's private RSA signing JWK")
    parser.add_argument("--service-username", default="credentials_service_user")
    parser.add_argument("--throttle-rate-per-min", type=int, default=15)
    parser.add_argument(
        "--admins-can-view", action="store_true", help="grant view_usercredential to the Admins group"
    )
    parser.add_argument(
        "--no-learner-records", action="store_true", help="turn the site's learner records off"
    )
    return parser


def _load_programs(path: str) -> list[dict[str, Any]]:
    programs = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(programs, list) or not all(isinstance(item, dict) for item in programs):
        raise ValueError('expected a JSON list of {"uuid", "active", "course_runs"} objects')
    return programs


def _build(args: argparse.Namespace) -> server.Emulator:
    """The emulator the arguments describe; OSError or ValueError naming the bad input."""
    jwk = None
    if args.jwt_signing_jwk_file:
        try:
            jwk = Path(args.jwt_signing_jwk_file).read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"--jwt-signing-jwk-file: {error}") from None
    try:
        emulator = server.Emulator(
            host=args.host,
            port=args.port,
            client_id=args.client_id,
            client_secret=args.client_secret,
            token_lifetime_s=args.token_lifetime_s,
            page_size=args.page_size,
            seed=args.seed,
            signing_key=args.jwt_secret_key.encode() if args.jwt_secret_key else None,
            issuer=args.issuer,
            audience=args.audience,
            signing_jwk=jwk,
            service_username=args.service_username,
            throttle_rate_per_min=args.throttle_rate_per_min,
        )
    except ValueError as error:
        raise ValueError(f"invalid options: {error}") from None
    emulator.set_switches(admins_can_view=args.admins_can_view, learner_records=not args.no_learner_records)
    if args.programs:
        try:
            admin_api.configure_programs(emulator, _load_programs(args.programs))
        except (OSError, ValueError, RecursionError) as error:
            raise ValueError(f"--programs {args.programs}: {error}") from None
    return emulator


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGTERM or SIGINT; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        emulator = _build(args)
    except ValueError as error:
        print(f"credsync emulator: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: types.FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            emulator.start()
        except OSError as error:
            print(f"credsync emulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
            return 1
        print(f"credsync emulator listening on {emulator.url}", flush=True)
        while not stop.wait(server.POLL_INTERVAL_S):
            pass
        return 0
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
