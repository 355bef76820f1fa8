"""BEIR-layout retrieval data (corpus.jsonl, queries.jsonl, qrels.tsv) and the IR metrics we report.

Metrics follow the BEIR / pytrec_eval conventions: nDCG@k with linear gains = graded relevance and
log2(rank + 1) discounts, recall@k = relevant found in the top k / all relevant, MRR@10 = reciprocal
rank of the first relevant document within the top 10 (0 beyond). Queries without a relevant
document in the qrels are not evaluated.

Judgements that name a query or document the files do not hold are counted (`Coverage`), never
dropped silently: the result and the CLI say how many matched, and an evaluation in which no
judgement names both a known query and a known document is an error (it could only score zeros).
A judged document absent from the corpus stays in the recall denominator, as pytrec_eval does.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import KBError

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


@dataclass
class BeirDoc:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class Coverage:
    """How many relevance judgements (qrels lines with score > 0) match the corpus and the queries."""

    qrels: int = 0              # judgements read
    matched: int = 0            # judgements naming a known query and a known document
    unknown_queries: int = 0    # distinct judged query ids absent from queries.jsonl
    unknown_docs: int = 0       # distinct judged doc ids absent from corpus.jsonl

    def summary(self) -> str:
        """One line for the CLI, e.g. '3 of 4 qrels matched (1 unknown query id, 0 unknown doc ids)'."""
        return (f"{self.matched} of {self.qrels} qrels matched ({self.unknown_queries} unknown query "
                f"id{'' if self.unknown_queries == 1 else 's'}, {self.unknown_docs} unknown doc "
                f"id{'' if self.unknown_docs == 1 else 's'})")


@dataclass
class BeirData:
    docs: list[BeirDoc]
    queries: dict[str, str]                 # only queries with at least one relevant document
    qrels: dict[str, dict[str, int]]        # query id -> doc id -> relevance (> 0)
    coverage: Coverage = field(default_factory=Coverage)


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
    coverage = _coverage(rels, set(qs), {d.doc_id for d in docs})
    if coverage.matched == 0:
        raise KBError(f"no judged document is in the corpus: {coverage.summary()}", where=str(qrels),
                      fix="check that the qrels corpus ids match corpus.jsonl _id values")
    return BeirData(docs, kept, {q: rels[q] for q in kept}, coverage)


def _coverage(rels: dict[str, dict[str, int]], query_ids: set[str], doc_ids: set[str]) -> Coverage:
    judged_docs = {d for judged in rels.values() for d in judged}
    return Coverage(qrels=sum(len(j) for j in rels.values()),
                    matched=sum(1 for q, j in rels.items() if q in query_ids for d in j if d in doc_ids),
                    unknown_queries=sum(1 for q in rels if q not in query_ids),
                    unknown_docs=len(judged_docs - doc_ids))


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
