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
from collections.abc import Iterator, Sequence
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
