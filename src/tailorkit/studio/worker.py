"""The entry point of one studio job: `python -m tailorkit.studio.worker JOB.json`.

Loads the project's config (plus the job's overrides), calls the same Python API function the CLI
calls, and writes `{"state": "done"|"failed"|"stopped", "result"|"error": ...}` to the job's result
file atomically. A TailorError becomes its one line, exactly as the CLI prints it; SIGINT before the
trainer has installed its own handler (while the model loads) ends the job as stopped.
"""
from __future__ import annotations

import json
import sys
import traceback
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from ..config import load_config
from ..errors import TailorError


# What a stop (SIGINT) outside the trainer's own handling leaves behind, by job kind.
STOPPED = {
    "prepare": "stopped; nothing was written (the splits are written all at once at the end).",
    "compare": "stopped; nothing was written (compare.json and report.html are written at the end).",
    "train": "stopped before training had started (while the model loaded); nothing was written.",
    "kb_add": "stopped; documents already stored stay, and the next add redoes the interrupted ones.",
}


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj):
        obj = asdict(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _config(spec: dict[str, Any]):
    args = spec["args"]
    overrides = dict(args.get("overrides") or {})
    if args.get("run_name"):
        overrides["train.run_name"] = args["run_name"]
    from .forms import config_with

    return config_with(Path(spec["config"]), overrides)


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one job described by its spec; returns the result document (never raises TailorError)."""
    kind, args = spec["kind"], spec["args"]
    try:
        cfg = _config(spec)
        if kind == "prepare":
            from ..data.prepare import prepare

            return {"state": "done", "result": prepare(cfg).to_dict()}
        if kind == "train":
            from ..train.trainer import result_dict, train

            if args.get("resume"):
                resolved = cfg.run_dir / "config.yaml"
                if resolved.exists():  # continue with the settings the run started with
                    cfg = load_config(resolved)
            result = train(cfg, resume=bool(args.get("resume")))
            return {"state": "stopped" if result.interrupted else "done", "result": result_dict(result)}
        if kind == "compare":
            from ..evaluate.compare import compare

            res = compare(cfg)
            return {"state": "done", "result": {"summary": res.summary(), "n_rows": res.n_rows,
                                                "compare": str(res.compare_path), "report": str(res.report_path)}}
        if kind == "kb_add":
            from ..kb.ingest import kb_add

            res = kb_add(cfg, [Path(p) for p in args["paths"]])
            failure = res.failure("ingested")
            if failure is not None:
                return {"state": "failed", "error": failure.one_line()}
            return {"state": "done", "result": _jsonable(res)}
        return {"state": "failed", "error": f"unknown job kind '{kind}'."}
    except TailorError as exc:
        return {"state": "failed", "error": exc.one_line()}
    except KeyboardInterrupt:
        return {"state": "stopped", "error": STOPPED.get(kind, "stopped.")}
    except Exception as exc:  # a bug: keep the traceback in the log, one line on the page
        traceback.print_exc()
        return {"state": "failed", "error": f"internal error: {type(exc).__name__}: {exc} (traceback in the job log)"}


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    doc = run_job(spec)
    out = Path(spec["result"])
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(_jsonable(doc), ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(out)
    return 0 if doc["state"] != "failed" else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
