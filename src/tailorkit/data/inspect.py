"""`inspect_data`: everything worth knowing about a data file before training, as a DataReport.

Reads and analyses only; writes nothing. The same steps as `prepare` (load, clean, dedupe,
token lengths, grouping for the split) run here so the report predicts what prepare will do.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from .clean import EMPTY_ANSWER, EMPTY_REQUEST, clean_examples
from .dedupe import answer_key, dedupe, request_key
from .lengths import LengthReport, load_data_tokenizer, oversized_rows, token_cache_dir, token_lengths
from .load import load, location
from .overrides import apply_overrides, overrides_path, read_overrides
from .split import group_rows

MAX_PROBLEMS = 25


@dataclass
class DataReport:
    """What `tailor data inspect` shows (and `--json` prints)."""

    source: str
    rows_read: int
    columns: list[str]
    format: str
    empty_requests: int
    empty_answers: int
    quoting_artifacts: int
    exact_duplicates: int
    near_duplicates: int
    conflicting_requests: int  # requests that appear with more than one answer
    shared_answers: int  # answers reached by more than one request
    rows_after_cleaning: int
    split_groups: int  # groups of rows that must share a split
    lengths: LengthReport | None
    problems: list[dict[str, str]] = field(default_factory=list)  # {"where": file:line, "problem": ...}
    problems_total: int = 0  # problems found; `problems` lists the most serious few
    overrides: dict[str, int] = field(default_factory=dict)  # rows excluded / edited by data.overrides
    checks: list[dict[str, Any]] = field(default_factory=list)  # compare.checks on the reference answers

    @property
    def rows_over_max_length(self) -> int:
        return len(self.lengths.over) if self.lengths else 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lengths"] = self.lengths.to_dict() if self.lengths else None
        d["rows_over_max_length"] = self.rows_over_max_length
        return d


def resolve_source(cfg, path: str | Path | None) -> Path:
    """The data file to read: an explicit path, else data.source relative to tailor.yaml."""
    if path is not None:
        return Path(path)
    if not cfg.data.source:
        raise DataError("no data file given", where="tailor.yaml:data.source",
                        fix="pass a PATH (or --source PATH), or set data.source in tailor.yaml")
    return cfg.path(cfg.data.source)


def inspect_data(cfg, path: str | Path | None = None, *, tokens: bool = True,
                 limit: int | None = MAX_PROBLEMS) -> DataReport:
    """Analyse a data file (cfg: TailorConfig) with the project's row overrides applied, as prepare will.
    `tokens=False` skips loading the tokenizer; `limit=None` lists every problem, not the most serious few."""
    source = resolve_source(cfg, path)
    loaded = load(source, cfg.data)
    applied = apply_overrides(loaded.examples, read_overrides(overrides_path(cfg)), overrides_path(cfg))
    cleaned = clean_examples(applied.examples)
    problems: list[dict[str, str]] = [{"where": w, "problem": reason} for w, reason in cleaned.dropped_rows]
    oversized = oversized_rows(cleaned.kept, cfg.data.max_length)
    problems += [{"where": w, "problem": p} for w, p in oversized]
    deduped = dedupe(cleaned.kept, cfg.data.near_duplicate_threshold)
    for reason, gone, twin in deduped.removed:
        problems.append({"where": location(gone), "problem": f"{reason} of {location(twin)}"})
    conflicting, shared = _many_to_many(cleaned.kept, problems)
    lengths = None
    tokenizer = load_data_tokenizer(cfg) if tokens and deduped.kept else None
    if tokenizer is not None:
        lengths = token_lengths(deduped.kept, tokenizer, cfg.data.max_length, token_cache_dir(cfg))
        for r in lengths.empty_after_truncation:
            problems.append({"where": r.where, "problem": f"request alone is {r.prompt} tokens: the answer "
                                                          f"would be truncated to nothing"})
        huge = {w for w, _ in oversized}
        for r in lengths.over:
            if r.prompt < cfg.data.max_length and r.where not in huge:
                problems.append({"where": r.where, "problem": f"{r.total} tokens > max_length: "
                                                              f"{r.answer_lost} answer tokens would be cut"})
    return DataReport(
        source=str(source),
        rows_read=len(loaded.examples),
        columns=loaded.columns,
        format=loaded.format,
        empty_requests=cleaned.dropped.get(EMPTY_REQUEST, 0),
        empty_answers=cleaned.dropped.get(EMPTY_ANSWER, 0),
        quoting_artifacts=cleaned.quoting_fixed,
        exact_duplicates=deduped.exact_removed,
        near_duplicates=deduped.near_removed,
        conflicting_requests=conflicting,
        shared_answers=shared,
        rows_after_cleaning=len(deduped.kept),
        split_groups=len(group_rows(deduped.kept, cfg.data.near_duplicate_threshold)),
        lengths=lengths,
        problems=_most_important(problems, limit),
        problems_total=len(problems),
        overrides=applied.counts(),
        checks=reference_checks(cfg, [ex.assistant for ex in deduped.kept], tokenizer),
    )


def reference_checks(cfg, answers: list[str], tokenizer=None) -> list[dict[str, Any]]:
    """Pass rate of each configured task check (compare.checks) on the data's own answers; a check
    that fewer than 80% of them pass is flagged as likely wrong. Token-length checks are skipped
    without a tokenizer (`tokens=False`)."""
    from ..checks import Checker, run_checks

    checks = list(cfg.compare.checks)
    if tokenizer is None:
        checks = [c for c in checks if getattr(c, "unit", "words") != "tokens"]
    if not checks or not answers:
        return []
    count = (lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"])) if tokenizer is not None else None
    report = run_checks(Checker(checks, root=cfg.root, count_tokens=count), {}, answers)
    return [{"label": c.label, "type": c.type, "reference_pass_rate": c.reference_pass_rate,
             "likely_wrong": c.likely_wrong} for c in report.checks]


def _many_to_many(examples, problems: list[dict[str, str]]) -> tuple[int, int]:
    """Count requests with several distinct answers, and answers reached by several requests."""
    answers_of: dict[str, dict[str, Any]] = defaultdict(dict)
    requests_of: dict[str, dict[str, Any]] = defaultdict(dict)
    for ex in examples:
        answers_of[request_key(ex)].setdefault(answer_key(ex), ex)
        requests_of[answer_key(ex)].setdefault(request_key(ex), ex)
    conflicting = [v for v in answers_of.values() if len(v) > 1]
    shared = [v for v in requests_of.values() if len(v) > 1]
    for v in conflicting:
        rows = list(v.values())
        problems.append({"where": location(rows[0]),
                         "problem": f"request has {len(rows)} different answers (also {location(rows[1])})"})
    return len(conflicting), len(shared)


def _most_important(problems: list[dict[str, str]], limit: int | None) -> list[dict[str, str]]:
    """Keep a readable number, most serious first (truncation to nothing breaks prepare; exact
    duplicates are harmless once removed), file order within a kind."""
    order = ("truncated to nothing", "far beyond", "empty", "different answers", "max_length", "exact duplicates only",
             "near duplicate", "exact duplicate")
    rank = lambda p: next((i for i, key in enumerate(order) if key in p["problem"]), len(order))  # noqa: E731
    return sorted(problems, key=rank)[:limit]
