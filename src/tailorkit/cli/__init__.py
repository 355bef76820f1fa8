"""The `tailor` command: a thin typer shell over the Python API.

Each area registers its commands from its own module. Any TailorError, and any usage error
(bad value, missing argument, unknown option or command), becomes one line on stderr and exit
code 2; nothing here computes anything.
"""
from __future__ import annotations

import os
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


def _click_classes(name: str) -> tuple[type, ...]:
    """`name` from click and from typer's vendored copy of click (typer >= 0.20 ships `typer._click`,
    whose exceptions are not click's): catching both keeps every typer version in the range covered."""
    import importlib

    found = []
    for module in ("click.exceptions", "typer._click.exceptions", "typer.exceptions"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every failure into one line on stderr, never a traceback.

    TailorError, usage errors (bad value, missing argument, unknown option or command) and OS errors
    exit 2; Ctrl-C exits 130; anything else is a bug: one line naming it (TAILOR_DEBUG=1 re-raises).
    """
    usage, click_error = _click_classes("UsageError"), _click_classes("ClickException")
    abort, exit_ = _click_classes("Abort"), _click_classes("Exit")
    try:
        rv = app(args=argv, prog_name="tailor", standalone_mode=False)
    except TailorError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        return exc.exit_code
    except usage as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group run bare: its help is the answer
            typer.echo(exc.format_message(), err=True)
            return 2
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {_one_line(exc.format_message())}{hint}", err=True)
        return 2
    except click_error as exc:
        typer.echo(f"error: {_one_line(exc.format_message())}", err=True)
        return 2
    except (KeyboardInterrupt, *abort):
        typer.echo("interrupted", err=True)
        return 130
    except exit_ as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except SystemExit as exc:  # a command's own exit code (e.g. train interrupted: 130)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except OSError as exc:  # disk full, permission denied, ...: the user's environment, not a bug
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        typer.echo(f"error: {where}{_one_line(exc.strerror or exc)}", err=True)
        return 2
    except Exception as exc:
        if os.environ.get("TAILOR_DEBUG"):
            raise
        typer.echo(f"error: internal error ({type(exc).__name__}: {_one_line(exc)[:300]}); this is a tailorkit "
                   "bug: rerun with TAILOR_DEBUG=1 for the traceback and report it", err=True)
        return 1
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


def run() -> None:
    sys.exit(main())
