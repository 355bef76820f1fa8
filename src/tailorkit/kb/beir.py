"""BEIR-layout retrieval data (corpus.jsonl, queries.jsonl, qrels.tsv) and the IR metrics we report.

Metrics follow the BEIR / pytrec_eval conventions: nDCG@k with linear gains = graded relevance and
log2(rank + 1) discounts, recall@k = relevant found in the top k / all relevant, MRR@10 = reciprocal
rank of the first relevant document within the top 10 (0 beyond). Queries without a relevant
document in the qrels are not evaluated.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import KBError

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


@dataclass
class BeirDoc:
    doc_id: str
    title: str
    text: str


@dataclass
class BeirData:
    docs: list[BeirDoc]
    queries: dict[str, str]                 # only queries with at least one relevant document
    qrels: dict[str, dict[str, int]]        # query id -> doc id -> relevance (> 0)


def _jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    if not path.is_file():
        raise KBError(f"{path} does not exist", where=str(path), fix="pass the BEIR file (corpus.jsonl / queries.jsonl)")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise KBError(f"invalid JSON ({exc.msg})", where=f"{path}:{n}", fix="one JSON object per line") from None
            missing = [k for k in required if k not in row]
            if not isinstance(row, dict) or missing:
                raise KBError(f"missing field '{missing[0] if missing else required[0]}'", where=f"{path}:{n}",
                              fix=f"BEIR rows need {', '.join(required)}")
            rows.append(row)
    return rows


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise KBError(f"{path} does not exist", where=str(path), fix="pass the BEIR qrels file (qrels/test.tsv)")
    out: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if len(parts) == 4:  # TREC style: qid 0 docid rel
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise KBError(f"expected 3 tab-separated columns, found {len(parts)}", where=f"{path}:{n}",
                              fix="use query-id<TAB>corpus-id<TAB>score")
            try:
                rel = int(float(parts[2]))
            except ValueError:
                if n == 1:
                    continue  # header line
                raise KBError(f"score '{parts[2]}' is not a number", where=f"{path}:{n}:score",
                              fix="use an integer relevance") from None
            if rel > 0:
                out.setdefault(parts[0], {})[parts[1]] = rel
    return out


def load_beir(corpus: Path, queries: Path, qrels: Path) -> BeirData:
    """Read a BEIR corpus, its queries and qrels; keep queries that have a relevant document."""
    docs = [BeirDoc(str(r["_id"]), str(r.get("title") or ""), str(r.get("text") or ""))
            for r in _jsonl(Path(corpus), ("_id", "text"))]
    rels = _qrels(Path(qrels))
    qs = {str(r["_id"]): str(r["text"]) for r in _jsonl(Path(queries), ("_id", "text"))}
    kept = {qid: text for qid, text in qs.items() if qid in rels}
    if not docs:
        raise KBError("the corpus is empty", where=str(corpus), fix="pass a corpus.jsonl with documents")
    if not kept:
        raise KBError("no query has a relevant document in the qrels", where=str(qrels),
                      fix="check that the qrels query ids match queries.jsonl _id values")
    return BeirData(docs, kept, {q: rels[q] for q in kept})


def query_metrics(ranking: Sequence[str], rel: dict[str, int]) -> dict[str, float]:
    """Metrics of one ranked list of doc ids against one query's relevance judgements."""
    gains = [rel.get(d, 0) for d in ranking]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]) if g)
    ideal = sorted(rel.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    first = next((i for i, g in enumerate(gains[:10]) if g), None)
    n_rel = len(rel)
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "recall@10": sum(1 for g in gains[:10] if g) / n_rel,
        "recall@100": sum(1 for g in gains[:100] if g) / n_rel,
        "mrr@10": 1.0 / (first + 1) if first is not None else 0.0,
    }


def mean_metrics(rankings: dict[str, Sequence[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean of each metric over the judged queries (a query with no ranking scores 0)."""
    totals = dict.fromkeys(METRICS, 0.0)
    for qid, rel in qrels.items():
        for name, value in query_metrics(rankings.get(qid, []), rel).items():
            totals[name] += value
    return {name: total / len(qrels) for name, total in totals.items()}
