"""Operator tools: `python -m tools.store --help`."""
