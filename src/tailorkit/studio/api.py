"""The studio's JSON endpoints: jobs, row overrides, the train form, chat streams, KB upload/search/ask.

Endpoints that read files or models are plain `def`, so FastAPI runs them in its thread pool and the
event loop stays free for other pages. Every TailorError becomes HTTP 400 with `{"error": its one line}` (the handler in app.py), which the
page shows as it is. Nothing here trains, prepares, compares or ingests: those start a job.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import StreamingResponse

from ..errors import DataError, KBError, TailorError
from . import runs as R

router = APIRouter(prefix="/api")
JSON = Body(default_factory=dict)


def _studio(request: Request):
    return request.app.state.studio


@router.get("/job")
def job_status(request: Request) -> dict[str, Any]:
    return {"job": _studio(request).jobs.status()}


@router.post("/job/stop")
def job_stop(request: Request) -> dict[str, Any]:
    _studio(request).jobs.stop()
    return {"job": _studio(request).jobs.status()}


def _run_name(cfg, body: dict[str, Any]) -> str:
    from ..config.train import TrainConfig

    name = str(body.get("run_name") or cfg.train.run_name).strip()
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise TailorError(f"'{name}' is not a usable run name", fix="use letters, digits, '-' or '_'")
    TrainConfig(run_name=name)
    return name


@router.post("/prepare")
def start_prepare(request: Request, body: dict[str, Any] = JSON) -> dict[str, Any]:
    studio = _studio(request)
    cfg = studio.config()
    from ..data.inspect import resolve_source

    resolve_source(cfg, None)  # no data.source: the same one line prepare would give, before a job starts
    job = studio.jobs.start("prepare", {"run_name": _run_name(cfg, body)})
    return {"job": studio.jobs.status(), "id": job.id}


@router.post("/train")
def start_train(request: Request, body: dict[str, Any] = JSON) -> dict[str, Any]:
    """Validate the changed form fields (ConfigError: one line, nothing started), then start training."""
    from .forms import validate_changes

    studio = _studio(request)
    cfg = studio.config()
    changes = dict(body.get("changes") or {})
    overrides = validate_changes(studio.config_path, changes, cfg)
    name = str(overrides.pop("train.run_name", None) or body.get("run_name") or cfg.train.run_name)
    name = _run_name(cfg, {"run_name": name})
    resume = bool(body.get("resume"))
    run_dir = studio.runs_dir(cfg) / name
    if not (run_dir / "data" / "train.jsonl").exists():
        raise TailorError(f"run '{name}' has no prepared data", where=str(run_dir / "data" / "train.jsonl"),
                          fix="prepare it first on the Data screen (Prepare with this run name)")
    if resume and not ((run_dir / "checkpoints").exists() and any((run_dir / "checkpoints").iterdir())):
        raise TailorError(f"nothing to resume: run '{name}' has no checkpoint", where=str(run_dir / "checkpoints"),
                          fix="start training instead")
    studio.jobs.start("train", {"run_name": name, "overrides": overrides, "resume": resume})
    return {"job": studio.jobs.status()}


@router.post("/compare")
def start_compare(request: Request, body: dict[str, Any] = JSON) -> dict[str, Any]:
    studio = _studio(request)
    cfg = studio.config()
    studio.jobs.start("compare", {"run_name": _run_name(cfg, body)})
    return {"job": studio.jobs.status()}


@router.get("/runs/{name}/metrics")
def run_metrics(request: Request, name: str) -> dict[str, Any]:
    studio = _studio(request)
    run_dir = studio.runs_dir(studio.config()) / name
    job = studio.jobs.running()
    return {"points": R.metric_points(run_dir), "training": job is not None and job.kind == "train"
            and job.run_name == name, "info": R.run_info(run_dir).__dict__ if run_dir.is_dir() else None}


@router.post("/data/override")
def data_override(request: Request, body: dict[str, Any] = JSON) -> dict[str, Any]:
    """Exclude, edit or restore (action null) one row by its file:line."""
    from ..data.overrides import overrides_path, set_override
    from .dataview import find_example

    studio = _studio(request)
    cfg = studio.config()
    where = str(body.get("where") or "")
    if not where:
        raise DataError("no row given", fix="use the buttons of a row in the table")
    ex = find_example(cfg, where)
    set_override(overrides_path(cfg), ex, body.get("action"), body.get("user"), body.get("assistant"))
    return {"ok": True, "where": where, "action": body.get("action")}


@router.post("/chat")
def chat(request: Request, body: dict[str, Any] = JSON) -> StreamingResponse:
    """Stream one model's answer (NDJSON); the page opens one stream per pane with the same settings."""
    from .chat import decoding, stream_answer

    studio = _studio(request)
    cfg = studio.config()
    gen = decoding(cfg, dict(body.get("settings") or {}))
    which = str(body.get("which") or "base")
    return StreamingResponse(stream_answer(cfg, which, str(body.get("message") or ""), gen,
                                           body.get("system") or None), media_type="application/x-ndjson")


