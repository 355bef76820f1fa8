"""Several llama.cpp sequences decoded together: what `LlamaCppEngine.generate` runs for a batch of prompts.

llama-cpp-python's `Llama` object decodes one sequence per context (its context is made with
`n_seq_max = 1`), so a batch of prompts would run one after the other. On a CPU a forward pass over 8
tokens of 8 sequences costs little more than over 1 (the weights are read once), so this decoder makes
its own context on the `Llama`'s model with one KV slot per sequence (`n_seq_max = slots`) and calls
`llama_decode` with one token of every running sequence per step: continuous batching, a finished
sequence's slot is cleared and given the next prompt at once. Measured on the bundled 135M model
(Q4_0, 2 cores, 16 prompts x 32 tokens): 80 tok/s one at a time, 150 with 4 slots, 190 with 16.

Prompt prefixes are shared (`shared=True`): one more sequence holds the KV cells of a recent prompt, and
a prompt that starts with at least MIN_SHARED of its tokens (the chat template's system turn, a teacher's
instructions and examples) gets them copied into its slot (`llama_memory_seq_cp`, a copy of the slot's
KV buffer, no forward pass) and evaluates only the rest; the rows admitted between two steps evaluate
their rest together, in one llama_decode. A prompt that shares less is evaluated at once and becomes the
held one. (Tried: one unified KV cache for all slots, where sharing costs no copy. It was faster, 122-127 vs
107-113 tok/s on 16 prompts, but changed 14 of 16 greedy answers against one-at-a-time decoding.)

Decoding per sequence is exactly the single-sequence rule of `llamacpp.py` (its `penalize` and `pick`,
a numpy generator seeded with `seed` per row); only the floating-point summation order of a batched
pass differs, so greedy answers can differ from one-at-a-time ones where two tokens nearly tie.
"""
from __future__ import annotations

import ctypes
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..config.generation import GenerationConfig
from ..errors import ModelError
from .engine import SlotDecoder

CTX_ROUND = 256  # KV cells per slot are rounded up to this
MIN_SHARED = 8  # a shared prefix shorter than this is evaluated again (not worth the copy)


@dataclass
class _Slot:
    row: Hashable  # the caller's key for this sequence
    prompt: list[int]
    room: int  # tokens this row may still generate
    gen: GenerationConfig
    rng: np.random.Generator
    generated: list[int] = field(default_factory=list)
    logits: np.ndarray | None = None


