"""Crash test: kill -9 a real `tailor kb add` mid-ingest; the store never shows a partial document,
and a rerun leaves every document exactly once with no stale chunks."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tailorkit.config import load_config
from tailorkit.kb.chunking import chunk_document, token_counter
from tailorkit.kb.ingest import kb_add
from tailorkit.kb.readers import read_source
from tailorkit.kb.session import doc_id_for, manifest_path
from tailorkit.kb.store import open_store

N_FILES = 40
TOPICS = ["glaciers", "volcanoes", "tides", "comets", "deserts", "forests", "rivers", "storms"]


def _expected(cfg, files: list[Path]) -> dict[str, tuple[str, int]]:
    counter = token_counter(cfg.kb.embedder)
    out = {}
    for f in files:
        doc = read_source(f, doc_id_for(f, cfg.root), f.read_bytes()).documents[0]
        out[doc.doc_id] = (doc.doc_hash, len(chunk_document(doc, counter, cfg.kb.chunk_size, cfg.kb.chunk_overlap)))
    return out


def _stored(cfg) -> tuple[dict[str, str], dict[str, int], int]:
    store = open_store(cfg.kb, cfg.root, 384)
    try:
        return store.doc_index(), store.doc_chunk_counts(), store.count()
    finally:
        store.close()


def test_kill_9_during_ingest_then_rerun(tmp_path):
    (tmp_path / "tailor.yaml").write_text("kb:\n  ingest_batch: 2\n  chunk_size: 48\n  chunk_overlap: 8\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    files = []
    for i in range(N_FILES):
        topic = TOPICS[i % len(TOPICS)]
        body = " ".join(f"Note {i}.{j}: the {topic} of region {i} changed in year {1900 + j}." for j in range(4))
        files.append(docs / f"note_{i:03d}.txt")
        files[-1].write_text(body + "\n")
    cfg = load_config(tmp_path / "tailor.yaml")
    expected = _expected(cfg, files)
    tailor = Path(sys.executable).with_name("tailor")
    # one thread: on a busy 2-core machine two torch threads thrash (8x slower); the result is the same
    env = {**os.environ, "TAILOR_QUIET": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(tailor), "kb", "add", "docs"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    mpath = manifest_path(cfg)
    deadline = time.time() + 120
    complete = 0
    try:
        while time.time() < deadline and proc.poll() is None:
            if mpath.exists():
                try:
                    with sqlite3.connect(str(mpath), timeout=1) as db:
                        complete = db.execute("SELECT COUNT(*) FROM docs WHERE state='complete'").fetchone()[0]
                except sqlite3.Error:
                    complete = 0
                if complete >= 3:
                    break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"ingest finished before the kill: {err.decode()[-500:]}"
    assert complete >= 3

    # right after the crash: whatever is stored is whole (no partial document visible)
    hashes, counts, _ = _stored(cfg)
    assert 0 < len(hashes) < N_FILES
    for doc_id, n in counts.items():
        assert (hashes[doc_id], n) == expected[doc_id]

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cfg.kb.ingest_batch = 256  # the rerun need not be slow
    try:
        res = kb_add(cfg, [docs])
    finally:
        torch.set_num_threads(threads)
    assert sorted(res.added + res.unchanged + res.updated) == sorted(expected)
    hashes, counts, total = _stored(cfg)
    assert {d: (hashes[d], counts[d]) for d in counts} == expected  # each document exactly once
    assert total == sum(n for _, n in expected.values())  # no stale or duplicate chunks
    with sqlite3.connect(str(mpath)) as db:
        assert db.execute("SELECT COUNT(*) FROM docs WHERE state='pending'").fetchone()[0] == 0
