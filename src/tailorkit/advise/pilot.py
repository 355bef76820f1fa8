"""`tailor advise`: fine-tune, knowledge base, or both? A bounded pilot on the project's own rows.

Four routes answer the same held-out rows (see routes.py): base; base + retrieval; tuned (a short
LoRA on the train split); tuned + retrieval. Each is measured the same way (task checks,
reference NLL, similarity, judge win rate vs base if configured, prompt tokens per request,
latency), and recommend.py turns the figures into advice.

The budget (`--minutes`): a two-step calibration run measures seconds per training step; the
base routes run; training then gets what is left after reserving the same generation time for
the tuned routes (at most advise.train_share of the budget, between advise.min_steps and
advise.max_steps). A budget that cannot fit min_steps is a one-line error (exit 2).

Everything is written into a temporary folder under runs/ and renamed to runs/<run_name>-advise/
only at the end (advise.json, advise.html, the pilot's data split and adapter), so a failed or
interrupted pilot leaves nothing half-written.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TailorConfig
from ..errors import ConfigError, DataError
from .recommend import recommend
from .routes import ROUTES, Context, kb_passages, measure, nearest_demos, run_route

MIN_MINUTES = 0.5  # below this not even loading a model and one route fits


@dataclass
class AdviseResult:
    folder: Path
    json_path: Path
    html_path: Path
    routes: dict[str, dict[str, Any]]
    recommendation: dict[str, Any]
    train_steps: int
    seconds: float

    def summary(self) -> str:
        return self.recommendation["headline"]


def _too_small(minutes: float, need_s: float | None = None) -> ConfigError:
    need = f"; this model needs about {need_s / 60:.1f}" if need_s else ""
    return ConfigError(f"--minutes {minutes:g} is too small to train anything{need}", where="advise.minutes",
                       fix="give the pilot more minutes (--minutes), or lower advise.min_steps / advise.max_rows")


def _pilot_cfg(cfg: TailorConfig, folder: Path, run_name: str, max_steps: int | None) -> TailorConfig:
    train = cfg.train.model_copy(update={"run_name": run_name, "max_steps": max_steps, "save_every_steps": None})
    kb = cfg.kb.model_copy(update={"path": str(folder / "kb"), "url": None})
    return cfg.model_copy(update={"runs_dir": str(folder), "train": train, "kb": kb})


def _train(cfg: TailorConfig, folder: Path, name: str, steps: int, data_dir: Path):
    from ..train.trainer import train

    pcfg = _pilot_cfg(cfg, folder, name, steps)
    if pcfg.run_dir != data_dir.parent:
        shutil.copytree(data_dir, pcfg.run_dir / "data", dirs_exist_ok=True)
    return pcfg, train(pcfg)


def advise(cfg: TailorConfig, minutes: float | None = None, docs: str | Path | None = None) -> AdviseResult:
    """Pilot the four routes within `minutes` (default advise.minutes); write advise.json + advise.html."""
    from ..checks import Checker
    from ..data.example import read_examples
    from ..data.prepare import prepare
    from ..infer import open_hf

    started = time.monotonic()
    acfg = cfg.advise
    minutes = float(minutes if minutes is not None else acfg.minutes)
    budget = minutes * 60
    if budget < MIN_MINUTES * 60:
        raise _too_small(minutes)
    docs = docs if docs is not None else acfg.docs
    docs_path = cfg.path(docs) if docs else None
    if docs_path is not None and not docs_path.exists():
        raise ConfigError(f"the documents folder {docs_path} does not exist", where="advise.docs",
                          fix="point advise.docs (--docs) at a folder of documents, or leave it unset")
    checker = Checker(cfg.compare.checks, root=cfg.root) if cfg.compare.checks else None
    if cfg.compare.judge is not None:
        from ..evaluate.judge import probe_judge

        probe_judge(cfg)
    runs = cfg.path(cfg.runs_dir)
    final = runs / f"{cfg.train.run_name}-advise"
    tmp = runs / f".{final.name}.tmp{os.getpid()}"
    for stale in runs.glob(f".{final.name}.tmp*"):  # left by a pilot killed outright (SIGKILL, power cut)
        shutil.rmtree(stale, ignore_errors=True)
    runs_existed = runs.exists()
    tmp.mkdir(parents=True)
    try:
        pcfg = _pilot_cfg(cfg, tmp, "pilot", None)
        prepare(pcfg)
        data_dir = pcfg.run_dir / "data"
        train_rows = read_examples(data_dir / "train.jsonl")
        test = [ex for ex in read_examples(data_dir / "test.jsonl") if ex.assistant.strip()][: acfg.max_rows]
        if len(test) < 2 or not train_rows:
            raise DataError(f"the pilot needs at least 2 test rows and some training rows (got {len(test)} and "
                            f"{len(train_rows)})", where=str(data_dir),
                            fix="add rows, or raise data.test_fraction")
        # Calibrate: seconds per optimizer step on this machine, from a two-step run.
        _, cal = _train(cfg, tmp, "calibrate", 2, data_dir)
        step_s = cal.seconds / max(1, cal.steps)
        shutil.rmtree(tmp / "calibrate", ignore_errors=True)
        if acfg.min_steps * step_s > acfg.train_share * budget - (time.monotonic() - started):
            raise _too_small(minutes, acfg.min_steps * step_s / acfg.train_share + (time.monotonic() - started))

        demos = nearest_demos(train_rows, test, acfg.demos, cfg.compare.embedder)
        chunks: list[list] = [[] for _ in test]
        embedder = None
        if docs_path is not None:
            from ..kb.ingest import kb_add

            kb_add(pcfg, [docs_path])
            chunks, embedder = kb_passages(pcfg, test, acfg.passages)
        contexts = [Context(d, c) for d, c in zip(demos, chunks)]

        runs_out: dict[str, dict[str, Any]] = {}
        t0 = time.monotonic()
        with open_hf(pcfg, "base") as engine:
            runs_out["base"] = run_route(pcfg, engine, "base", test, None)
            runs_out["base+retrieval"] = run_route(pcfg, engine, "base+retrieval", test, contexts, embedder)
        base_gen_s = time.monotonic() - t0

        left = budget - (time.monotonic() - started) - base_gen_s  # keep as long again for the tuned routes
        steps = min(acfg.max_steps, int(min(left, acfg.train_share * budget) / step_s))
        if steps < acfg.min_steps:
            raise _too_small(minutes, (time.monotonic() - started) + base_gen_s + acfg.min_steps * step_s)
        tcfg, trained = _train(cfg, tmp, "pilot", steps, data_dir)
        with open_hf(tcfg, "tuned") as engine:
            runs_out["tuned"] = run_route(tcfg, engine, "tuned", test, None)
            runs_out["tuned+retrieval"] = run_route(tcfg, engine, "tuned+retrieval", test, contexts, embedder)

        routes = {name: measure(cfg, runs_out[name], test, checker) for name in ROUTES}
        judge = _judge_routes(cfg, test, routes)
        rec = recommend(routes)
        doc = {
            "minutes": minutes, "seconds": time.monotonic() - started, "n_test_rows": len(test),
            "n_train_rows": len(train_rows), "model": cfg.model.base, "docs": str(docs_path) if docs_path else None,
            "demos": acfg.demos, "train": {"steps": trained.steps, "seconds": trained.seconds,
                                           "seconds_per_step": step_s, "stopped": trained.stopped},
            "judge": judge, "checks": [c for c in (checker.labels if checker else [])],
            "routes": routes, "recommendation": rec,
            "requests": [{"request": ex.user, "reference": ex.assistant} for ex in test],
        }
        from .page import render_page

        (tmp / "advise.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
        (tmp / "advise.html").write_text(render_page(doc), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        tmp.replace(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not runs_existed and not any(runs.iterdir()):
            runs.rmdir()
        raise
    return AdviseResult(final, final / "advise.json", final / "advise.html", routes, rec, trained.steps,
                        doc["seconds"])


def _judge_routes(cfg: TailorConfig, test, routes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each route against the base model with the pairwise judge (compare.judge); off when unset."""
    if cfg.compare.judge is None:
        for r in routes.values():
            r["judge_win_rate"] = None
        return {"enabled": False}
    from ..evaluate.judge import JudgeRow, judge_pairs

    out: dict[str, Any] = {"enabled": True}
    base = [row["text"] for row in routes["base"]["rows"]]
    routes["base"]["judge_win_rate"] = None
    for name in ROUTES[1:]:
        res = judge_pairs(cfg, [JudgeRow(ex.user, ex.assistant, b, row["text"])
                                for ex, b, row in zip(test, base, routes[name]["rows"])])
        routes[name]["judge_win_rate"] = res.win_rate
        routes[name]["judge_interval"] = list(res.interval) if res.interval else None
        out[name] = {k: v for k, v in res.to_dict().items() if k != "rows"}
    return out
