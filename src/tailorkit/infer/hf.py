"""The transformers backend: any causal LM (base, PEFT adapter, merged, full fine-tune), CPU or GPU.

Greedy batches decode on the continuous-batching decoder (`batch_decoder`, `hf_slots.py`: rows join and
leave one KV cache, so a finished answer's place goes to the next prompt; the server drives it request by
request); sampling and single prompts use `hf_generate.py` (transformers' generate, left padding, penalties
over generated tokens only, seeded in a forked RNG so concurrent callers do not disturb the process-wide
torch RNG). `generate_rows` (`hf_batch.py`) streams a whole batch, one callback per row and token, for the
server's wave batching (`serve.hf_batching: waves`, sliding-window models). Streaming
runs `generate` in a worker thread with a streamer; closing the stream sets a stopping criterion
so the worker ends at the next token instead of finishing the whole answer.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from ..config.generation import GenerationConfig
from .engine import Conversation, Delta, Engine, Generation
from .hf_batch import RowResult, RowSpec, generate_rows
from .text import IncrementalText
from .hf_generate import count_tokens, generate, terminator_ids


class HFEngine(Engine):
    name = "hf"

    def __init__(self, model, tokenizer, label: str = ""):
        self.model = model
        self.tokenizer = tokenizer
        self.label = label

    def generate(self, conversations: Sequence[Conversation], gen: GenerationConfig, *,
                 description: str | None = None, batch_size: int = 8,
                 show_progress: bool = True) -> list[Generation]:
        """Greedy batches run on the continuous-batching decoder (a finished row's place goes to the next
        prompt at once instead of idling until the batch's longest answer ends); sampling, one prompt at a
        time and sliding-window models run transformers' `generate` (seeded with torch's RNG)."""
        from .hf_slots import supported

        conversations = list(conversations)
        if gen.temperature > 0 or batch_size <= 1 or len(conversations) <= 1 or not supported(self.model):
            return generate(self.model, self.tokenizer, conversations, gen, description=description,
                            batch_size=batch_size, show_progress=show_progress)
        from ..progress import progress
        from .hf_generate import render_prompt

        tok, stops = self.tokenizer, set(self.stop_ids)
        prompts = [render_prompt(tok, conv, i) for i, conv in enumerate(conversations)]
        out: list[Generation | None] = [None] * len(prompts)
        decoder = self.batch_decoder(min(batch_size, len(prompts)),
                                     per_slot=max(self.context_length, max(map(len, prompts)) + gen.max_new_tokens))
        was_training = self.model.training
        with progress(enabled=show_progress) as bar:
            task = bar.add_task(description or "generating", total=len(prompts))

            def done(row: int, ids: list[int]) -> None:
                stopped = bool(ids) and ids[-1] in stops
                kept = ids[:-1] if stopped else ids
                out[row] = Generation(text=tok.decode(kept, skip_special_tokens=True).strip(),
                                      finish_reason="stop" if stopped else "length", n_tokens=len(kept),
                                      prompt_tokens=len(prompts[row]))
                bar.advance(task)

            try:  # longest first, as transformers' batches: rows of a similar length share the cache's width
                decoder.run(prompts, gen, done, order=sorted(range(len(prompts)), key=lambda i: -len(prompts[i])))
            finally:
                decoder.close()
                self.model.train(was_training)
        return out  # type: ignore[return-value]

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
        stops = set(self.stop_ids)
        text = IncrementalText(self.tokenizer)
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
                        yield Delta(text.finish(final.text), final.finish_reason, final.n_tokens,
                                    final.prompt_tokens)
                        return
                    if token_id in stops:
                        continue
                    # one delta per token (text may be empty): consumers see progress and can cancel
                    piece = text.add(token_id)
                    yield Delta(piece, n_tokens=len(text.ids))
        finally:
            cancelled.set()
            worker.join(timeout=30)

    def generate_rows(self, prompts: Sequence[list[int]], specs: Sequence[RowSpec], gen: GenerationConfig, *,
                      on_token=None, cancelled=None) -> list[RowResult]:
        """Token-id prompts in one batch, each row with its own budget, sampling, seed and cancel flag,
        every token streamed to `on_token(row, token_id)` (see infer/hf_batch.py); serve's batcher runs this."""
        return generate_rows(self.model, self.tokenizer, prompts, specs, gen, on_token=on_token, cancelled=cancelled)

    prefix_cache = False  # the slot scheduler's prompt sharing is llama.cpp's

    def batch_decoder(self, slots: int, *, per_slot: int | None = None, shared: bool = False):
        """A continuous-batching decoder over this model (infer/hf_slots.py) for `slots` rows; None when the
        model's cache cannot be batched that way (sliding-window attention)."""
        from .hf_slots import HFSlotDecoder, supported

        if not supported(self.model):
            return None
        return HFSlotDecoder(self.model, self.tokenizer, slots=slots, limit=per_slot or self.context_length,
                             stops=set(self.stop_ids))

    def count_tokens(self, conversation_or_text: Conversation | str) -> int:
        return count_tokens(self.tokenizer, conversation_or_text)

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
