"""CLI command `tailor studio [PROJECT]`: serve the local web app (thin: everything is in tailorkit.studio)."""
from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command("studio")
    def studio_cmd(
        project: Path = typer.Argument(Path("."), help="project folder (holding tailor.yaml) or the tailor.yaml itself"),
        host: str = typer.Option("127.0.0.1", "--host", help="interface to bind; 0.0.0.0 exposes it to the network"),
        port: int = typer.Option(8765, "--port", help="TCP port"),
    ) -> None:
        """Serve the studio: look at the data, train with a live loss chart, compare, chat, search the KB."""
        from ..studio.app import create_app, run_app

        app = create_app(project)  # a missing tailor.yaml fails here, as one line
        typer.echo(f"tailor studio for {app.state.studio.root} on http://{host}:{port}/  (Ctrl-C to stop)", err=True)
        run_app(app, host, port)
