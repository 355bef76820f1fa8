"""What the server can serve, loaded lazily and once: engines with their schedulers, the knowledge
base searcher, the embedder.

Model names: `base` (the `model:` section), `tuned` (the configured run, when it has a model), every
trained run by its folder name under runs/ (a run named base, tuned or kb is reachable as `tuned` only),
and `kb` (grounded answers, when a knowledge base exists). `tuned` and its run's own name share one
loaded engine. The embedder (kb.embedder) answers /v1/embeddings.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from ..config import TailorConfig
from ..infer.engine import Engine
from .batcher import BatchScheduler, Scheduler, SerialScheduler, SlotScheduler, Stats

RESERVED = ("base", "tuned", "kb")


def _has_model(folder: Path) -> bool:
    return (folder / "adapter_config.json").exists() or (folder / "config.json").exists()


@dataclass
class Served:
    """A loaded model: the engine, its scheduler, and a lock for tokenizing requests."""

    name: str
    engine: Engine
    scheduler: Scheduler
    token_lock: threading.Lock

    def encode_chat(self, messages: list[dict]) -> list[int]:
        from ..infer.hf_generate import render_prompt

        with self.token_lock:
            return render_prompt(self.engine.tokenizer, messages, 0)

    def encode_text(self, text: str) -> list[int]:
        with self.token_lock:
            return list(self.engine.tokenizer(text, add_special_tokens=True)["input_ids"])

    @property
    def batched(self) -> bool:
        """Whether requests reach the scheduler as token ids, batched with others (HF and llama.cpp)."""
        return isinstance(self.scheduler, (BatchScheduler, SlotScheduler))


class ModelPool:
    """Everything the server answers with. `stop()` ends every generation at its next token."""

    def __init__(self, cfg: TailorConfig, engine: str | None = None) -> None:
        self.cfg = cfg
        self.engine_choice = engine or cfg.serve.engine or cfg.generation.engine
        self.stopping = threading.Event()
        self._served: dict[str, Served] = {}  # by model folder ("" = base)
        self._load_lock = threading.Lock()
        self._kb_lock = threading.Lock()
        self._searcher = None
        self._embedder = None

    # --- names ---------------------------------------------------------------------------

    def runs(self) -> dict[str, Path]:
        """Trained runs by name -> their model folder."""
        root = self.cfg.path(self.cfg.runs_dir)
        if not root.is_dir():
            return {}
        return {d.name: d / "adapter" for d in sorted(root.iterdir())
                if d.name not in RESERVED and _has_model(d / "adapter")}

    def kb_exists(self) -> bool:
        from ..kb.session import kb_folder

        return bool(self.cfg.kb.url) or (kb_folder(self.cfg) / self.cfg.kb.collection).exists()

    def chat_models(self) -> list[str]:
        names = ["base"]
        if _has_model(self.cfg.run_dir / "adapter"):
            names.append("tuned")
        names.extend(self.runs())
        if self.kb_exists():
            names.append("kb")
        return names

    @property
    def embedding_model(self) -> str:
        return self.cfg.kb.embedder

    def all_models(self) -> list[str]:
        return self.chat_models() + [self.embedding_model]

    # --- loading -------------------------------------------------------------------------

    def _folder(self, name: str) -> Path | None:
        if name == "base":
            return None
        if name == "tuned":
            return (self.cfg.run_dir / "adapter").resolve()
        return self.runs()[name].resolve()

    def get(self, name: str) -> Served:
        """The loaded model `name` (base, tuned or a run), loading it on first use."""
        from ..infer.open import open_engine

        key = str(self._folder(name) or "")
        with self._load_lock:
            if key not in self._served:
                which = "base" if name == "base" else "tuned" if name == "tuned" else name
                engine = open_engine(self.cfg, which, engine=self.engine_choice)
                self._served[key] = Served(name, engine, self._scheduler(engine, name), threading.Lock())
            return self._served[key]

    def _scheduler(self, engine: Engine, name: str) -> Scheduler:
        from ..infer import hf_slots
        from ..infer.hf import HFEngine
        from ..infer.llamacpp import LlamaCppEngine

        serve = self.cfg.serve
        if isinstance(engine, HFEngine) and serve.hf_batching == "continuous" and hf_slots.supported(engine.model):
            # one growing cache for the whole batch: every row may use the model's whole context
            return SlotScheduler(engine, self.cfg.generation, self.stopping, label=name, slots=serve.max_batch_size,
                                 per_slot=engine.context_length)
        if isinstance(engine, HFEngine):
            return BatchScheduler(engine, self.cfg.generation, self.stopping, label=name,
                                  max_batch=serve.max_batch_size, wait_s=serve.batch_wait_ms / 1000)
        if isinstance(engine, LlamaCppEngine):
            return SlotScheduler(engine, self.cfg.generation, self.stopping, label=name, slots=serve.llamacpp_slots,
                                 context=serve.llamacpp_context)
        return SerialScheduler(engine, self.cfg.generation, self.stopping, label=name)

    def answer_kb(self, question: str):
        """A grounded answer from one long-lived searcher (one request at a time: the store and the
        answering model are shared)."""
        from ..kb.answer import ask
        from ..kb.search import Searcher

        with self._kb_lock:
            if self.stopping.is_set():
                raise RuntimeError("the server is shutting down")
            if self._searcher is None:
                self._searcher = Searcher(self.cfg)
            return ask(self.cfg, question, searcher=self._searcher)

    def embed(self, texts: list[str]):
        from ..kb.embed import get_embedder

        with self._kb_lock:
            if self._embedder is None:
                self._embedder = get_embedder(self.cfg.kb)
            return self._embedder.embed_documents(texts, description="embedding")

    def count_text_tokens(self, texts: list[str]) -> int:
        """Tokens of texts under the embedder's tokenizer (usage in /v1/embeddings)."""
        tok = getattr(getattr(self._embedder, "model", None), "tokenizer", None)
        if tok is None:
            return sum(len(t.split()) for t in texts)
        return sum(len(tok(t, add_special_tokens=True)["input_ids"]) for t in texts)

    # --- state ---------------------------------------------------------------------------

    def stats(self) -> dict[str, dict]:
        return {served.name: vars(served.scheduler.stats).copy() for served in self._served.values()}

    def total(self) -> Stats:
        out = Stats()
        for served in self._served.values():
            for k, v in vars(served.scheduler.stats).items():
                setattr(out, k, max(getattr(out, k), v) if k == "largest_batch" else getattr(out, k) + v)
        return out

    def stop(self) -> None:
        """Stop every generation at its next token and refuse new ones (SIGTERM, shutdown)."""
        self.stopping.set()

    def close(self) -> None:
        self.stop()
        for served in self._served.values():
            served.scheduler.thread.join(timeout=5)
            served.engine.close()
        self._served.clear()
        with self._kb_lock:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None
