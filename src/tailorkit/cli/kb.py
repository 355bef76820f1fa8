"""CLI for the knowledge base: `tailor kb add|sync|list|rm|stats|search|eval` and `tailor ask`.

Thin: parse flags, call tailorkit.kb, print with rich. Per-file problems during ingest are printed
as warnings; when nothing at all could be ingested the command fails with exit code 2.
"""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import KBError
from .common import ConfigOption, load

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

kb_app = typer.Typer(help="Knowledge base: ingest documents, search them, evaluate retrieval.",
                     no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _report(result, verb: str) -> None:
    failure = result.failure(verb)
    if failure is not None and len(result.skipped) == 1:  # one bad file: one error line
        raise failure
    for s in result.skipped:
        err.print(f"[yellow]skipped[/] {escape(s.path)}: {escape(s.reason)}")
    if failure is not None:
        raise failure
    parts = [f"{len(result.added)} added", f"{len(result.updated)} updated", f"{len(result.unchanged)} unchanged"]
    if result.removed:
        parts.append(f"{len(result.removed)} removed")
    if result.recovered:
        parts.append(f"{len(result.recovered)} recovered from an interrupted run")
    if result.skipped:
        parts.append(f"{len(result.skipped)} skipped")
    out.print(f"{', '.join(parts)}; {result.chunks_embedded} chunks embedded, {result.chunks_removed} removed; "
              f"store: {result.documents} documents, {result.chunks} chunks ({result.seconds:.1f}s)")


@kb_app.command("add")
def add_cmd(
    paths: list[Path] = typer.Argument(..., help="files or folders to ingest"),
    tag: list[str] = typer.Option(None, "--tag", "-t", help="tag the documents (repeatable); replaces their tags"),
    config: Path = ConfigOption,
) -> None:
    """Ingest files and folders (.txt .md .html .pdf .docx .csv .tsv .jsonl); unchanged files are skipped."""
    from ..kb.ingest import kb_add

    _report(kb_add(load(config), paths, tags=tag or None), "ingested")


@kb_app.command("sync")
def sync_cmd(
    folder: Path = typer.Argument(..., help="folder the knowledge base should mirror"),
    tag: list[str] = typer.Option(None, "--tag", "-t", help="tag the documents (repeatable)"),
    config: Path = ConfigOption,
) -> None:
    """Mirror a folder: add new files, replace changed ones, remove documents whose files are gone."""
    from ..kb.ingest import kb_sync

    _report(kb_sync(load(config), folder, tags=tag or None), "synced")


@kb_app.command("list")
def list_cmd(config: Path = ConfigOption) -> None:
    """List the documents in the knowledge base with their chunk counts and tags."""
    from ..kb.catalog import kb_list

    docs = kb_list(load(config))
    if not docs:
        out.print("the knowledge base is empty; add documents with: tailor kb add docs/")
        return
    table = Table("document", "chunks", "state", "tags", "hash")
    for d in docs:
        table.add_row(escape(d.doc_id), str(d.chunks), d.state, escape(", ".join(d.tags)), (d.doc_hash or "")[:12])
    out.print(table)


@kb_app.command("rm")
def rm_cmd(
    ids: list[str] = typer.Argument(..., help="document ids (as in `kb list`), file paths, folders or globs"),
    config: Path = ConfigOption,
) -> None:
    """Remove documents and all their chunks."""
    from ..kb.catalog import kb_rm

    result = kb_rm(load(config), ids)
    if not result.removed:
        raise KBError(f"no document matches {', '.join(result.not_found)}",
                      fix="use the ids shown by `tailor kb list`, a path, a folder or a glob like 'docs/*.pdf'")
    for missing in result.not_found:
        err.print(f"[yellow]not found[/] {escape(missing)}")
    out.print(f"removed {len(result.removed)} document(s), {sum(result.removed.values())} chunks")


@kb_app.command("stats")
def stats_cmd(config: Path = ConfigOption) -> None:
    """Documents, chunks, pending documents, store location and size."""
    from ..kb.catalog import kb_stats

    s = kb_stats(load(config))
    size = f", {s.size_bytes / 1e6:.1f} MB on disk" if s.size_bytes is not None else ""
    out.print(f"{s.documents} documents, {s.chunks} chunks{size}")
    out.print(f"store: {escape(s.store)}; embedder: {escape(s.embedder)}; manifest: {escape(s.manifest)}")
    if s.pending:
        out.print(f"[yellow]{s.pending} document(s) pending from an interrupted run[/]; `tailor kb add` redoes them")


@kb_app.command("search")
def search_cmd(
    query: str = typer.Argument(..., help="what to look for"),
    k: int = typer.Option(5, "-k", help="number of results"),
    mode: str = typer.Option("hybrid", "--mode", "-m", help="hybrid | dense | bm25"),
    path: str = typer.Option(None, "--path", help="only documents whose path matches this glob or folder"),
    tag: list[str] = typer.Option(None, "--tag", "-t", help="only chunks carrying this tag (repeatable)"),
    config: Path = ConfigOption,
) -> None:
    """Search the knowledge base; shows score, source and snippet."""
    from ..kb.prompt import location
    from ..kb.search import kb_search
    from ..kb.store import Filter

    flt = Filter(path_glob=path, tags=tag or None) if (path or tag) else None
    hits = kb_search(load(config), query, k=k, mode=mode, flt=flt)
    if not hits:
        out.print("no results")
        return
    fused = mode == "hybrid"  # fused scores are ranks; the cosine says how close a hit really is
    table = Table("#", "score", *(["cosine"] if fused else []), "source", "snippet", show_lines=True)
    for i, h in enumerate(hits, start=1):
        snippet = " ".join(h.chunk.text.split())
        cosine = [f"{h.dense_score:.3f}" if h.dense_score is not None else "-"] if fused else []
        table.add_row(str(i), f"{h.score:.4f}", *cosine, escape(location(h.chunk)),
                      escape(snippet[:300] + (" …" if len(snippet) > 300 else "")))
    out.print(table)


@kb_app.command("eval")
def eval_cmd(
    corpus: Path = typer.Option(..., "--corpus", help="BEIR corpus.jsonl (_id, title, text)"),
    queries: Path = typer.Option(..., "--queries", help="BEIR queries.jsonl (_id, text)"),
    qrels: Path = typer.Option(..., "--qrels", help="qrels TSV (query-id, corpus-id, score)"),
    modes: str = typer.Option("dense,bm25,hybrid", "--modes", help="comma-separated: dense,bm25,hybrid"),
    max_queries: int = typer.Option(None, "--max-queries", help="evaluate only the first N judged queries"),
    config: Path = ConfigOption,
) -> None:
    """Retrieval quality on a BEIR-layout dataset: nDCG@10, recall@10/100, MRR per mode, side by side."""
    from ..kb.evaluate import kb_eval

    wanted = [m.strip() for m in modes.split(",") if m.strip()]
    result = kb_eval(load(config), corpus, queries, qrels, wanted, max_queries=max_queries)
    header, *rows = result.rows()
    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    out.print(table)
    out.print(f"{result.n_docs} documents, {result.n_chunks} chunks, {result.n_queries} queries "
              f"({result.seconds:.1f}s{', cached embeddings' if result.cache_hit else ''}); "
              f"{result.coverage.summary()}")


def print_answer(answer) -> None:
    out.print(escape(answer.text))
    if answer.citations:
        out.print("\n[bold]Sources[/]")
        for c in answer.citations:
            out.print(f"[{c.n}] {escape(c.location)}  (relevance {c.score:.2f})")
    if answer.mode != "none":
        out.print(f"[dim]answered: {answer.mode}[/]")
    if answer.note:
        err.print(f"[dim]note: {escape(answer.note)}[/]")


def register(app: typer.Typer) -> None:
    """Add `tailor kb ...` and `tailor ask` to the main app."""
    app.add_typer(kb_app, name="kb")

    @app.command("ask")
    def ask_cmd(
        question: str = typer.Argument(..., help="the question"),
        k: int = typer.Option(None, "-k", help="sources to retrieve (kb.top_k)"),
        run: str = typer.Option(None, "--run", help="answer with the tuned model of this run (runs/NAME/adapter)"),
        model: str = typer.Option(None, "--model", help="answer with this model (kb.answer_model)"),
        path: str = typer.Option(None, "--path", help="only documents whose path matches this glob or folder"),
        tag: list[str] = typer.Option(None, "--tag", "-t", help="only chunks carrying this tag (repeatable)"),
        config: Path = ConfigOption,
    ) -> None:
        """Answer a question from the knowledge base, with numbered sources (or say it has no answer)."""
        from ..kb.answer import ask
        from ..kb.store import Filter

        flt = Filter(path_glob=path, tags=tag or None) if (path or tag) else None
        print_answer(ask(load(config), question, k=k, model=model, run=run, flt=flt))
