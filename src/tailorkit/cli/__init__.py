"""The `tailor` command: a thin typer shell over the Python API.

Each area registers its commands from its own module. Any TailorError becomes one line on stderr
and exit code 2; nothing here computes anything.
"""
from __future__ import annotations

import sys

import typer

from ..errors import TailorError

app = typer.Typer(
    name="tailor",
    help="Make an open LLM excellent at one job, and prove it with numbers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from . import chat as _chat  # noqa: E402
from . import data as _data  # noqa: E402
from . import evaluate as _evaluate  # noqa: E402
from . import kb as _kb  # noqa: E402
from . import pipeline as _pipeline  # noqa: E402
from . import synth as _synth  # noqa: E402
from . import studio as _studio  # noqa: E402
from . import train as _train  # noqa: E402

for _module in (_pipeline, _data, _train, _evaluate, _synth, _kb, _chat, _studio):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; TailorError -> one line on stderr, exit 2."""
    try:
        app(args=argv, standalone_mode=False)
    except TailorError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except SystemExit as exc:  # typer.Exit inside commands
        return int(exc.code or 0)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return 2
        raise
    return 0


def run() -> None:
    sys.exit(main())
