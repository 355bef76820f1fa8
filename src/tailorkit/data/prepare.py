"""`prepare`: raw data file -> clean, deduplicated, leakage-free train/val/test Example JSONL.

load -> overrides (data.overrides: rows excluded or edited in the studio) -> clean -> dedupe ->
token-length check -> split -> write. Every check runs before anything is written; the three split files are written under temporary names and renamed together, so a
failure never leaves a half-written split behind. Writes run_dir/data/{train,val,test}.jsonl,
run_dir/prepare.json and the resolved config. A run that has trained keeps its splits unless
forced (see trained.py): its adapter would otherwise be scored on rows it was trained on.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..progress import progress
from .clean import clean_examples
from .dedupe import dedupe
from .example import Example, iter_jsonl_dicts
from .inspect import resolve_source
from .lengths import load_data_tokenizer, oversized_rows, token_cache_dir, token_lengths
from .load import load
from .overrides import apply_overrides, overrides_path, read_overrides
from .split import SPLITS, check_leakage, split_examples
from .trained import guard_trained_run


@dataclass
class PrepareResult:
    """Counts at each step, where the splits went, and the leakage check (always 0 violations)."""

    source: str
    format: str
    rows_read: int
    kept: int
    dropped: dict[str, int]
    quoting_fixed: int
    split_sizes: dict[str, int]
    split_groups: int
    leakage_violations: list[str]
    rows_over_max_length: int
    answer_tokens_lost: int
    max_length: int
    paths: dict[str, str] = field(default_factory=dict)
    superseded: str | None = None  # where --force moved the outputs of the earlier training
    overrides: dict[str, int] = field(default_factory=dict)  # rows excluded / edited by data.overrides
    problems: list[dict[str, str]] = field(default_factory=list)  # rows kept but worth a look: {"where", "problem"}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prepare(cfg, source: str | Path | None = None, *, force: bool = False) -> PrepareResult:
    """Prepare the splits for a run (cfg: TailorConfig); source defaults to data.source.

    If the run has trained and the splits would change, raises DataError unless `force`, which moves
    the adapter, checkpoints and metrics into run_dir/superseded/<time>/ first.
    """
    path = resolve_source(cfg, source)
    d = cfg.data
    with progress() as bar:
        task = bar.add_task("prepare data", total=6)
        loaded = load(path, d)
        applied = apply_overrides(loaded.examples, read_overrides(overrides_path(cfg)), overrides_path(cfg))
        bar.advance(task)
        cleaned = clean_examples(applied.examples)
        bar.advance(task)
        deduped = dedupe(cleaned.kept, d.near_duplicate_threshold)
        bar.advance(task)
        if not deduped.kept:
            raise DataError("no rows are left after dropping empty and duplicate rows", where=str(path),
                            fix="check the column mapping (data.columns) and that both sides have text")
        oversized = oversized_rows(deduped.kept, d.max_length)
        lengths = token_lengths(deduped.kept, load_data_tokenizer(cfg), d.max_length, token_cache_dir(cfg))
        lengths.raise_if_answer_lost()
        bar.advance(task)
        split = split_examples(deduped.kept, val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                               seed=d.seed, threshold=d.near_duplicate_threshold)
        violations = check_leakage(split.as_dict())
        if violations:  # cannot happen by construction; never write leaky splits if it does
            raise DataError(f"the split leaks: {violations[0]}", where=str(path),
                            fix="report this as a tailorkit bug with the data file")
        bar.advance(task)
        moved = guard_trained_run(cfg.run_dir, split.as_dict(), force)
        paths = write_splits(cfg.run_dir / "data", split.as_dict())
        bar.advance(task)
    result = PrepareResult(
        source=str(path),
        format=loaded.format,
        rows_read=len(loaded.examples),
        kept=len(deduped.kept),
        dropped={**cleaned.dropped, **deduped.dropped},
        quoting_fixed=cleaned.quoting_fixed,
        split_sizes={name: len(rows) for name, rows in split.as_dict().items()},
        split_groups=split.n_groups,
        leakage_violations=violations,
        rows_over_max_length=len(lengths.over),
        answer_tokens_lost=lengths.answer_tokens_lost,
        max_length=d.max_length,
        paths={name: str(p) for name, p in paths.items()},
        superseded=str(moved) if moved else None,
        overrides=applied.counts(),
        problems=[{"where": w, "problem": p} for w, p in oversized],
    )
    from ..config import write_resolved

    # the resolved config records the file actually used (--source may differ from data.source)
    used = cfg.model_copy(update={"data": d.model_copy(update={"source": str(path.resolve())})})
    result.paths["config"] = str(write_resolved(used, cfg.run_dir))
    report = cfg.run_dir / "prepare.json"
    result.paths["prepare"] = str(report)
    _write_text(report, json.dumps({**result.to_dict(), "lengths": lengths.to_dict()}, indent=2, ensure_ascii=False))
    return result


def write_splits(data_dir: Path, splits: dict[str, list[Example]]) -> dict[str, Path]:
    """Write every split to a temporary name first, then rename them all: all or nothing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    temps: dict[str, Path] = {}
    try:
        for name in SPLITS:
            tmp = data_dir / f".{name}.jsonl.tmp{os.getpid()}"
            temps[name] = tmp
            with tmp.open("w", encoding="utf-8") as fh:
                for line in iter_jsonl_dicts(splits.get(name, [])):
                    fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise
    final = {name: data_dir / f"{name}.jsonl" for name in SPLITS}
    for name in SPLITS:
        temps[name].replace(final[name])
    return final


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
