"""The transformers backend: any causal LM (base, PEFT adapter, merged, full fine-tune), CPU or GPU.

Batched generation lives in `hf_generate.py` (left padding, penalties over generated tokens only,
seeded in a forked RNG so concurrent callers do not disturb the process-wide torch RNG). Streaming
runs `generate` in a worker thread with a streamer; closing the stream sets a stopping criterion
so the worker ends at the next token instead of finishing the whole answer.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from ..config.generation import GenerationConfig
from .engine import Conversation, Delta, Engine, Generation
from .hf_generate import generate, render_prompt, terminator_ids


class HFEngine(Engine):
    name = "hf"

    def __init__(self, model, tokenizer, label: str = ""):
        self.model = model
        self.tokenizer = tokenizer
        self.label = label

    def generate(self, conversations: Sequence[Conversation], gen: GenerationConfig, *,
                 description: str | None = None, batch_size: int = 8,
                 show_progress: bool = True) -> list[Generation]:
        return generate(self.model, self.tokenizer, conversations, gen, description=description,
                        batch_size=batch_size, show_progress=show_progress)

    def stream(self, conversation: Conversation, gen: GenerationConfig) -> Iterator[Delta]:
        from transformers import StoppingCriteria, StoppingCriteriaList

        cancelled = threading.Event()

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return cancelled.is_set()

        pieces: list = []
        ready = threading.Condition()
        done: dict = {}

        def on_token(token_id: int | None, final=None) -> None:
            with ready:
                pieces.append((token_id, final))
                ready.notify()

        def work() -> None:
            try:
                res = generate(self.model, self.tokenizer, [conversation], gen, batch_size=1,
                               show_progress=False, on_token=on_token,
                               stopping_criteria=StoppingCriteriaList([_Cancel()]))[0]
                on_token(None, res)
            except BaseException as exc:  # surfaced in the consumer's thread
                done["error"] = exc
                on_token(None, None)

        worker = threading.Thread(target=work, name="hf-stream", daemon=True)
        worker.start()
        tok = self.tokenizer
        stops = set(self.stop_ids)
        ids: list[int] = []
        sent = ""
        try:
            while True:
                with ready:
                    while not pieces:
                        ready.wait()
                    batch, pieces[:] = list(pieces), []
                for token_id, final in batch:
                    if token_id is None:
                        if "error" in done:
                            raise done["error"]
                        text = final.text if final is not None else sent
                        tail = text[len(sent):] if text.startswith(sent) else ""
                        yield Delta(tail, final.finish_reason, final.n_tokens, final.prompt_tokens)
                        return
                    if token_id in stops:
                        continue
                    ids.append(token_id)
                    text = tok.decode(ids, skip_special_tokens=True).lstrip()
                    piece = ""
                    # hold back an incomplete UTF-8 sequence until the next token completes it
                    if not text.endswith("\ufffd") and text.startswith(sent) and len(text) > len(sent):
                        piece, sent = text[len(sent):], text
                    # one delta per token (text may be empty): consumers see progress and can cancel
                    yield Delta(piece, n_tokens=len(ids))
        finally:
            cancelled.set()
            worker.join(timeout=30)

    def count_tokens(self, conversation_or_text: Conversation | str) -> int:
        if isinstance(conversation_or_text, str):
            return len(self.tokenizer(conversation_or_text, add_special_tokens=False)["input_ids"])
        return len(render_prompt(self.tokenizer, conversation_or_text, 0))

    @property
    def context_length(self) -> int:
        cfg = getattr(self.model, "config", None)
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(cfg, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return 2048

    @property
    def stop_ids(self) -> list[int]:
        return terminator_ids(self.model, self.tokenizer)

    def close(self) -> None:
        import gc

        self.model = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
