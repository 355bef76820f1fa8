"""A chat with one model at a time, the conversation kept across turns and across model switches.

`ChatSession(cfg, model="tuned")` opens the model through the inference layer (infer.open_engine,
`generation.engine`), streams each answer token by token (`send`), and keeps the messages: switching
to another model (`switch("base")`, a run name, a model folder) closes the old engine, opens the new
one and continues the same conversation, so base and tuned can be asked the same follow-up. When the
conversation outgrows the model's context, the oldest turns are dropped (the system prompt stays).
`tailor chat` (cli/chat.py) is a terminal loop over this class; `command()` understands its slash
commands so any front end can offer them.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import TailorConfig
from .config.generation import GenerationConfig
from .errors import DataError, ModelError
from .infer.engine import Delta, Engine

HELP = """commands:
  /model NAME    switch model (base, tuned, a run name under runs/, or a model folder); the conversation is kept
  /system TEXT   set the system prompt (empty: none)
  /reset         forget the conversation (the system prompt stays)
  /save FILE     write the conversation (.jsonl: append one Example line; otherwise one JSON object)
  /help          this list
  /exit          leave (end of input does too)"""


def default_model(cfg: TailorConfig) -> str:
    """"tuned" when the configured run has a tuned model, else "base"."""
    adapter = cfg.run_dir / "adapter"
    return "tuned" if (adapter / "adapter_config.json").exists() or (adapter / "config.json").exists() else "base"


@dataclass
class Reply:
    """What a slash command did: a line to show, and whether the session should end."""

    text: str
    done: bool = False


class ChatSession:
    """One conversation with a switchable model. Not thread-safe: one caller at a time."""

    def __init__(self, cfg: TailorConfig, model: str | None = None, *, system: str | None = None,
                 engine: str | None = None, gen: GenerationConfig | None = None) -> None:
        self.cfg = cfg
        self.gen = gen or cfg.generation
        self.backend = engine
        self.system = system or None
        self.turns: list[dict] = []  # user/assistant messages, oldest first
        self.dropped = 0  # turns dropped so far to fit the context
        self.models_used: list[str] = []
        self.model = ""
        self._engine: Engine | None = None
        self.switch(model or default_model(cfg))

    # ---- the conversation --------------------------------------------------------------------

    @property
    def messages(self) -> list[dict]:
        """The conversation as chat messages (system prompt first, when set)."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [dict(m) for m in self.turns]

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise ModelError("the chat session is closed", fix="open a new ChatSession")
        return self._engine

    def send(self, text: str) -> Iterator[Delta]:
        """Add a user message and stream the model's answer; the answer joins the conversation when
        the stream ends, also when the caller stops it early (the part already shown is kept)."""
        if not text or not text.strip():
            raise DataError("the message is empty", fix="type something, or /help for the commands")
        self.turns.append({"role": "user", "content": text})
        self._fit()
        pieces: list[str] = []
        try:
            for delta in self.engine.stream(self.messages, self.gen):
                pieces.append(delta.text)
                yield delta
        except BaseException:
            if not pieces:  # nothing was answered: the message did not happen
                self.turns.pop()
                raise
            pieces.append(" …")
            raise
        finally:
            if pieces:
                self.turns.append({"role": "assistant", "content": "".join(pieces).strip()})

    def ask(self, text: str) -> str:
        """`send` without streaming: the whole answer."""
        return "".join(d.text for d in self.send(text)).strip()

    def _fit(self) -> None:
        """Drop the oldest turns until the prompt plus max_new_tokens fits the model's context."""
        budget = self.engine.context_length - self.gen.max_new_tokens
        while len(self.turns) > 1 and self.engine.count_tokens(self.messages) > budget:
            drop = 2 if len(self.turns) > 2 and self.turns[0]["role"] == "user" else 1
            del self.turns[:drop]
            self.dropped += drop
        if self.engine.count_tokens(self.messages) > budget:
            self.turns.pop()
            raise DataError(f"the message does not fit the model's context ({self.engine.context_length} tokens "
                            f"with {self.gen.max_new_tokens} kept for the answer)",
                            fix="send a shorter message, or lower generation.max_new_tokens")

    # ---- models and commands -----------------------------------------------------------------

    def switch(self, model: str) -> None:
        """Answer with another model from now on; the conversation is kept. A model that cannot be
        opened leaves the current one in place."""
        from .infer import open_engine

        new = open_engine(self.cfg, model, engine=self.backend)
        if self._engine is not None:
            self._engine.close()
        self._engine, self.model = new, model
        self.models_used.append(model)

    def reset(self) -> None:
        """Forget the conversation; the model and the system prompt stay."""
        self.turns.clear()
        self.dropped = 0

    def save(self, path: str | Path) -> Path:
        """Write the conversation as an Example (`{"messages": [...], "meta": {...}}`): `.jsonl` appends
        one line (collect conversations into a training file), anything else writes one JSON object.
        Written to a temporary name and renamed, so a failure leaves the old file as it was."""
        path = Path(path).expanduser()
        if not self.turns:
            raise DataError("there is no conversation to save yet", where=str(path), fix="say something first")
        row = {"messages": self.messages,
               "meta": {"source": "tailor chat", "models": list(dict.fromkeys(self.models_used))}}
        if path.suffix == ".jsonl":
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            text = old + ("" if not old or old.endswith("\n") else "\n") + json.dumps(row, ensure_ascii=False) + "\n"
        else:
            text = json.dumps(row, indent=1, ensure_ascii=False) + "\n"
        if not path.parent.is_dir():
            raise DataError(f"the folder {path.parent} does not exist", where=str(path), fix="create it first")
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return path

    def command(self, line: str) -> Reply:
        """Run one slash command (see HELP). Errors raise TailorError; the session stays usable."""
        name, _, arg = line.strip().partition(" ")
        arg = arg.strip()
        if name in ("/exit", "/quit"):
            return Reply("bye", done=True)
        if name == "/help":
            return Reply(HELP)
        if name == "/reset":
            self.reset()
            return Reply("conversation cleared")
        if name == "/model":
            if not arg:
                return Reply(f"model: {self.model} ({self.engine.name} engine)")
            self.switch(arg)
            return Reply(f"model: {self.model} ({self.engine.name} engine); conversation kept "
                         f"({len(self.turns)} messages)")
        if name == "/system":
            self.system = arg or None
            return Reply(f"system prompt: {arg}" if arg else "system prompt removed")
        if name == "/save":
            if not arg:
                raise DataError("/save needs a file name", fix="/save chat.jsonl")
            return Reply(f"saved {len(self.turns)} messages to {self.save(arg)}")
        raise DataError(f"unknown command {name}", fix="/help lists the commands")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
