"""CLI: `tailor chat` — a terminal loop over tailorkit.chat.ChatSession (streams answers, slash commands).

Reads one message per line from the terminal or from piped stdin; answers stream to stdout. A bad
starting model is a one-line error with exit code 2; inside the loop an error is one line and the
chat goes on.
"""
from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..errors import TailorError
from .common import ConfigOption, load


def _lines(interactive: bool):
    """Messages from the terminal (with a prompt and line editing) or from piped stdin."""
    if interactive:
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
        while True:
            try:
                yield input("you> ")
            except EOFError:
                typer.echo()
                return
    else:
        for line in sys.stdin:
            yield line.rstrip("\n")


def register(app: typer.Typer) -> None:
    @app.command()
    def chat(
        config: Path = ConfigOption,
        model: str = typer.Option(None, "--model", "-m",
                                  help="base, tuned, a run name under runs/, or a model folder "
                                       "(default: tuned when trained, else base)"),
        system: str = typer.Option(None, "--system", "-s", help="system prompt for the conversation"),
        engine: str = typer.Option(None, "--engine", help="auto | hf | llamacpp (default: generation.engine)"),
        max_new_tokens: int = typer.Option(None, "--max-new-tokens", min=1, help="cap on tokens per answer"),
    ) -> None:
        """Chat with the base or tuned model in the terminal; /model switches and keeps the conversation."""
        from ..chat import ChatSession

        cfg = load(config, generation__max_new_tokens=max_new_tokens, generation__engine=engine)
        interactive = sys.stdin.isatty()
        with ChatSession(cfg, model, system=system) as session:
            if interactive:
                typer.echo(f"chatting with {session.model} ({session.engine.name} engine); /help for commands",
                           err=True)
            for line in _lines(interactive):
                if not line.strip():
                    continue
                try:
                    if line.startswith("/"):
                        reply = session.command(line)
                        typer.echo(reply.text, err=interactive)
                        if reply.done:
                            break
                        continue
                    sys.stdout.write(f"{session.model}> ")
                    for delta in session.send(line):
                        sys.stdout.write(delta.text)
                        sys.stdout.flush()
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                except KeyboardInterrupt:  # stop this answer, keep the chat
                    sys.stdout.write(" …\n")
                except TailorError as exc:
                    typer.echo(f"error: {exc.one_line()}", err=True)
