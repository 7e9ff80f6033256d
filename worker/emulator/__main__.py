"""Runs the Credentials emulator as a process: ``python -m worker.emulator --port N``."""

import worker.emulator.server

raise SystemExit(worker.emulator.server.main())
