"""Retrieval evaluation: metrics by hand, a small BEIR corpus written here, and SciFact (slow)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tailorkit.config import TailorConfig
from tailorkit.config.kb import KBConfig
from tailorkit.errors import KBError
from tailorkit.kb.beir import load_beir, query_metrics
from tailorkit.kb.embed import get_embedder
from tailorkit.kb.evaluate import kb_eval

DOCS = {
    "d1": ("Photosynthesis", "Plants convert sunlight, water and carbon dioxide into glucose and oxygen."),
    "d2": ("Volcanoes", "Magma rises through the crust and erupts as lava and volcanic ash."),
    "d3": ("Tides", "The gravitational pull of the moon causes ocean tides twice a day."),
    "d4": ("Vaccines", "Vaccines train the immune system to recognise a pathogen without causing disease."),
    "d5": ("Glaciers", "Glaciers carve valleys as compacted snow turns to ice and slowly flows downhill."),
    "d6": ("Bread", "Yeast ferments sugars in dough, releasing carbon dioxide that makes bread rise."),
}
QUERIES = {"q1": "how do plants make glucose from sunlight", "q2": "what makes lava erupt from volcanoes",
           "q3": "why does the moon cause ocean tides", "q4": "unjudged query about nothing"}
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d3", 2)]


def write_beir(folder: Path) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n" for k, (t, x) in DOCS.items()), encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items()), encoding="utf-8")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS),
                                      encoding="utf-8")
    return folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels.tsv"


def test_query_metrics_by_hand():
    m = query_metrics(["x", "a", "y", "b"], {"a": 1, "b": 1})
    assert m["mrr@10"] == 0.5
    assert m["recall@10"] == 1.0
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert query_metrics([], {"a": 1}) == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    graded = query_metrics(["b", "a"], {"a": 2, "b": 1})
    assert graded["ndcg@10"] == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_small_corpus_gives_perfect_metrics_and_uses_the_cache(tmp_path):
    corpus, queries, qrels = write_beir(tmp_path / "beir")
    cfg = TailorConfig(root=tmp_path, kb=KBConfig())
    emb = get_embedder(cfg.kb)
    first = kb_eval(cfg, corpus, queries, qrels, embedder=emb)
    assert first.n_docs == 6 and first.n_queries == 3 and first.n_chunks == 6  # q4 has no judgement
    for mode in ("dense", "bm25", "hybrid"):
        assert first.metrics[mode] == {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    assert not first.cache_hit
    second = kb_eval(cfg, corpus, queries, qrels, modes=("bm25", "hybrid"), embedder=emb)
    assert second.cache_hit and list(second.metrics) == ["bm25", "hybrid"]
    assert second.rows()[0] == ["mode", "ndcg@10", "recall@10", "recall@100", "mrr@10"]
    assert (tmp_path / ".tailor" / "cache" / "kb-eval").is_dir()


def test_bm25_only_eval_never_loads_the_embedder(tmp_path):
    corpus, queries, qrels = write_beir(tmp_path / "beir")
    # An endpoint nobody serves: loading this embedder would fail, so passing proves it was skipped.
    cfg = TailorConfig(root=tmp_path, kb=KBConfig(embedder="openai:none", embed_base_url="http://127.0.0.1:9/v1"))
    res = kb_eval(cfg, corpus, queries, qrels, modes=("bm25",))
    assert list(res.metrics) == ["bm25"] and res.metrics["bm25"]["ndcg@10"] == 1.0
    with pytest.raises(KBError, match="mode"):
        kb_eval(cfg, corpus, queries, qrels, modes=("sparse",))


def test_bad_beir_files_name_file_and_line(tmp_path):
    corpus, queries, qrels = write_beir(tmp_path / "beir")
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\tmaybe\n", encoding="utf-8")
    with pytest.raises(KBError) as exc:
        load_beir(corpus, queries, qrels)
    assert f"{qrels}:2:score" in exc.value.one_line()
    corpus.write_text('{"_id": "d1", "text": "ok"}\n{"_id": "d2"\n', encoding="utf-8")
    with pytest.raises(KBError, match=f"{corpus}:2"):
        load_beir(corpus, queries, qrels)
    with pytest.raises(KBError, match="does not exist"):
        load_beir(tmp_path / "missing.jsonl", queries, qrels)
    qrels.write_text("other\td1\t1\n", encoding="utf-8")
    corpus.write_text('{"_id": "d1", "text": "ok"}\n', encoding="utf-8")
    with pytest.raises(KBError, match="no query has a relevant document"):
        load_beir(corpus, queries, qrels)


def test_qrels_that_match_nothing_fail_and_partial_matches_are_counted(tmp_path, monkeypatch, capsys):
    from tailorkit.cli import main

    corpus, queries, qrels = write_beir(tmp_path / "beir")
    # Every judged doc id is absent from the corpus (e.g. "doc1" vs "d1"): this used to score zeros, exit 0.
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tdoc1\t1\nq2\tdoc2\t1\n", encoding="utf-8")
    with pytest.raises(KBError, match="0 of 2 qrels matched"):
        load_beir(corpus, queries, qrels)
    monkeypatch.chdir(tmp_path)
    args = ["kb", "eval", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels), "--modes", "bm25"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no judged document is in the corpus" in err[0], err

    # One unknown query id (q9) and one unknown doc id (d9) next to three good judgements: counted, reported.
    qrels.write_text("q1\td1\t1\nq2\td2\t1\nq3\td3\t2\nq9\td1\t1\nq1\td9\t1\n", encoding="utf-8")
    cov = load_beir(corpus, queries, qrels).coverage
    assert (cov.qrels, cov.matched, cov.unknown_queries, cov.unknown_docs) == (5, 3, 1, 1)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 of 5 qrels matched (1 unknown query id, 1 unknown doc id)" in out


@pytest.mark.slow
def test_scifact_train_hybrid_beats_both_retrievers(scifact_dir, tmp_path):
    cfg = TailorConfig(root=tmp_path, kb=KBConfig())
    res = kb_eval(cfg, scifact_dir / "corpus.jsonl", scifact_dir / "queries.jsonl", scifact_dir / "qrels.tsv",
                  cache_dir=Path.home() / ".cache" / "tailorkit" / "kb-eval")
    ndcg = {m: v["ndcg@10"] for m, v in res.metrics.items()}
    assert ndcg["hybrid"] > max(ndcg["dense"], ndcg["bm25"]), ndcg
    assert ndcg["hybrid"] > 0.70, ndcg
