"""`tailor compare`: base vs tuned on the held-out test split, with identical generation settings.

Reads run_dir/data/test.jsonl (written by `tailor data prepare`) and run_dir/adapter (written by
`tailor train`), answers every test request with both models, scores the answers against the
references (see metrics.py) and writes run_dir/compare.json and run_dir/report.html atomically.
Answers come from the engine `generation.engine` picks (infer.open_engine: HF or llama.cpp), recorded
in compare.json as `engines`; the reference NLL needs a transformers model, which is loaded only for
scoring when the answers came from another backend. One model is in memory at a time. A test row that
the adapter was trained on (data/trained.py) is an error, not a score.
"""
from __future__ import annotations

import gc
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import TailorConfig
from ..data.example import Example, read_examples
from ..data.trained import check_not_trained_on
from ..errors import DataError, TrainError
from . import metrics as M


@dataclass
class CompareResult:
    """Aggregates per model, per-row details and where the files went."""

    n_rows: int
    base: dict[str, float]
    tuned: dict[str, float]
    reference: dict[str, float]
    rows: list[dict[str, Any]] = field(repr=False)
    checks: dict[str, Any] | None = None  # task checks (see tailorkit.checks); None when none configured
    judge: dict[str, Any] | None = None  # pairwise judge results; None when the judge is off
    compare_path: Path = None  # type: ignore[assignment]
    report_path: Path = None  # type: ignore[assignment]

    def summary(self) -> str:
        wins = sum(1 for *_, win in self.table() if win == "tuned")
        checks = ""
        if self.checks:
            allp = self.checks["all_pass_rate"]
            checks = f"all checks {100 * allp['base']:.0f}% -> {100 * allp['tuned']:.0f}%; "
        judge = "judge off" if not self.judge else (
            f"judge: {self.judge['verdict']}" + (f" (win rate {100 * self.judge['win_rate']:.0f}%)"
                                                 if self.judge["win_rate"] is not None else ""))
        return (f"{self.n_rows} test rows; tuned better on {wins}/{len(self.table())} metrics; "
                f"ROUGE-L {self.base.get('rouge_l', 0):.3f} -> {self.tuned.get('rouge_l', 0):.3f}; {checks}{judge}; "
                f"report: {self.report_path}")

    def table(self) -> list[tuple[str, float, float, str | None]]:
        """(metric label, base, tuned, which is better) for each headline metric."""
        out = []
        for m in M.METRICS:
            if m.key in self.base and m.key in self.tuned:
                ref = self.reference.get(m.key) if m.better == "closer" else None
                out.append((m.label, self.base[m.key], self.tuned[m.key], M.better(m, self.base[m.key],
                                                                                   self.tuned[m.key], ref)))
        return out


def test_split(cfg: TailorConfig) -> Path:
    return cfg.run_dir / "data" / "test.jsonl"


def _inputs(cfg: TailorConfig) -> tuple[list[Example], Path]:
    """The capped test rows and the adapter folder, or a typed error saying which step to run first."""
    test = test_split(cfg)
    if not test.exists():
        raise DataError("there is no test split to compare on", where=str(test),
                        fix="run `tailor data prepare` first (with data.test_fraction > 0)")
    everything = read_examples(test)
    check_not_trained_on(cfg.run_dir, test, everything)
    examples = [ex for ex in everything if ex.assistant.strip()]
    if not examples:
        raise DataError("the test split has no rows with a reference answer", where=str(test),
                        fix="raise data.test_fraction and run `tailor data prepare` again")
    adapter = cfg.run_dir / "adapter"
    if not ((adapter / "adapter_config.json").exists() or (adapter / "config.json").exists()):
        raise TrainError("there is no tuned model to compare", where=str(adapter),
                         fix="run `tailor train` first (it writes the adapter there)")
    if cfg.compare.max_rows:
        examples = examples[: cfg.compare.max_rows]
    return examples, adapter


def _run_model(label: str, which: str, examples: list[Example], cfg: TailorConfig) -> dict[str, Any]:
    """Answer with one model through the configured engine (generation.engine), score the references
    with the transformers model (teacher forcing needs its logits), and let each go before the next
    loads: the HF engine's own model is reused for scoring, another backend is closed first."""
    from ..infer import open_engine, open_hf
    from ..infer.hf import HFEngine

    engine = open_engine(cfg, which)
    convs = [ex.prompt_messages() for ex in examples]
    start = time.perf_counter()
    try:
        gens = engine.generate(convs, cfg.generation, description=f"{label}: generating",
                               batch_size=cfg.compare.batch_size)
    finally:
        engine_name = engine.name
        if not isinstance(engine, HFEngine):
            _release(engine)
    gen_s = time.perf_counter() - start
    scorer = engine if isinstance(engine, HFEngine) else open_hf(cfg, which)
    try:
        nll = M.reference_nll(scorer.model, scorer.tokenizer, examples, cfg.data.max_length,
                              batch_size=cfg.compare.batch_size, description=f"{label}: scoring references")
    finally:
        _release(scorer)
    return {"gens": gens, "nll": nll, "generate_seconds": gen_s, "engine": engine_name}