UPLOAD_LIMIT = 50 * 1024 * 1024


@router.post("/kb/upload")
async def kb_upload(request: Request, name: str) -> dict[str, Any]:
    """Save one uploaded file under docs/ (type checked first, written under a temporary name, then
    renamed) and start ingesting it. An unsupported type or a busy project writes nothing."""
    from ..kb.ingest import unsupported_reason

    studio = _studio(request)
    cfg = studio.config()
    filename = Path(name).name
    dest = cfg.root / "docs" / filename
    rel = dest.relative_to(cfg.root).as_posix()
    if not filename or filename.startswith("."):
        raise KBError("the file has no usable name", fix="rename it (no leading dot) and upload it again")
    reason = unsupported_reason(dest)
    if reason is not None:  # the same line `tailor kb add` gives for this file
        raise KBError(f"nothing ingested: {reason}", where=rel)
    studio.jobs.ensure_idle()
    data = await request.body()
    if len(data) > UPLOAD_LIMIT:
        raise KBError(f"the file is larger than {UPLOAD_LIMIT // 2**20} MB", where=rel,
                      fix="add big files from the command line: tailor kb add FILE")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{filename}.upload{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(dest)
    studio.jobs.start("kb_add", {"paths": [str(dest)]})
    return {"job": studio.jobs.status(), "path": rel}


def _hit(h) -> dict[str, Any]:
    c = h.chunk
    return {"doc_id": c.doc_id, "where": c.citation(), "heading": " > ".join(c.heading_path), "text": c.text,
            "score": h.score, "dense": h.dense_score, "bm25": h.bm25_score,
            "line_start": c.line_start, "line_end": c.line_end, "page": c.page}


@router.post("/kb/search")
def kb_search_api(request: Request, body: dict[str, Any] = JSON) -> dict[str, Any]:
    from ..kb.search import kb_search

    studio = _studio(request)
    query = str(body.get("query") or "").strip()
    if not query:
        raise KBError("the search is empty", fix="type what to look for")
    _kb_not_busy(studio)
    hits = kb_search(studio.config(), query, k=int(body.get("k") or 5), mode=str(body.get("mode") or "hybrid"))
    return {"hits": [_hit(h) for h in hits]}


@router.post("/kb/ask")
def kb_ask_api(request: Request, body: dict[str, Any] = JSON) -> dict[str, Any]:
    from ..kb.answer import ask

    studio = _studio(request)
    _kb_not_busy(studio)
    answer = ask(studio.config(), str(body.get("question") or ""), run=body.get("run") or None)
    cite = lambda c: {"n": c.n, "doc_id": c.doc_id, "where": c.location, "snippet": c.snippet,  # noqa: E731
                      "score": c.score, "line_start": c.line_start, "line_end": c.line_end, "page": c.page}
    return {"text": answer.text, "found": answer.found, "note": answer.note, "model": answer.model,
            "cited_by_model": answer.cited_by_model, "citations": [cite(c) for c in answer.citations],
            "sources": [cite(c) for c in answer.sources]}


def _kb_not_busy(studio) -> None:
    job = studio.jobs.running()
    if job is not None and job.kind == "kb_add":
        raise KBError("documents are being added to the knowledge base right now",
                      fix="wait for the job at the top of the page to finish, then search again")
