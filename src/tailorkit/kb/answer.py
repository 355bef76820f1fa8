"""Grounded answers: `ask(cfg, question)` retrieves, checks relevance, generates, maps [n] to sources.

Relevance: fused (RRF) scores are ranks, not calibrated similarities, so the "is anything relevant?"
decision uses each hit's dense cosine to the question (an absolute, embedder-specific similarity):
hits under kb.min_score are dropped, and when none is left the model is not called at all and the
answer says the knowledge base does not contain it. The answering model is the bundled model by
default, a tuned adapter (`run=`), any local or Hub model, or an OpenAI-compatible endpoint
(kb.answer_base_url).
"""
from __future__ import annotations

import dataclasses

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import TailorConfig
from ..errors import KBError
from .chunking import embedding_text
from .prompt import (NOT_FOUND, build_messages, cited_numbers, clean_answer, location, special_tokens,
                     strip_invalid_markers)
from .remote import endpoint_errors, endpoint_key, openai_client
from .extract import check_answer, extract
from .search import Searcher
from .store import Filter
from .types import Chunk, Hit

NO_CITATION_NOTE = "the model cited no source; the best-matching source is attached"


@dataclass
class Citation:
    n: int
    doc_id: str
    page: int | None
    line_start: int | None
    line_end: int | None
    heading_path: list[str]
    snippet: str
    score: float  # dense cosine similarity between the question and the source

    @property
    def location(self) -> str:
        chunk = Chunk(self.doc_id, "", 0, self.snippet, self.heading_path, self.page, self.line_start, self.line_end)
        return location(chunk)


@dataclass
class Answer:
    text: str
    citations: list[Citation]
    found: bool
    sources: list[Citation] = field(default_factory=list)  # every source given to the model, numbered
    cited_by_model: bool = False  # False: the model used no valid [n] (the top source was attached), or no model answered
    note: str | None = None
    model: str | None = None
    mode: str = "generative"  # which mode answered: generative | extractive | none (no source was relevant)
    grounding: float | None = None  # auto mode: the generated answer's support in its sources (0-1)


def _citation(n: int, hit: Hit, score: float, snippet_chars: int = 240) -> Citation:
    c = hit.chunk
    snippet = " ".join(c.text.split())
    if len(snippet) > snippet_chars:
        snippet = snippet[:snippet_chars].rsplit(" ", 1)[0] + " …"
    return Citation(n, c.doc_id, c.page, c.line_start, c.line_end, list(c.heading_path), snippet, float(score))


def relevance(searcher: Searcher, question: str, hits: list[Hit]) -> list[float]:
    """Dense cosine of each hit to the question: the store's own when the hit carries it, else computed."""
    scores: list[float | None] = [h.dense_score for h in hits]
    missing = [i for i, s in enumerate(scores) if s is None]
    if missing:
        q = searcher.embedder.embed_query(question)
        vecs = searcher.embedder.embed_documents([embedding_text(hits[i].chunk) for i in missing])
        for i, v in zip(missing, np.asarray(vecs) @ q):
            scores[i] = float(v)
    return [float(s) for s in scores]


# --- answering models -----------------------------------------------------------------------

_ENGINES: dict[tuple, object] = {}
_LOCK = threading.Lock()


def _local_engine(cfg: TailorConfig, ref: str):
    """The engine (infer.open_engine, generation.engine) for a local answering model, opened once per
    process: a tuned adapter / model folder, the project's base model, or any other model reference."""
    from ..infer import open_engine

    key = (ref, cfg.generation.engine, cfg.model.dtype)
    with _LOCK:
        if key in _ENGINES:
            return _ENGINES[key]
        folder = Path(ref).expanduser()
        if (folder / "adapter_config.json").exists() or (folder / "tailorkit.json").exists():
            engine = open_engine(cfg, str(folder))
        elif ref == cfg.model.base:
            engine = open_engine(cfg, "base")
        else:  # another model than the project's: its own tokenizer and template, the same dtype
            model = cfg.model.model_copy(update={"base": ref, "revision": None, "chat_template": None})
            engine = open_engine(cfg.model_copy(update={"model": model}), "base")
        _ENGINES[key] = engine
        return engine


def _generate_local(cfg: TailorConfig, ref: str, messages: list[dict]) -> str:
    engine = _local_engine(cfg, ref)
    return engine.generate([messages], cfg.generation, description="answering")[0].text


def _generate_remote(cfg: TailorConfig, name: str, messages: list[dict]) -> str:
    key = endpoint_key(cfg.kb.answer_api_key_env, "kb.answer_api_key_env", cfg.kb.answer_base_url)
    client = openai_client(cfg.kb.answer_base_url, key, max_retries=2, timeout=120)
    gen = cfg.generation
    with endpoint_errors("answer", cfg.kb.answer_base_url, "kb.answer_base_url", "kb.answer_model"):
        resp = client.chat.completions.create(model=name, messages=messages, temperature=gen.temperature,
                                              top_p=gen.top_p, max_tokens=gen.max_new_tokens)
    return (resp.choices[0].message.content or "").strip()


