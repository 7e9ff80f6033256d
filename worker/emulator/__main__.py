"""Runs the Credentials emulator as a process: ``python -m worker.emulator --port N``."""

import worker.emulator.cli

raise SystemExit(worker.emulator.cli.main())
