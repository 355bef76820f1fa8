"""Retrieval quality on SciFact (train split): dense vs BM25 vs hybrid, and what each setting buys.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TAILOR_QUIET=1 nice -n 10 .venv/bin/python benchmarks/bench_kb_scifact.py

Everything runs through kb.evaluate (chunking as ingest does, the bundled all-MiniLM-L6-v2, a scratch
Qdrant Edge store, the Searcher's fusion). Embeddings are cached in --cache, so only the first run
embeds the corpus (minutes on 2 CPU cores); later runs take about a minute per chunking setting.
Prints: the main table at the shipped defaults; fusion settings side by side; chunking and title
ablations; BM25 ablations; and a check that the store's BM25 equals a plain in-memory BM25.
Tune on the train split only: the test split is for checking that the choice carries over.
"""
from __future__ import annotations

import argparse
import math
from collections import Counter
from pathlib import Path

import numpy as np

from tailorkit.config import TailorConfig
from tailorkit.config.kb import KBConfig
from tailorkit.kb.beir import METRICS, BeirData, load_beir, mean_metrics
from tailorkit.kb.embed import get_embedder
from tailorkit.kb.evaluate import EvalRun, chunk_corpus, doc_ranking, prepare_eval, score_run
from tailorkit.kb.sparse import BM25Encoder

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact-train"


def _row(label: str, m: dict[str, float]) -> str:
    return f"  {label:44s}" + "".join(f"{m[k]:>12.4f}" for k in METRICS)


def _header(title: str) -> None:
    print(f"\n{title}\n  {'':44s}" + "".join(f"{k:>12s}" for k in METRICS))


def reference_bm25(data: BeirData, texts: list[str], doc_of: list[str], enc: BM25Encoder) -> dict[str, list[str]]:
    """Plain BM25 (Lucene idf, same tokens) in memory: the yardstick for the store's sparse search."""
    import scipy.sparse as sp

    toks = [enc.tokens(t) for t in texts]
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, ts in enumerate(toks):
        norm = enc.k1 * (1 - enc.b + enc.b * len(ts) / enc.avgdl)
        for t, tf in Counter(ts).items():
            rows.append(i), cols.append(vocab.setdefault(t, len(vocab))), vals.append(tf * (enc.k1 + 1) / (tf + norm))
    mat = sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(vocab)))
    df = np.bincount(cols, minlength=len(vocab))
    idf = np.log(1 + (len(texts) - df + 0.5) / (df + 0.5))
    out = {}
    for qid, q in data.queries.items():
        qv = np.zeros(len(vocab))
        for t, n in Counter(t for t in enc.tokens(q) if t in vocab).items():
            qv[vocab[t]] = n * idf[vocab[t]]
        s = mat @ qv
        seen: dict[str, None] = {}
        for i in np.argsort(-s, kind="stable")[:400]:
            if s[i] <= 0:
                break
            seen.setdefault(doc_of[i], None)
        out[qid] = list(seen)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR folder with corpus.jsonl, queries.jsonl, qrels.tsv")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "tailorkit" / "kb-eval")
    ap.add_argument("--quick", action="store_true", help="only the main table (no ablations)")
    args = ap.parse_args()

    data = load_beir(args.data / "corpus.jsonl", args.data / "queries.jsonl", args.data / "qrels.tsv")
    base = KBConfig()
    emb = get_embedder(base)
    print(f"SciFact {args.data.name}: {len(data.docs)} documents, {len(data.queries)} judged queries; "
          f"embedder {emb.name}; MRR is MRR@10")

    def prepare(chunk_size: int | None = None, title: bool = True, use_dense: bool = True, **kb) -> EvalRun:
        cfg = TailorConfig(root=args.cache, kb=base.model_copy(update=kb))
        return prepare_eval(cfg, None, None, None, chunk_size=chunk_size, title=title, cache_dir=args.cache,
                            embedder=emb, data=data, use_dense=use_dense)

    def at_defaults(run: EvalRun, modes=("dense", "bm25", "hybrid")) -> dict[str, dict[str, float]]:
        return score_run(run, modes, fusion=base.fusion, rrf_k=base.rrf_k, dense_weight=base.dense_weight)

    main_run = prepare()
    s = main_run.settings
    _header(f"Defaults: {main_run.n_chunks} chunks of <= {s['chunk_size']} tokens (overlap {s['chunk_overlap']}), "
            f"title prepended; BM25 k1={s['bm25_k1']} b={s['bm25_b']} avgdl={s['bm25_avgdl']} stemmed; "
            f"fusion {base.fusion} dense_weight={base.dense_weight}")
    metrics = at_defaults(main_run)
    for mode in ("dense", "bm25", "hybrid"):
        print(_row(mode, metrics[mode]))
    if args.quick:
        return

    _header("Fusion settings (same retrieval runs)")
    for fusion, k, w in [("weighted", 60, 0.5), ("weighted", 60, 0.4), ("weighted", 60, 0.6), ("rrf", 60, 0.5),
                         ("rrf", 20, 0.5), ("rrf", 60, 0.4), ("rrf", 60, 0.6)]:
        label = f"hybrid {fusion}" + (f" k={k}" if fusion == "rrf" else "") + f" dense_weight={w}"
        print(_row(label, score_run(main_run, ("hybrid",), fusion=fusion, rrf_k=k, dense_weight=w)["hybrid"]))

    _header("Chunking (title prepended; fusion at defaults)")
    for size in (0, 128):
        run = prepare(chunk_size=size)
        m = at_defaults(run)
        label = "whole abstracts" if size == 0 else f"{size}-token chunks ({run.n_chunks})"
        for mode in ("dense", "bm25", "hybrid"):
            print(_row(f"{label}: {mode}", m[mode]))
        if size == 0:
            print(_row(f"{label}: hybrid rrf k=60", score_run(run, ("hybrid",), fusion="rrf")["hybrid"]))

    _header("BM25 ablations (default chunking)")
    run = prepare(bm25_k1=1.2, bm25_b=0.75)
    for mode, m in at_defaults(run, ("bm25", "hybrid")).items():
        print(_row(f"textbook k1=1.2 b=0.75: {mode}", m))
    for label, title, kb in [("no stemming", True, {"bm25_stem": False}), ("no stopword removal", True, {"bm25_stopwords": False}),
                             ("no title prefix", False, {})]:
        print(_row(f"{label}: bm25", at_defaults(prepare(title=title, use_dense=False, **kb), ("bm25",))["bm25"]))

    _header("Store BM25 vs a plain in-memory BM25 (same tokens, Lucene idf)")
    chunks, texts = chunk_corpus(data, emb.name, main_run.settings["chunk_size"], main_run.settings["chunk_overlap"], True)
    enc = BM25Encoder(base.bm25_k1, base.bm25_b, main_run.settings["bm25_avgdl"], stem=base.bm25_stem,
                      stopwords=base.bm25_stopwords)
    ref = reference_bm25(data, texts, [c.doc_id for c in chunks], enc)
    store = {q: doc_ranking(h) for q, h in main_run.sparse.items()}
    same10 = sum(ref[q][:10] == store[q][:10] for q in data.queries) / len(data.queries)
    print(_row("store (Qdrant sparse, idf modifier)", mean_metrics(store, data.qrels)))
    print(_row("reference", mean_metrics(ref, data.qrels)))
    print(f"  identical top-10 document lists: {same10:.1%} of queries (differences are float32 ties)")


if __name__ == "__main__":
    main()