def _release(engine) -> None:
    import torch

    engine.close()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def add_checks(checker, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Run the checks on base, tuned and reference answers; per-row failures go into each row."""
    from ..checks import run_checks

    if checker is None:
        return None
    report = run_checks(checker, {name: [r[name]["text"] for r in rows] for name in ("base", "tuned")},
                        [r["reference"] for r in rows])
    for i, row in enumerate(rows):
        for name in ("base", "tuned"):
            row[name]["checks_failed"] = report.failed[name][i]
        row["reference_checks_failed"] = report.failed["reference"][i]
    return report.to_dict()


def prepare_judge(cfg: TailorConfig) -> None:
    """Fail fast (before generating anything) when the configured judge cannot be reached."""
    if cfg.compare.judge is not None:
        from .judge import probe_judge

        probe_judge(cfg)


def add_judge(cfg: TailorConfig, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Judge every row in both orders (see judge.py); verdicts go into each row."""
    if cfg.compare.judge is None:
        return None
    from .judge import JudgeRow, judge_pairs

    result = judge_pairs(cfg, [JudgeRow(r["request"], r["reference"], r["base"]["text"], r["tuned"]["text"])
                               for r in rows])
    for row, verdict in zip(rows, result.rows):
        row["judge"] = verdict
    return result.to_dict()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def compare(cfg: TailorConfig) -> CompareResult:
    """Answer the test split with base and tuned models, score both, write compare.json + report.html."""
    from ..checks import project_checker
    from .report import render_report

    examples, adapter = _inputs(cfg)
    refs = [ex.assistant for ex in examples]
    checker = project_checker(cfg)  # a broken check or unreachable judge fails before any generation
    prepare_judge(cfg)

    # One model in memory at a time: the base is released before the tuned one loads.
    base = _run_model("base", "base", examples, cfg)
    tuned = _run_model("tuned", str(adapter), examples, cfg)

    rows: list[dict[str, Any]] = []
    per_model: dict[str, list[dict]] = {"base": [], "tuned": []}
    sims = {name: M.embedding_similarity([g.text for g in run["gens"]], refs, cfg.compare.embedder)
            for name, run in (("base", base), ("tuned", tuned))}
    for i, ex in enumerate(examples):
        row: dict[str, Any] = {"index": i, "system": ex.system, "request": ex.user, "reference": refs[i],
                               "source": {k: ex.meta[k] for k in ("source", "row", "line") if k in ex.meta}}
        for name, run in (("base", base), ("tuned", tuned)):
            g = run["gens"][i]
            scores = M.score_row(g.text, g.finish_reason, g.n_tokens, refs[i], run["nll"][i], sims[name][i])
            per_model[name].append(scores)
            row[name] = {"text": g.text, **scores}
        rows.append(row)

    reference = {"median_words": M.median_words(refs)}
    result = CompareResult(n_rows=len(examples), base=M.aggregate(per_model["base"]),
                           tuned=M.aggregate(per_model["tuned"]), reference=reference, rows=rows)
    result.checks = add_checks(checker, rows)
    result.judge = add_judge(cfg, rows)
    doc = {
        "n_rows": result.n_rows,
        "models": {"base": cfg.model.base, "tuned": str(adapter)},
        "test_split": str(test_split(cfg)),
        "generation": cfg.generation.model_dump(mode="json"),
        "engines": {"base": base["engine"], "tuned": tuned["engine"]},
        "batch_size": cfg.compare.batch_size,
        "embedder": cfg.compare.embedder,
        "metrics": [{"key": m.key, "label": m.label, "better": m.better} for m in M.METRICS],
        "base": result.base,
        "tuned": result.tuned,
        "reference": reference,
        "better": {m.key: M.better(m, result.base[m.key], result.tuned[m.key], reference.get(m.key))
                   for m in M.METRICS},
        "seconds": {"base_generate": base["generate_seconds"], "tuned_generate": tuned["generate_seconds"]},
        "checks": result.checks,
        "judge": result.judge if result.judge is not None else {"enabled": False},
        "rows": rows,
    }
    run_dir = cfg.run_dir
    result.compare_path = run_dir / "compare.json"
    result.report_path = run_dir / "report.html"
    _write_atomic(result.compare_path, json.dumps(doc, indent=1, ensure_ascii=False))
    _write_atomic(result.report_path, render_report(doc, run_dir, n_examples=cfg.compare.n_examples))
    return result
