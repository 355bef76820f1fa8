"""Ingest: idempotent, incremental (only changed documents re-embedded), sync removes what is gone,
bad files reported and skipped without losing stored data, interrupted runs redone."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb_files import CountingEmbedder, make_docx, make_pdf
from tailorkit.config import build_config
from tailorkit.errors import KBError
from tailorkit.kb.catalog import kb_list, kb_rm, kb_stats
from tailorkit.kb.ingest import kb_add, kb_sync
from tailorkit.kb.manifest import Manifest
from tailorkit.kb.session import manifest_path
from tailorkit.kb.store import Filter, open_store


def _cfg(root: Path, **kb):
    return build_config({"kb": {"chunk_size": 48, "chunk_overlap": 8, **kb}}, root=root)


def _corpus(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "leave.md").write_text("# Leave\n\n## Vacation\n" + "Employees get 25 vacation days per year. " * 12 +
                                   "\n\n## Sick leave\nSick leave needs a note after three days.\n")
    (docs / "cafe.txt").write_text("The cafeteria opens at 8am and closes at 3pm.\n")
    (docs / "sub" / "guide.html").write_text("<h1>Guide</h1><p>Badges are issued at the front desk.</p>")
    (docs / "sub" / "report.pdf").write_bytes(make_pdf(["Revenue grew 12 percent.", "Costs fell 3 percent."]))
    make_docx(docs / "sub" / "travel.docx", "Travel", [(1, "Flights", ["Economy class only."])])
    (docs / "faq.csv").write_text("title,text\nRefunds,Refunds take 30 days.\nHours,Open 9 to 5.\n")
    (docs / ".hidden.txt").write_text("never ingested")
    return docs


def _index(cfg, emb):
    store = open_store(cfg.kb, cfg.root, emb.dim)
    try:
        return store.doc_index(), store.doc_chunk_counts()
    finally:
        store.close()


ALL = ["docs/cafe.txt", "docs/faq.csv#1", "docs/faq.csv#2", "docs/leave.md", "docs/sub/guide.html",
       "docs/sub/report.pdf", "docs/sub/travel.docx"]


@pytest.mark.parametrize("url", [None, "local:qdrant-local"], ids=["edge", "qdrant-client"])
def test_add_twice_changes_nothing_and_embeds_nothing(tmp_path, url):
    cfg, emb = _cfg(tmp_path, url=url), CountingEmbedder()
    docs = _corpus(tmp_path)
    first = kb_add(cfg, [docs], embedder=emb)
    assert sorted(first.added) == ALL and first.chunks_embedded == len(emb.texts) == first.chunks
    assert first.documents == len(ALL) and first.chunks > len(ALL)  # leave.md is several chunks
    calls, before = emb.calls, _index(cfg, emb)
    second = kb_add(cfg, [docs], embedder=emb)
    assert emb.calls == calls and second.chunks_embedded == 0
    assert sorted(second.unchanged) == ALL and not second.added and not second.updated
    assert _index(cfg, emb) == before and second.chunks == first.chunks


def test_edit_replaces_only_that_documents_chunks_and_sync_removes_deleted(tmp_path):
    cfg, emb = _cfg(tmp_path), CountingEmbedder()
    docs = _corpus(tmp_path)
    kb_add(cfg, [docs], embedder=emb)
    hashes, counts = _index(cfg, emb)
    (docs / "cafe.txt").write_text("The cafeteria opens at 7am now.\nIt serves soup on Fridays.\n")
    n = len(emb.texts)
    res = kb_add(cfg, [docs], embedder=emb)
    assert res.updated == ["docs/cafe.txt"] and not res.added
    assert all("cafeteria" in t or "soup" in t for t in emb.texts[n:])  # only the edited file embedded
    new_hashes, new_counts = _index(cfg, emb)
    assert new_hashes["docs/cafe.txt"] != hashes["docs/cafe.txt"]
    assert {d: h for d, h in new_hashes.items() if d != "docs/cafe.txt"} == \
        {d: h for d, h in hashes.items() if d != "docs/cafe.txt"}
    assert res.chunks == sum(new_counts.values())  # old version's chunks are gone, not duplicated

    (docs / "sub" / "report.pdf").unlink()
    calls = emb.calls
    res = kb_sync(cfg, docs, embedder=emb)
    assert res.removed == ["docs/sub/report.pdf"] and emb.calls == calls
    after, after_counts = _index(cfg, emb)
    assert "docs/sub/report.pdf" not in after
    assert sum(after_counts.values()) == sum(new_counts.values()) - new_counts["docs/sub/report.pdf"]


def test_row_files_update_row_by_row(tmp_path):
    cfg, emb = _cfg(tmp_path), CountingEmbedder()
    rows = tmp_path / "kb.jsonl"
    rows.write_text('{"id": "a", "text": "Alpha is first."}\n{"id": "b", "text": "Beta is second."}\n'
                    '{"id": "c", "text": "Gamma is third."}\n')
    cfg = _cfg(tmp_path, id_column="id")
    assert sorted(kb_add(cfg, [rows], embedder=emb).added) == ["kb.jsonl#a", "kb.jsonl#b", "kb.jsonl#c"]
    rows.write_text('{"id": "a", "text": "Alpha is first."}\n{"id": "c", "text": "Gamma changed."}\n')
    n = len(emb.texts)
    res = kb_add(cfg, [rows], embedder=emb)
    assert res.updated == ["kb.jsonl#c"] and res.removed == ["kb.jsonl#b"] and res.unchanged == ["kb.jsonl#a"]
    assert len(emb.texts) - n == 1 and "Gamma changed." in emb.texts[-1]


def test_bad_files_are_reported_and_keep_their_stored_version(tmp_path):
    cfg, emb = _cfg(tmp_path), CountingEmbedder()
    docs = _corpus(tmp_path)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n")
    res = kb_add(cfg, [docs], embedder=emb)
    reasons = {Path(s.path).name: s.reason for s in res.skipped}
    assert set(reasons) == {"broken.pdf", "photo.png"}
    assert "PDF" in reasons["broken.pdf"] and "unsupported" in reasons["photo.png"]
    assert sorted(res.added) == ALL  # everything else went in
    # a stored document whose file turns corrupt keeps its stored version
    (docs / "sub" / "report.pdf").write_bytes(b"garbage")
    before = _index(cfg, emb)
    res = kb_sync(cfg, docs, embedder=emb)
    assert "report.pdf" in {Path(s.path).name for s in res.skipped} and not res.removed
    assert _index(cfg, emb) == before


def test_interrupted_ingest_is_redone_and_leaves_each_document_once(tmp_path):
    cfg, emb = _cfg(tmp_path, ingest_batch=4), CountingEmbedder()
    docs = _corpus(tmp_path)
    real = open_store(cfg.kb, cfg.root, emb.dim)

    class CtrlCOnThirdUpsert:
        def __init__(self, inner):
            self.inner, self.upserts = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def upsert(self, chunks, dense, sparse):
            self.upserts += 1
            if self.upserts == 3:
                raise KeyboardInterrupt
            self.inner.upsert(chunks, dense, sparse)

    with pytest.raises(KeyboardInterrupt):
        kb_add(cfg, [docs], embedder=emb, store=CtrlCOnThirdUpsert(real))
    real.close()
    manifest = Manifest(manifest_path(cfg))
    pending = [r.doc_id for r in manifest.pending()]
    manifest.close()
    assert pending  # the run died between 'pending' and 'complete'
    res = kb_add(cfg, [docs / "cafe.txt"], embedder=emb)  # any rerun finishes the interrupted documents
    assert set(pending) <= set(res.recovered)
    hashes, counts = _index(cfg, emb)
    clean_cfg, clean_emb = _cfg(tmp_path, collection="clean"), CountingEmbedder()
    clean = kb_add(clean_cfg, [docs], embedder=clean_emb)
    clean_counts = _index(clean_cfg, clean_emb)[1]
    assert counts == {d: clean_counts[d] for d in counts}  # each document whole, never duplicated
    assert not Manifest(manifest_path(cfg)).pending()
    kb_add(cfg, [docs], embedder=emb)
    assert _index(cfg, emb)[1] == clean_counts and clean.documents == len(ALL)


def test_tags_list_rm_stats(tmp_path):
    cfg, emb = _cfg(tmp_path), CountingEmbedder()
    docs = _corpus(tmp_path)
    kb_add(cfg, [docs / "sub"], tags=["internal"], embedder=emb)
    kb_add(cfg, [docs / "cafe.txt"], embedder=emb)
    listed = {d.doc_id: d for d in kb_list(cfg)}
    assert listed["docs/sub/guide.html"].tags == ["internal"] and listed["docs/cafe.txt"].tags == []
    store = open_store(cfg.kb, cfg.root, emb.dim)
    hits = store.search_dense(emb.embed_query("badges"), 10, Filter(tags=["internal"]))
    store.close()
    assert hits and all(h.chunk.doc_id.startswith("docs/sub/") for h in hits)
    removed = kb_rm(cfg, ["docs/sub/*.pdf", "nothing/here"])
    assert list(removed.removed) == ["docs/sub/report.pdf"] and removed.not_found == ["nothing/here"]
    assert kb_rm(cfg, [str(docs / "sub")]).removed.keys() == {"docs/sub/guide.html", "docs/sub/travel.docx"}
    stats = kb_stats(cfg)
    assert (stats.documents, stats.pending) == (1, 0) and stats.chunks == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_permission_denied_is_reported_and_skipped(tmp_path):
    cfg, emb = _cfg(tmp_path), CountingEmbedder()
    docs = _corpus(tmp_path)
    (docs / "cafe.txt").chmod(0)
    res = kb_add(cfg, [docs], embedder=emb)
    assert [(s.path, s.reason.split(";")[0]) for s in res.skipped] == [("docs/cafe.txt", "permission denied")]
    assert len(res.added) == len(ALL) - 1


def test_bad_paths_and_unreachable_server(tmp_path):
    cfg, emb = _cfg(tmp_path), CountingEmbedder()
    with pytest.raises(KBError, match="no such file"):
        kb_add(cfg, [tmp_path / "missing"], embedder=emb)
    (tmp_path / "empty").mkdir()
    with pytest.raises(KBError, match="holds no files"):
        kb_sync(cfg, tmp_path / "empty", embedder=emb)  # never 'delete everything'
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(KBError, match="not a folder"):
        kb_sync(cfg, tmp_path / "a.txt", embedder=emb)
    refused = _cfg(tmp_path, url="http://127.0.0.1:9")
    with pytest.raises(KBError, match="cannot reach the Qdrant server"):
        kb_add(refused, [tmp_path / "a.txt"], embedder=emb)
