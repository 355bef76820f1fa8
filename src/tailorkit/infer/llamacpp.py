"""The llama.cpp backend: a GGUF model (optionally with a GGUF LoRA adapter) through llama-cpp-python.

Prompts are rendered with the training chat template by the HF tokenizer saved with the model (so they
are token-identical to the HF engine's) and fed to llama.cpp as token ids, never as text. Answers are
decoded with the same tokenizer.

Decoding is our own loop over llama.cpp's logits rather than llama-cpp-python's samplers, so settings
mean what they mean on the HF engine (`infer/hf_generate.py`): llama.cpp's repeat_penalty looks at the
prompt too (the last 64 tokens) and has no no-repeat-n-gram, and llama-cpp-python's custom-logits hook is
marked as probably broken in its own source. Per token: the repetition penalty (HF's formula: divide a
positive logit, multiply a negative one) and the no-repeat n-gram ban over the GENERATED tokens (all
tokens with `penalize_prompt`), then greedy argmax at temperature 0, else temperature and top-p
sampling with a numpy generator seeded by `seed`. Greedy decoding therefore picks the same token as
HF whenever the two backends' logits agree on the maximum; seeded sampling is reproducible per
backend but draws different random numbers from torch's (documented difference).

One llama.cpp context serves one generation at a time (a lock) and keeps its KV cache between calls: a
prompt that starts like the previous prompt + answer (the chat template's system turn; in a chat, every
earlier turn) evaluates only what follows the shared prefix, as llama.cpp's server does with
`cache_prompt` (measured on 16 Midjourney requests: 29 of their ~45 prompt tokens are the system turn).
`generate` over several prompts decodes up to batch_size of them together in a context of its own
(llamacpp_batch.py), as the server's continuous batching does (`batch_decoder`). Closing a stream stops the
generation at once (decoding runs in the consumer's thread).
"""
from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..config.generation import GenerationConfig
from ..errors import DataError, ModelError
from ..progress import progress
from .engine import Conversation, Delta, Engine, Generation
from .gguf_meta import gguf_metadata
from .hf_generate import count_tokens, render_prompt
from .llamacpp_build import check_llama_build
from .sampling import penalize, pick
from .text import IncrementalText

INSTALL = "pip install 'tailorkit[llamacpp]' (builds llama-cpp-python from source, about 5 minutes)"
DEFAULT_MAX_CTX = 8192
_WARNED: set[str] = set()  # build-check warnings already shown


def gguf_stop_ids(meta: dict) -> list[int]:
    keys = ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
    return [int(meta[k]) for k in keys if isinstance(meta.get(k), int)]


