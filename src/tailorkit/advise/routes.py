"""The pilot's routes and their measurements: how a model answers the held-out rows with or without retrieval.

Retrieval = the k training rows whose requests are nearest to the test request (MiniLM cosine),
shown as demonstrations inside the user turn, plus knowledge-base passages when documents are
given. Demonstrations go into the user turn (not as earlier chat turns) so the reference answer is
the conversation's only assistant turn and its NLL means the same on every route. With passages,
an answer that is not grounded in them is replaced by the cited passage sentences that answer the
request (the kb's extractive fallback, kb.answer_mode auto), so the facts route gives real answers
on a small model too.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import TailorConfig
from ..data.example import Example
from ..kb.types import Chunk

ROUTES = ("base", "base+retrieval", "tuned", "tuned+retrieval")
LABELS = {"base": "base model", "base+retrieval": "base + retrieval (no training)", "tuned": "fine-tuned",
          "tuned+retrieval": "fine-tuned + retrieval"}


@dataclass
class Context:
    """What retrieval adds to one test row."""

    demos: list[Example] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)


def nearest_demos(train: list[Example], test: list[Example], k: int, embedder: str) -> list[list[Example]]:
    """The k training rows nearest to each test request (cosine of MiniLM embeddings), nearest first."""
    from ..embedders import load_sentence_transformer

    if k == 0 or not train:
        return [[] for _ in test]
    st = load_sentence_transformer(embedder)
    a = st.encode([ex.user for ex in train], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    b = st.encode([ex.user for ex in test], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    order = np.argsort(-(b @ a.T), axis=1)[:, :k]
    return [[train[j] for j in row] for row in order]


def kb_passages(cfg: TailorConfig, test: list[Example], n: int) -> tuple[list[list[Chunk]], Any]:
    """Up to n relevant passages (dense cosine >= kb.min_score) per test request, and the embedder."""
    from ..kb.answer import relevance
    from ..kb.search import Searcher

    out = []
    with Searcher(cfg) as searcher:
        for ex in test:
            hits = searcher.search(ex.user, k=n, mode="hybrid")
            scores = relevance(searcher, ex.user, hits)
            out.append([h.chunk for h, s in zip(hits, scores) if s >= cfg.kb.min_score])
        return out, searcher.embedder


def conversation(ex: Example, ctx: Context | None) -> list[dict]:
    """The prompt of one route for one row: the row's own prompt, or with demonstrations and passages."""
    if ctx is None or (not ctx.demos and not ctx.chunks):
        return ex.prompt_messages()
    from ..kb.prompt import build_messages

    system = ex.system
    user = ex.user
    if ctx.chunks:
        kb_system, kb_user = build_messages(ex.user, ctx.chunks)
        system = f"{system}\n\n{kb_system['content']}" if system else kb_system["content"]
        user = kb_user["content"]
    if ctx.demos:
        shown = "\n\n".join(f"Request: {d.user}\nAnswer: {d.assistant}" for d in ctx.demos)
        user = (f"Examples of requests and the answers wanted:\n\n{shown}\n\n"
                + (user if ctx.chunks else f"Request: {ex.user}\nAnswer in the same way as the examples.")
                )
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def run_route(cfg: TailorConfig, engine, name: str, test: list[Example], contexts: list[Context] | None,
              embedder=None) -> dict[str, Any]:
    """Answer every test row on one route; returns texts, timings, prompt sizes and reference NLL."""
    from ..evaluate import metrics as M
    from ..kb.extract import check_answer, extract

    convs = [conversation(ex, contexts[i] if contexts else None) for i, ex in enumerate(test)]
    start = time.perf_counter()
    gens = engine.generate(convs, cfg.generation, description=f"{name}: generating", batch_size=cfg.compare.batch_size)
    seconds = time.perf_counter() - start
    texts = [g.text for g in gens]
    modes = ["generative"] * len(texts)
    for i, ex in enumerate(test):
        chunks = contexts[i].chunks if contexts else []
        if chunks and embedder is not None and not check_answer(texts[i], ex.user, chunks, cfg.kb.grounding_min)[0]:
            text, _ = extract(ex.user, chunks, embedder)
            if text:
                texts[i], modes[i] = text, "extractive"
    scored = [Example(messages=conv + [{"role": "assistant", "content": ex.assistant}], meta=ex.meta)
              for conv, ex in zip(convs, test)]
    max_len = min(max(engine.count_tokens(c) for c in convs) + 512, engine.context_length)
    nll = M.reference_nll(engine.model, engine.tokenizer, scored, max(max_len, cfg.data.max_length),
                          batch_size=cfg.compare.batch_size, description=f"{name}: scoring references")
    return {"texts": texts, "modes": modes, "seconds": seconds,
            "prompt_tokens": [engine.count_tokens(c) for c in convs], "nll": nll,
            "finish": [g.finish_reason for g in gens]}


def measure(cfg: TailorConfig, run: dict[str, Any], test: list[Example], checker) -> dict[str, Any]:
    """The same figures for every route: checks, reference NLL, similarity, prompt tokens, latency."""
    from ..checks import run_checks
    from ..evaluate import metrics as M

    refs = [ex.assistant for ex in test]
    sims = M.embedding_similarity(run["texts"], refs, cfg.compare.embedder)
    total_nll = sum(s for s, _ in run["nll"])
    total_tok = sum(n for _, n in run["nll"])
    out: dict[str, Any] = {
        "similarity": float(np.mean(sims)),
        "rouge_l": float(np.mean([M.rouge_l(t, r) for t, r in zip(run["texts"], refs)])),
        "nll": total_nll / max(1, total_tok),
        "prompt_tokens": float(statistics.mean(run["prompt_tokens"])),
        "latency_s": run["seconds"] / max(1, len(test)),
        "extractive_rate": run["modes"].count("extractive") / max(1, len(test)),
        "never_stops_rate": float(np.mean([M.never_stops(t, f) for t, f in zip(run["texts"], run["finish"])])),
    }
    if checker is not None:
        rep = run_checks(checker, {"route": run["texts"]})
        out["checks"] = {c.label: c.pass_rate["route"] for c in rep.checks}
        out["checks_all"] = rep.all_pass_rate["route"]
    out["rows"] = [{"text": t, "mode": m, "similarity": s} for t, m, s in zip(run["texts"], run["modes"], sims)]
    return out
