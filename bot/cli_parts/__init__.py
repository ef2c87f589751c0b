"""Subcommand groups of the ``rpa-agent`` CLI, one module per area (see ``bot/cli.py``)."""