class LlamaCppEngine(Engine):
    name = "llamacpp"

    def __init__(self, gguf_path: str | Path, tokenizer, *, lora_path: str | Path | None = None,
                 stop_ids: Sequence[int] | None = None, n_ctx: int | None = None,
                 n_threads: int | None = None, label: str = ""):
        try:
            import llama_cpp
        except ImportError as exc:
            raise ModelError(f"llama-cpp-python is not installed ({exc})", fix=f"run: {INSTALL}") from None
        self._llama_cpp = llama_cpp
        self.gguf_path, self.lora_path = Path(gguf_path), Path(lora_path) if lora_path else None
        for path in (self.gguf_path, self.lora_path):
            if path is not None and not path.is_file():
                raise ModelError(f"no GGUF file at {path}", where=str(path), fix="run `tailor export --gguf`")
        meta = gguf_metadata(self.gguf_path)
        check_llama_build(self.gguf_path, meta=meta)
        arch = meta.get("general.architecture", "llama")
        trained_ctx = int(meta.get(f"{arch}.context_length", 2048))
        self.tokenizer = tokenizer
        self.label = label or str(self.gguf_path)
        self.n_threads = n_threads or len(os.sched_getaffinity(0)) or 1
        # the GGUF's own end tokens, plus `stop_ids` (default: the tokenizer's eos); the export check
        # passes [] to see exactly what llama.cpp and Ollama users get
        ids = (list(stop_ids) if stop_ids is not None else [tokenizer.eos_token_id]) + gguf_stop_ids(meta)
        self._stops = [i for i in dict.fromkeys(ids) if isinstance(i, int)]
        try:
            self.llm = llama_cpp.Llama(model_path=str(self.gguf_path),
                                       lora_path=str(self.lora_path) if self.lora_path else None,
                                       n_ctx=n_ctx or min(trained_ctx, DEFAULT_MAX_CTX), n_batch=512,
                                       n_threads=self.n_threads, logits_all=False,
                                       verbose=False)
        except (ValueError, RuntimeError) as exc:
            what = f"{self.gguf_path}" + (f" with the adapter {self.lora_path}" if self.lora_path else "")
            raise ModelError(f"llama.cpp cannot load {what} ({exc})", where=str(self.gguf_path),
                             fix="re-export it with `tailor export --gguf`; an adapter GGUF must match its base") from None
        self._lock = threading.Lock()
        # reuse the KV cells of a prompt prefix already evaluated (see the module docstring); a recurrent
        # or hybrid model's state cannot be cut back to a prefix. Public so a benchmark can turn it off.
        self.prefix_cache = not (llama_cpp.llama_model_is_recurrent(self.llm.model)
                                 or llama_cpp.llama_model_is_hybrid(self.llm.model))
        self.prefix_reused = 0  # prompt tokens not evaluated again thanks to the prefix cache

    # -- decoding -------------------------------------------------------------------------------
    def _logits(self) -> np.ndarray:
        ptr = self._llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).copy()

    def _prefill(self, prompt: list[int]) -> None:
        """Evaluate `prompt`, reusing the KV cache of the longest prefix it shares with what the context
        holds from the previous call (the chat template's system turn; in a chat, every earlier turn).
        At least the last prompt token is evaluated, for its logits."""
        llm = self.llm
        cached = llm.input_ids[:llm.n_tokens] if self.prefix_cache else ()
        keep = 0
        for a, b in zip(cached, prompt[:-1]):
            if a != b:
                break
            keep += 1
        self.prefix_reused += keep
        llm.n_tokens = keep  # llama-cpp-python's eval() drops the KV cells from n_tokens on
        llm.eval(prompt[keep:])

    def token_ids(self, prompt: Sequence[int], gen: GenerationConfig) -> Iterator[int]:
        """Generated token ids for a prompt of token ids, the terminator included when one comes.
        Hold `self._lock` while iterating."""
        if self.llm is None:
            raise ModelError("the llama.cpp engine is closed", fix="open a new engine")
        prompt = list(prompt)
        room = self.llm.n_ctx() - len(prompt)
        if room <= 0:
            raise DataError(f"the prompt has {len(prompt)} tokens, more than the context of {self.llm.n_ctx()}",
                            fix="shorten the conversation")
        rng = np.random.default_rng(gen.seed)
        stops = set(self._stops)
        generated: list[int] = []
        self._prefill(prompt)
        for _ in range(min(gen.max_new_tokens, room)):
            token = pick(penalize(self._logits(), generated, prompt, gen), gen, rng)
            yield token
            if token in stops:
                return
            generated.append(token)
            self.llm.eval([token])

    def answer_ids(self, prompt: Sequence[int], gen: GenerationConfig) -> list[int]:
        """All generated ids for a prompt of token ids (the terminator last when the model stopped)."""
        with self._lock:
            return list(self.token_ids(prompt, gen))

    def _answer(self, prompt: list[int], gen: GenerationConfig) -> Generation:
        return self._finish(prompt, self.answer_ids(prompt, gen))

    def _finish(self, prompt: list[int], ids: list[int]) -> Generation:
        stopped = bool(ids) and ids[-1] in self._stops
        kept = ids[:-1] if stopped else ids
        text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
        return Generation(text=text, finish_reason="stop" if stopped else "length", n_tokens=len(kept),
                          prompt_tokens=len(prompt))

    # -- the Engine interface ---------------------------------------------------------------------
    def generate(self, conversations: Sequence[Conversation], gen: GenerationConfig, *,
                 description: str | None = None, batch_size: int = 8,
                 show_progress: bool = True) -> list[Generation]:
        """Answers in order. More than one prompt and batch_size > 1: up to batch_size sequences decoded
        together (llamacpp_batch.py); otherwise one at a time on the engine's own context."""
        prompts = [render_prompt(self.tokenizer, conv, i) for i, conv in enumerate(conversations)]
        for prompt in prompts:
            if len(prompt) >= self.llm.n_ctx():
                raise DataError(f"the prompt has {len(prompt)} tokens, more than the context of {self.llm.n_ctx()}",
                                fix="shorten the conversation")
        out: list[Generation | None] = [None] * len(prompts)
        with progress(enabled=show_progress) as bar:
            task = bar.add_task(description or "generating (llama.cpp)", total=len(prompts))
            if batch_size > 1 and len(prompts) > 1:
                def done(row: int, ids: list[int]) -> None:
                    out[row] = self._finish(prompts[row], ids)
                    bar.advance(task)

                longest = max(map(len, prompts))
                with self._lock:
                    decoder = self.batch_decoder(min(batch_size, len(prompts)),
                                                 per_slot=min(self.llm.n_ctx(), longest + gen.max_new_tokens),
                                                 shared=self.prefix_cache)
                    try:
                        decoder.run(prompts, gen, done)
                        self.prefix_reused += decoder.prefix_reused
                    finally:
                        decoder.close()
            else:
                for row, prompt in enumerate(prompts):
                    out[row] = self._answer(prompt, gen)
                    bar.advance(task)
        return out  # type: ignore[return-value]

    def batch_decoder(self, slots: int, *, per_slot: int | None = None, shared: bool = False):
        """A `BatchDecoder` (llamacpp_batch.py) of `slots` sequences on this engine's model and adapter, each
        up to `per_slot` tokens (default: the engine's context), with this engine's decoding rule. It has
        its own llama.cpp context, so it may run beside this engine's (the server's continuous batching)."""
        from .llamacpp_batch import BatchDecoder

        if self.llm is None:
            raise ModelError("the llama.cpp engine is closed", fix="open a new engine")
        return BatchDecoder(self._llama_cpp, self.llm, slots=slots, per_slot=per_slot or self.llm.n_ctx(),
                            n_threads=self.n_threads, adapter_path=str(self.lora_path) if self.lora_path else None,
                            stops=set(self._stops), penalize=penalize, pick=pick, shared=shared)

    def stream_ids(self, prompt: Sequence[int], gen: GenerationConfig) -> Iterator[int]:
        """`token_ids` on the engine's own context, holding its lock while the iterator is open."""
        with self._lock:
            yield from self.token_ids(prompt, gen)

    def stream(self, conversation: Conversation, gen: GenerationConfig) -> Iterator[Delta]:
        prompt = render_prompt(self.tokenizer, conversation, 0)
        deltas = IncrementalText(self.tokenizer)
        with self._lock:
            stopped = False
            for token in self.token_ids(prompt, gen):
                if token in self._stops:
                    stopped = True
                    break
                yield Delta(deltas.add(token), n_tokens=len(deltas.ids))
        text = self.tokenizer.decode(deltas.ids, skip_special_tokens=True).strip()
        yield Delta(deltas.finish(text), "stop" if stopped else "length", len(deltas.ids), len(prompt))

    def count_tokens(self, conversation_or_text: Conversation | str) -> int:
        return count_tokens(self.tokenizer, conversation_or_text)

    @property
    def context_length(self) -> int:
        return self.llm.n_ctx()

    @property
    def stop_ids(self) -> list[int]:
        return list(self._stops)

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None