def _answer_model(cfg: TailorConfig, model: str | None, run: str | None) -> tuple[str, bool]:
    """(model reference, remote?) from --run, --model and the kb section, in that order."""
    if run:
        adapter = cfg.path(cfg.runs_dir) / run / "adapter"
        if not adapter.exists():
            raise KBError(f"run '{run}' has no tuned model", where=str(adapter),
                          fix=f"train it first (tailor train, with train.run_name: {run}) or pick another --run")
        return str(adapter), False
    return model or cfg.kb.answer_model, bool(cfg.kb.answer_base_url)


def ask(cfg: TailorConfig, question: str, k: int | None = None, model: str | None = None, *,
        run: str | None = None, flt: Filter | None = None, searcher: Searcher | None = None) -> Answer:
    """Answer a question from the knowledge base with numbered citations, or say it has no answer."""
    if not question or not question.strip():
        raise KBError("the question is empty", fix='ask something: tailor ask "What is the refund policy?"')
    k = k or cfg.kb.top_k
    own = searcher is None
    searcher = searcher or Searcher(cfg)
    try:
        if searcher.store.count() == 0:
            raise KBError("the knowledge base is empty", where=str(cfg.path(cfg.kb.path)),
                          fix="add documents first: tailor kb add docs/")
        hits = searcher.search(question, k=k, mode="hybrid", flt=flt)
        scores = relevance(searcher, question, hits)
    finally:
        if own:
            searcher.close()
    kept = [(h, s) for h, s in zip(hits, scores) if s >= cfg.kb.min_score]
    if not kept:
        return Answer(NOT_FOUND, [], False, note=f"no source scored at least kb.min_score={cfg.kb.min_score}",
                      mode="none")
    sources = [_citation(n, h, s) for n, (h, s) in enumerate(kept, start=1)]
    chunks = [h.chunk for h, _ in kept]
    mode = cfg.kb.answer_mode
    if mode == "extractive":
        return _extractive(question, chunks, sources, searcher.embedder, None, None)
    ref, remote = _answer_model(cfg, model, run)
    # A local model's own special tokens are defused in the prompt (a remote one: the common ones only).
    # (an engine without a transformers tokenizer, e.g. llama.cpp: the common ones only, too).
    tokenizer = None if remote else getattr(_local_engine(cfg, ref), "tokenizer", None)
    specials = special_tokens(tokenizer) if tokenizer is not None else ()
    messages = build_messages(question, [h.chunk for h, _ in kept], specials)
    if not remote:  # the prompt and the answer must fit the model's context: drop the weakest sources
        engine = _local_engine(cfg, ref)
        budget = engine.context_length - cfg.generation.max_new_tokens
        while len(kept) > 1 and engine.count_tokens(messages) > budget:
            kept = kept[:-1]
            messages = build_messages(question, [h.chunk for h, _ in kept], specials)
        sources = sources[: len(kept)]
        chunk = kept[0][0].chunk
        while (over := engine.count_tokens(messages) - budget) > 0 and len(chunk.text) > 200:
            # one source longer than a small model's context: keep its beginning
            keep = max(200, int(len(chunk.text) * max(0.5, 1 - 1.2 * over / max(1, engine.count_tokens(chunk.text)))))
            chunk = dataclasses.replace(chunk, text=chunk.text[:keep])
            messages = build_messages(question, [chunk], specials)
        chunks = [chunk, *(h.chunk for h, _ in kept[1:])]
    raw = clean_answer(_generate_remote(cfg, ref, messages) if remote else _generate_local(cfg, ref, messages))
    support = None
    if mode == "auto" and NOT_FOUND.lower().rstrip(".") not in raw.lower():
        ok, why, support = check_answer(raw, question, chunks, cfg.kb.grounding_min)
        if not ok:
            return _extractive(question, chunks, sources, searcher.embedder, ref, f"{why}; answered extractively")
    answer = _generative(raw, sources, ref)
    answer.grounding = support
    return answer


def _extractive(question: str, chunks: list[Chunk], sources: list[Citation], embedder, model: str | None,
                note: str | None) -> Answer:
    """The retrieved sentences that best answer the question, each with its [n]."""
    text, numbers = extract(question, chunks, embedder)
    if not text:
        return Answer("(the sources hold no sentence to quote)", [sources[0]], True, sources, False,
                      note=note, model=model, mode="extractive")
    return Answer(text, [sources[n - 1] for n in numbers], True, sources, False, note=note, model=model,
                  mode="extractive")


def _generative(raw: str, sources: list[Citation], ref: str) -> Answer:
    """Map the model's [n] markers to sources (the top source when it cited none)."""
    if not raw:
        return Answer("(the model wrote no answer)", [sources[0]], True, sources, False,
                      note=NO_CITATION_NOTE, model=ref)
    if NOT_FOUND.lower().rstrip(".") in raw.lower():
        return Answer(NOT_FOUND, [], False, sources, note="the model found no answer in the sources", model=ref)
    numbers = cited_numbers(raw, len(sources))
    text = strip_invalid_markers(raw, len(sources)) or raw
    if numbers:
        return Answer(text, [sources[n - 1] for n in numbers], True, sources, True, model=ref)
    return Answer(text, [sources[0]], True, sources, False, note=NO_CITATION_NOTE, model=ref)
