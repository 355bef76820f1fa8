"""CLI commands for the evaluate area (thin: parse flags, call the Python API, print results)."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
