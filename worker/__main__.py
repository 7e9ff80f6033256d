"""``python -m worker``: the ``credsync`` command."""

from worker import cli

raise SystemExit(cli.main())
