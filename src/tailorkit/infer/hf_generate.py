"""Batched chat generation with transformers, one set of decoding settings (the HF engine's core).

Prompts are rendered with the tokenizer's own chat template (the training template when the
tokenizer came from an adapter) with `add_generation_prompt=True`, left-padded by hand so the
caller's tokenizer keeps its right padding for training, and decoded until the chat template's
terminator. Each result says whether the model stopped by itself ("stop") or ran into the
max_new_tokens cap ("length").
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from ..config.generation import GenerationConfig
from ..errors import DataError
from ..progress import progress
from ..template import stop_token_ids
from .engine import Generation


def terminator_ids(model, tokenizer) -> list[int]:
    """Token ids that end an answer: the chat template's end-of-turn token, the tokenizer's eos and the
    model's generation_config eos ids (see tailorkit.template.stop_token_ids)."""
    gen = getattr(model, "generation_config", None)
    return stop_token_ids(tokenizer, getattr(gen, "eos_token_id", None) if gen is not None else None)


def _hf_generation_config(gen_cfg: GenerationConfig, eos_ids: list[int], pad_id: int):
    """A fresh transformers GenerationConfig: no defaults leak in from either model's own config,
    so base and tuned decode with exactly the same settings. Repetition controls are added as
    logits processors instead (see _penalties)."""
    from transformers import GenerationConfig as HFGenerationConfig

    kwargs = dict(max_new_tokens=gen_cfg.max_new_tokens, eos_token_id=eos_ids, pad_token_id=pad_id,
                  repetition_penalty=None, no_repeat_ngram_size=None)
    if gen_cfg.temperature > 0:
        kwargs.update(do_sample=True, temperature=gen_cfg.temperature, top_p=gen_cfg.top_p, top_k=0)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return HFGenerationConfig(**kwargs)


def _penalties(gen_cfg: GenerationConfig, prompt_width: int):
    """Repetition penalty and no-repeat-n-gram, by default over the generated tokens only.

    transformers applies both to the prompt too, which stops a model from copying the request's
    own words (a Midjourney prompt repeats "a viking warrior with a black iron amulet" verbatim).
    With left padding every prompt in a batch ends at `prompt_width`, so one offset serves all rows.
    """
    from transformers import LogitsProcessor, LogitsProcessorList
    from transformers.generation.logits_process import (NoRepeatNGramLogitsProcessor,
                                                        RepetitionPenaltyLogitsProcessor)

    start = 0 if gen_cfg.penalize_prompt else prompt_width

    class _From(LogitsProcessor):
        def __init__(self, inner):
            self.inner = inner

        def __call__(self, input_ids, scores):
            if input_ids.shape[1] <= start:
                return scores
            return self.inner(input_ids[:, start:], scores)

    procs = []
    if gen_cfg.repetition_penalty != 1.0:
        procs.append(_From(RepetitionPenaltyLogitsProcessor(float(gen_cfg.repetition_penalty))))
    if gen_cfg.no_repeat_ngram_size > 0:
        procs.append(_From(NoRepeatNGramLogitsProcessor(gen_cfg.no_repeat_ngram_size)))
    return LogitsProcessorList(procs)


def render_prompt(tokenizer, conversation: list[dict], index: int) -> list[int]:
    if not isinstance(conversation, list) or not conversation:
        raise DataError(f"conversation {index} must be a non-empty list of messages",
                        where=f"conversations[{index}]", fix="pass [{'role': 'user', 'content': ...}, ...]")
    ids = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                        return_dict=False)
    if ids and isinstance(ids[0], list):  # some tokenizers wrap a single conversation in a batch
        ids = ids[0]
    return list(ids)


def count_tokens(tokenizer, conversation_or_text) -> int:
    """Tokens of a text, or of a conversation rendered with the generation prompt (every backend renders
    prompts with the HF tokenizer, so counts agree across engines)."""
    if isinstance(conversation_or_text, str):
        return len(tokenizer(conversation_or_text, add_special_tokens=False)["input_ids"])
    return len(render_prompt(tokenizer, conversation_or_text, 0))


def _left_pad(batch: list[list[int]], pad_id: int):
    import torch

    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
        mask[row, width - len(ids):] = 1
    return input_ids, mask


def _finish(new_ids: list[int], eos_ids: set[int]) -> tuple[list[int], bool]:
    """Cut the generated ids at the first terminator; True when one was produced."""
    for i, tid in enumerate(new_ids):
        if tid in eos_ids:
            return new_ids[:i], True
    # generate() pads finished rows with pad_id; an unfinished row has no padding to trim.
    return new_ids, False


class _TokenStreamer:
    """transformers' streamer protocol (put/end) reduced to a callback per new token id (batch of 1)."""

    def __init__(self, on_token: Callable[[int], None]):
        self.on_token = on_token
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        for tid in value.reshape(-1).tolist():
            self.on_token(int(tid))

    def end(self) -> None:
        pass


def generate(model, tokenizer, conversations: Sequence[list[dict]], gen_cfg: GenerationConfig, *,
             description: str | None = None, batch_size: int = 8, show_progress: bool = True,
             on_token: Callable[[int], None] | None = None, stopping_criteria=None) -> list[Generation]:
    """Answer each conversation (a list of chat messages ending before the assistant's turn).

    Greedy when gen_cfg.temperature == 0, seeded sampling otherwise; results come back in input order.
    `on_token` (one conversation only) receives each generated token id as it is produced;
    `stopping_criteria` (a transformers StoppingCriteriaList) can end generation early.
    """
    import torch

    conversations = list(conversations)
    if on_token is not None and len(conversations) != 1:
        raise ValueError("on_token streams one conversation at a time")
    if not conversations:
        return []
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos_ids = terminator_ids(model, tokenizer)
    hf_cfg = _hf_generation_config(gen_cfg, eos_ids, pad_id)
    prompts = [render_prompt(tokenizer, conv, i) for i, conv in enumerate(conversations)]
    # Longest first: similar lengths share a batch (less padding) and memory peaks early.
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    results: list[Generation | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.inference_mode(), torch.random.fork_rng(devices=devices), \
                progress(enabled=show_progress) as bar:
            torch.manual_seed(gen_cfg.seed)
            task = bar.add_task(description or "generating", total=len(prompts))
            for start in range(0, len(order), max(1, batch_size)):
                idx = order[start:start + batch_size]
                input_ids, mask = _left_pad([prompts[i] for i in idx], pad_id)
                out = model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                     generation_config=hf_cfg,
                                     logits_processor=_penalties(gen_cfg, input_ids.shape[1]),
                                     streamer=_TokenStreamer(on_token) if on_token is not None else None,
                                     stopping_criteria=stopping_criteria)
                for row, i in enumerate(idx):
                    new_ids = out[row, input_ids.shape[1]:].tolist()
                    kept, stopped = _finish(new_ids, set(eos_ids))
                    text = tokenizer.decode(kept, skip_special_tokens=True).strip()
                    results[i] = Generation(text=text, finish_reason="stop" if stopped else "length",
                                            n_tokens=len(kept), prompt_tokens=len(prompts[i]))
                bar.advance(task, len(idx))
    finally:
        model.train(was_training)
    return [r for r in results if r is not None]