class BatchDecoder(SlotDecoder):
    """A llama.cpp context with `slots` sequences on `llm`'s model (and its LoRA adapter, if any).

    Two ways to drive it: `run` (a list of prompts, as `generate` does), or `admit` a row whenever a slot
    is free and call `step` until it is done (the server: requests join the running batch as they come)."""

    def __init__(self, llama_cpp, llm, *, slots: int, per_slot: int, n_threads: int, adapter_path: str | None,
                 stops: set[int], penalize: Callable, pick: Callable, shared: bool = False):
        """per_slot: the most tokens (prompt + answer) a row may reach; a slot's KV cells are rounded up.
        stops, penalize, pick: the end tokens and the per-token rule of `llamacpp.py`.
        shared: keep one more sequence for a prompt prefix to share (see the module docstring)."""
        self._lc, self.slots, self.limit = llama_cpp, slots, per_slot
        self._stops, self._penalize, self._pick = stops, penalize, pick
        self.per_slot = -(-per_slot // CTX_ROUND) * CTX_ROUND
        self._prefix_seq = slots if shared else None
        self._active: dict[int, _Slot] = {}  # by sequence id
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.per_slot * (slots + shared)
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = slots + shared
        params.kv_unified = False  # one slot per sequence: no attention over other rows' cells
        params.n_threads = params.n_threads_batch = n_threads
        if hasattr(params, "flash_attn_type"):
            params.flash_attn_type = 0  # disabled: measured slower on CPU (71 vs 94 tok/s)
        params.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self.ctx:
            raise ModelError(f"llama.cpp could not make a context for {slots} sequences of {self.per_slot} tokens",
                             fix="lower compare.batch_size (serve.llamacpp_slots) or generation.max_new_tokens")
        self._adapter = None
        if adapter_path:
            self._adapter = llama_cpp.llama_adapter_lora_init(llm.model, adapter_path.encode("utf-8"))
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._adapter)
            scales = (ctypes.c_float * 1)(1.0)
            if not self._adapter or llama_cpp.llama_set_adapters_lora(self.ctx, adapters, 1, scales):
                self.close()
                raise ModelError(f"llama.cpp cannot apply the adapter {adapter_path}",
                                 fix="re-export it with `tailor export --gguf`")
        self._batch = llama_cpp.llama_batch_init(params.n_batch, 0, slots)
        self._n_batch = params.n_batch
        self._mem = llama_cpp.llama_get_memory(self.ctx)
        self._n_vocab = llm.n_vocab()
        self.prefix_reused = 0  # prompt tokens not evaluated again thanks to the shared prefix
        self._prefix_ids: list[int] = []  # the prompt whose KV cells the prefix sequence holds
        self._pending: dict[int, int] = {}  # admitted sequences whose prompt waits, from this position

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, slot, wants logits) entries (at most n_batch)."""
        b = self._batch
        for k, (token, pos, seq, logits) in enumerate(entries):
            b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = token, pos, 1, logits
            b.seq_id[k][0] = seq
        b.n_tokens = len(entries)
        code = self._lc.llama_decode(self.ctx, b)
        if code != 0:
            raise ModelError(f"llama.cpp failed to decode a batch (llama_decode returned {code})",
                             fix="lower compare.batch_size, or set generation.engine: hf")

    def _logits(self, index: int) -> np.ndarray:
        ptr = self._lc.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).copy()

    def _evaluate(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Decode (token, position, slot, wants logits) entries in chunks of n_batch; each flagged entry's
        logits become its slot's next-token logits."""
        for begin in range(0, len(entries), self._n_batch):
            chunk = entries[begin:begin + self._n_batch]
            self._decode(chunk)
            for k, (_, _, seq, wanted) in enumerate(chunk):
                if wanted:
                    self._active[seq].logits = self._logits(k)

    def _prompt_entries(self, seq: int, start: int) -> list[tuple[int, int, int, bool]]:
        """The entries of slot `seq`'s prompt from position `start`, logits wanted for its last token."""
        prompt = self._active[seq].prompt
        return [(t, pos, seq, pos == len(prompt) - 1) for pos, t in enumerate(prompt[start:], start)]

    # -- one row at a time: admit / step / drop ------------------------------------------------------
    @property
    def active(self) -> int:
        return len(self._active)

    def admit(self, row: Hashable, prompt: Sequence[int], gen: GenerationConfig) -> None:
        """Give `row` a free slot. A prompt that shares the held prefix gets its KV cells and waits for
        the next `step`, which evaluates every such prompt's own tokens in one batch; any other prompt is
        evaluated now (and held, for the next ones to share). It must leave room in a slot (`per_slot`)."""
        seq = next(s for s in range(self.slots) if s not in self._active)
        prompt = list(prompt)
        if len(prompt) >= self.limit:
            raise ModelError(f"a prompt of {len(prompt)} tokens does not fit a slot of {self.limit}",
                             fix="shorten the conversation")
        slot = _Slot(row, prompt, min(gen.max_new_tokens, self.limit - len(prompt)), gen,
                     np.random.default_rng(gen.seed))
        mem, lc = self._mem, self._lc
        lc.llama_memory_seq_rm(mem, seq, -1, -1)
        start = self._common(prompt)
        self._active[seq] = slot
        if start:  # the held prompt's KV cells, then drop what this prompt does not share
            lc.llama_memory_seq_cp(mem, self._prefix_seq, seq, -1, -1)
            lc.llama_memory_seq_rm(mem, seq, start, -1)
            self.prefix_reused += start
            self._pending[seq] = start
            return
        self._evaluate(self._prompt_entries(seq, 0))
        if self._prefix_seq is not None:  # this prompt is the one to share from now on
            lc.llama_memory_seq_rm(mem, self._prefix_seq, -1, -1)
            lc.llama_memory_seq_cp(mem, seq, self._prefix_seq, -1, -1)  # applied before the next decode
            self._prefix_ids = prompt

    def _common(self, prompt: list[int]) -> int:
        """Tokens `prompt` shares with the held prefix (leaving it one of its own), 0 below MIN_SHARED."""
        if self._prefix_seq is None:
            return 0
        held, n, k = self._prefix_ids, min(len(self._prefix_ids), len(prompt) - 1), 0
        while k < n and held[k] == prompt[k]:
            k += 1
        return k if k >= MIN_SHARED else 0

    def drop(self, row: Hashable) -> None:
        """Stop generating for `row` (its client went away); its slot is free for the next admit."""
        for seq, slot in list(self._active.items()):
            if slot.row == row:
                del self._active[seq]
                self._pending.pop(seq, None)

    def _flush(self) -> None:
        """Evaluate the waiting prompts' own tokens, several rows per llama_decode (n_batch entries)."""
        entries = [e for seq, start in self._pending.items() for e in self._prompt_entries(seq, start)]
        self._pending.clear()
        self._evaluate(entries)

    def step(self) -> list[tuple[Hashable, int, bool]]:
        """Evaluate the prompts admitted since the last step, then pick the next token of every active row
        and evaluate them in one llama_decode.
        Returns (row, token, finished) per row: finished when the token is an end token (which is then
        not evaluated) or the row's room is used up; a finished row's slot is free at once."""
        if self._pending:
            self._flush()
        events: list[tuple[Hashable, int, bool]] = []
        entries: list[tuple[int, int, int, bool]] = []
        for seq, slot in list(self._active.items()):
            token = self._pick(self._penalize(slot.logits, slot.generated, slot.prompt, slot.gen), slot.gen, slot.rng)
            finished = token in self._stops or len(slot.generated) + 1 >= slot.room
            events.append((slot.row, token, finished))
            if finished:
                del self._active[seq]
                continue
            slot.generated.append(token)
            entries.append((token, len(slot.prompt) + len(slot.generated) - 1, seq, True))
        self._evaluate(entries)  # at most `slots` entries: one llama_decode
        return events

    def close(self) -> None:
        if getattr(self, "_batch", None) is not None:
            self._lc.llama_batch_free(self._batch)
            self._batch = None
        if self.ctx:
            self._lc.llama_free(self.ctx)
            self.ctx = None
        if self._adapter:
            self._lc.llama_adapter_lora_free(self._adapter)
            self._adapter = None
