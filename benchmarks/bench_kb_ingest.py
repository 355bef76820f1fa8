"""End-to-end `kb_add` throughput: files on disk -> read, chunk, embed (bundled MiniLM), BM25, write
crash-safely into Qdrant Edge; then an unchanged re-run and a re-run after editing 1% of the files.

    HF_HUB_OFFLINE=1 TAILOR_QUIET=1 nice -n 10 .venv/bin/python benchmarks/bench_kb_ingest.py [--docs 500]

Documents are SciFact train abstracts written as Markdown files (title as heading), or generated prose
when the shared dataset is absent. The embedding model is loaded before timing starts.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tailorkit.config import build_config
from tailorkit.kb.embed import get_embedder
from tailorkit.kb.ingest import kb_add

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact-train" / "corpus.jsonl"


def _write_docs(folder: Path, n: int) -> list[Path]:
    if SCIFACT.exists():
        rows = [json.loads(line) for line in SCIFACT.open(encoding="utf-8")][:n]
    else:
        words = "cell protein gene expression tumour patient risk study effect level increase model data".split()
        rows = [{"title": f"Doc {i}", "text": " ".join(words[(i * 7 + j) % len(words)] for j in range(220))}
                for i in range(n)]
    paths = []
    for i, r in enumerate(rows):
        p = folder / f"{i // 100:03d}" / f"doc{i:05d}.md"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"# {r['title']}\n\n{r['text']}\n", encoding="utf-8")
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=500)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = _write_docs(root / "docs", args.docs)
        cfg = build_config({}, root=root)
        emb = get_embedder(cfg.kb)
        emb.embed_documents(["warm up"])
        t0 = time.perf_counter()
        first = kb_add(cfg, [root / "docs"], embedder=emb)
        t1 = time.perf_counter()
        again = kb_add(cfg, [root / "docs"], embedder=emb)
        t2 = time.perf_counter()
        for p in paths[:: 100]:
            p.write_text(p.read_text(encoding="utf-8") + "\nAn added sentence.\n", encoding="utf-8")
        edited = kb_add(cfg, [root / "docs"], embedder=emb)
        t3 = time.perf_counter()
    print(f"first ingest: {len(first.added)} documents, {first.chunks} chunks in {t1 - t0:.1f}s "
          f"= {first.chunks / (t1 - t0):.1f} chunks/s, {len(first.added) / (t1 - t0):.1f} documents/s")
    print(f"unchanged re-run: {len(again.unchanged)} unchanged, {again.chunks_embedded} embedded, {t2 - t1:.2f}s")
    print(f"after editing {len(edited.updated)} files: {edited.chunks_embedded} chunks re-embedded, "
          f"{edited.chunks_removed} removed, {t3 - t2:.2f}s")


if __name__ == "__main__":
    main()