def open_llamacpp(cfg, which: str, *, required: bool, device: str | None = None) -> Engine | None:
    """A llama.cpp engine for `which` (see infer/open.py), or None when llama.cpp is not the right or a
    possible choice and `required` is False: llama-cpp-python missing, a GPU device, no GGUF to be had."""
    from .gguf_files import find_gguf

    def unavailable(what: str, fix: str):
        if required:
            raise ModelError(f"generation.engine is llamacpp but {what}", fix=fix)
        return None

    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return unavailable("llama-cpp-python is not installed", f"run: {INSTALL}, or set generation.engine: hf")
    if device is None:
        from ..models import pick_device

        device = pick_device()
    if str(device).startswith("cuda") and not required:
        return None
    try:
        source = find_gguf(cfg, which, write=True)
    except ModelError as exc:
        if required:
            raise
        source = None
    if source is None:
        return unavailable(f"no GGUF of '{which}' exists or can be written",
                           "run `tailor export --gguf`, or set generation.engine: hf")
    try:
        check_llama_build(source.model)
    except ModelError as exc:
        if required:
            raise
        if str(exc) not in _WARNED:  # once per process, not once per model opened
            _WARNED.add(str(exc))
            warnings.warn(f"{exc} Using the HF engine instead.", stacklevel=2)
        return None
    return LlamaCppEngine(source.model, source.tokenizer, lora_path=source.lora, stop_ids=source.stop_ids,
                          label=which)
