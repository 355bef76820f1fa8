"""Calibrate kb.min_score: how the dense cosine of the best hit separates answerable questions from
questions the knowledge base cannot answer (all-MiniLM-L6-v2, ingest chunking).

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 nice -n 10 .venv/bin/python benchmarks/bench_kb_min_score.py

Corpus: a SciFact *train* subset (the relevant abstracts of --queries claims plus random others).
- answerable: the cosine of the best chunk of a relevant abstract (what must pass the threshold);
- in-domain, answer removed: the best cosine once the relevant abstracts are taken out (near misses);
- off-topic: everyday questions (HR, IT, trivia) asked of the scientific corpus.
For each threshold it prints the share of answerable claims kept and of off-topic questions refused.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from tailorkit.config.kb import KBConfig
from tailorkit.kb.chunking import chunk_document, embedding_text, token_counter
from tailorkit.kb.embed import get_embedder
from tailorkit.kb.readers import Block, Document

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact-train"
OFF_TOPIC = [
    "How many vacation days do employees get per year?", "What is the guest wifi password?",
    "When does the cafeteria open?", "How do I reset my laptop password?", "Who won the 2018 football world cup?",
    "What is the capital of Mongolia?", "How are travel expenses reimbursed?", "Can I bring my dog to the office?",
    "What is the refund policy for online orders?", "How long is the warranty on the coffee machine?",
    "Who painted the Mona Lisa?", "What is the boiling point of tungsten?", "How do I book a meeting room?",
    "What time does the last train to Berlin leave?", "How much does a parking permit cost?",
    "Which printer is on the third floor?", "What is the dress code for the summer party?",
    "How do I submit my timesheet?", "What are the opening hours of the gym?", "Who is the CEO of the company?",
    "How do I cancel my subscription?", "What is the minimum order for free shipping?",
    "How many moons does Jupiter have?", "What is the tallest building in Europe?",
    "How do I change my delivery address?", "Where do I park my bike?", "What is the notice period for resignation?",
    "How do I install the VPN client?", "Is there a discount for students?", "When is the next public holiday?",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--docs", type=int, default=1000)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # a shared 2-core machine: one thread is faster than two fighting
    corpus = {r["_id"]: r for r in map(json.loads, (DATA / "corpus.jsonl").open(encoding="utf-8"))}
    queries = {r["_id"]: r["text"] for r in map(json.loads, (DATA / "queries.jsonl").open(encoding="utf-8"))}
    qrels: dict[str, set[str]] = {}
    for line in list((DATA / "qrels.tsv").open(encoding="utf-8"))[1:]:
        q, d, s = line.split()
        if int(s) > 0 and d in corpus:
            qrels.setdefault(q, set()).add(d)
    rng = random.Random(0)
    qids = sorted(q for q in qrels if q in queries)
    qids = rng.sample(qids, min(args.queries, len(qids)))
    docs = sorted({d for q in qids for d in qrels[q]})
    others = [d for d in corpus if d not in set(docs)]
    docs += rng.sample(others, max(0, args.docs - len(docs)))
    kb = KBConfig()
    counter = token_counter(kb.embedder)
    chunks = []
    for d in docs:
        doc = Document(d, Path(d), "v", [Block(corpus[d]["text"])], corpus[d]["title"] or None)
        chunks.extend(chunk_document(doc, counter, kb.chunk_size, kb.chunk_overlap))
    emb = get_embedder(kb)
    vecs = emb.embed_documents([embedding_text(c) for c in chunks], batch_size=64)
    owner = np.array([c.doc_id for c in chunks])
    answerable, near_miss, off_topic = [], [], []
    for q in qids:
        cos = vecs @ emb.embed_query(queries[q])
        rel = np.isin(owner, list(qrels[q]))
        answerable.append(float(cos[rel].max()))
        near_miss.append(float(cos[~rel].max()))
    for text in OFF_TOPIC:
        off_topic.append(float((vecs @ emb.embed_query(text)).max()))
    pct = lambda xs: " ".join(f"p{p}={np.percentile(xs, p):.3f}" for p in (5, 25, 50, 75, 95))  # noqa: E731
    print(f"{len(docs)} abstracts, {len(chunks)} chunks, {len(qids)} claims, {len(OFF_TOPIC)} off-topic questions")
    print(f"answerable (best relevant chunk): {pct(answerable)}")
    print(f"in-domain, answer removed (best): {pct(near_miss)}")
    print(f"off-topic (best):                 {pct(off_topic)}")
    print("threshold  answerable kept  near-miss refused  off-topic refused")
    for t in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        kept = np.mean(np.array(answerable) >= t)
        nm = np.mean(np.array(near_miss) < t)
        off = np.mean(np.array(off_topic) < t)
        print(f"{t:9.2f}  {kept:15.3f}  {nm:17.3f}  {off:17.3f}")


if __name__ == "__main__":
    main()
