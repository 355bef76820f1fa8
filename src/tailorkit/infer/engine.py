"""The one inference interface every stage generates through (compare, ask, the local teacher, serve, chat).

An `Engine` holds one loaded model (base, tuned, merged or GGUF) and answers chat conversations with a
`GenerationConfig`. Backends: `HFEngine` (transformers, any model, PEFT adapters, GPUs) in `infer/hf.py`;
the llama.cpp backend (GGUF) in `infer/llamacpp.py`. `open_engine()` in `infer/open.py` picks one from
`generation.engine` (auto | hf | llamacpp).

Decoding settings mean the same on every backend: greedy when temperature is 0, repetition penalty and
no-repeat n-gram over the generated tokens only (unless `penalize_prompt`), seeded sampling otherwise.
A backend that cannot honour one documents the difference in its module docstring.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from ..config.generation import GenerationConfig

Message = dict  # {"role": "system"|"user"|"assistant", "content": str}
Conversation = list  # list[Message]


@dataclass
class Generation:
    """One model answer. `n_tokens` counts generated tokens, not the terminator or padding;
    `prompt_tokens` is the rendered prompt's length (0 where a backend does not count it)."""

    text: str
    finish_reason: Literal["stop", "length"]
    n_tokens: int
    prompt_tokens: int = 0


@dataclass
class Delta:
    """One streamed piece of an answer, one per generated token (`text` may be empty while a multi-byte
    character is incomplete). The last delta of a stream carries `finish_reason`."""

    text: str
    finish_reason: Literal["stop", "length"] | None = None
    n_tokens: int = 0
    prompt_tokens: int = 0


class Engine(ABC):
    """A loaded model that answers chat conversations. Thread-safety is the caller's business:
    serve batches requests per engine; everything else calls from one thread."""

    name: str = "engine"  # "hf" | "llamacpp"
    label: str = ""  # what is loaded, for messages ("base", "runs/demo", a path)

    @abstractmethod
    def generate(self, conversations: Sequence[Conversation], gen: GenerationConfig, *,
                 description: str | None = None, batch_size: int = 8,
                 show_progress: bool = True) -> list[Generation]:
        """Answer each conversation (ending before the assistant's turn); results in input order."""

    @abstractmethod
    def stream(self, conversation: Conversation, gen: GenerationConfig) -> Iterator[Delta]:
        """Answer one conversation piece by piece as tokens are generated; closing the iterator
        (or breaking out of it) stops the generation."""

    @abstractmethod
    def count_tokens(self, conversation_or_text: Conversation | str) -> int:
        """Tokens of a text, or of a conversation rendered with the generation prompt."""

    @property
    @abstractmethod
    def context_length(self) -> int:
        """The model's context window in tokens (prompt + answer)."""

    @property
    @abstractmethod
    def stop_ids(self) -> list[int]:
        """Token ids that end an answer (the template's end-of-turn token and the model's eos ids)."""

    def close(self) -> None:
        """Release the model's memory; the engine cannot be used afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SlotDecoder(ABC):
    """Continuous batching, one token step at a time, as both backends implement it (llama.cpp's
    `BatchDecoder`, HF's `HFSlotDecoder`): `admit` a row while `has_room()`, `step()` for every row's next
    token, `drop` a row that is no longer wanted. The server's SlotScheduler drives it request by request;
    `run` drives it over a list of prompts."""

    slots: int
    limit: int  # prompt + answer tokens a row may take
    prefix_reused: int = 0  # prompt tokens not evaluated again (llama.cpp's shared prefixes)

    @property
    @abstractmethod
    def active(self) -> int: ...

    def has_room(self) -> bool:
        return self.active < self.slots

    @abstractmethod
    def admit(self, row: Hashable, prompt: Sequence[int], gen: GenerationConfig) -> None: ...

    @abstractmethod
    def drop(self, row: Hashable) -> None: ...

    @abstractmethod
    def step(self) -> list[tuple[Hashable, int, bool]]:
        """(row, token, finished) per row; finished when the token is an end token or the row's room is
        used up."""

    @abstractmethod
    def close(self) -> None: ...

    def run(self, prompts: Sequence[list[int]], gen: GenerationConfig, done: Callable[[int, list[int]], None],
            order: Sequence[int] | None = None) -> None:
        """Generate for every prompt, admitted in `order` (default: as given) as rows come free; `done(row,
        ids)` as each finishes (ids end with the terminator when the row stopped). A prompt must leave room
        in a row (the caller checks the context)."""
        queue = list(order if order is not None else range(len(prompts)))[::-1]
        ids: dict[int, list[int]] = {}
        while queue or self.active:
            while queue and self.has_room():
                row = queue.pop()
                ids[row] = []
                self.admit(row, prompts[row], gen)
            for row, token, finished in self.step():
                ids[row].append(token)
                if finished:
                    done(row, ids.pop(row))
