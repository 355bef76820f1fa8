"""What a run trained on, so that no later step scores a model on rows it has seen.

`tailor train` records one hash per training row in run_dir/trained-rows.json before its first
step. `tailor data prepare` refuses to change the splits of a run that has trained (its adapter,
checkpoints or that record exist) unless forced, and forcing moves those outputs aside into
run_dir/superseded/<UTC time>/ instead of deleting them. `tailor compare` checks the test split
against the record and refuses to score a row that was trained on.

A row's hash is taken over its normalised request and answer (the keys the split keeps apart), so
a test row that differs from a training row only in case or spacing still counts as trained on.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Iterable

from ..errors import DataError
from .dedupe import answer_key, request_key
from .example import Example, iter_jsonl_dicts, read_examples
from .split import SPLITS

RECORD = "trained-rows.json"
# What training leaves in the run folder; all of it is stale once the splits change.
TRAINED_OUTPUTS = ("adapter", "checkpoints", RECORD, "metrics.jsonl", "loss.png", "compare.json", "report.html")


def row_hash(ex: Example) -> str:
    """sha256 of the row's normalised request and answer."""
    return hashlib.sha256(json.dumps([request_key(ex), answer_key(ex)], ensure_ascii=False).encode()).hexdigest()


def rows_digest(hashes: Iterable[str]) -> str:
    """One sha256 over the row hashes in order: identifies the training data exactly."""
    h = hashlib.sha256()
    for x in hashes:
        h.update(x.encode() + b"\n")
    return h.hexdigest()


def write_trained_record(run_dir: Path, examples: list[Example]) -> Path:
    """Write run_dir/trained-rows.json (atomically) for the rows about to be trained on."""
    hashes = [row_hash(ex) for ex in examples]
    path = Path(run_dir) / RECORD
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps({"rows": len(hashes), "digest": rows_digest(hashes), "hashes": hashes}) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path


def trained_hashes(run_dir: Path) -> set[str] | None:
    """The recorded training-row hashes, or None when the run has no record."""
    path = Path(run_dir) / RECORD
    if not path.exists():
        return None
    try:
        return set(json.loads(path.read_text(encoding="utf-8"))["hashes"])
    except (ValueError, KeyError, TypeError):
        raise DataError("the record of trained rows is unreadable", where=str(path),
                        fix="train the run again (it rewrites the record)") from None


def has_trained(run_dir: Path) -> bool:
    """Whether training has written anything into the run (adapter, checkpoints or the record)."""
    run_dir = Path(run_dir)
    return ((run_dir / RECORD).exists() or (run_dir / "adapter").exists()
            or any((run_dir / "checkpoints").glob("*")))


def set_aside(run_dir: Path) -> Path | None:
    """Move the training outputs into run_dir/superseded/<UTC time>/; returns that folder (None if nothing)."""
    run_dir = Path(run_dir)
    present = [run_dir / name for name in TRAINED_OUTPUTS if (run_dir / name).exists()]
    if not present:
        return None
    dest = run_dir / "superseded" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    n = 1
    while dest.exists():
        dest, n = dest.with_name(f"{dest.name.split('.')[0]}.{n}"), n + 1
    dest.mkdir(parents=True)
    for p in present:
        p.replace(dest / p.name)
    return dest


def _same_splits(data_dir: Path, splits: dict[str, list[Example]]) -> bool:
    for name in SPLITS:
        path = data_dir / f"{name}.jsonl"
        if not path.exists():
            return False
        with path.open(encoding="utf-8") as fh:
            old = [line.rstrip("\n") for line in fh if line.strip()]
        if old != list(iter_jsonl_dicts(splits.get(name, []))):
            return False
    return True


def guard_trained_run(run_dir: Path, splits: dict[str, list[Example]], force: bool) -> Path | None:
    """Before prepare writes: refuse to change the splits of a trained run, or (force) set its outputs aside.

    Writing the same splits again is allowed. Returns the folder the outputs were moved to, if any.
    """
    run_dir = Path(run_dir)
    if not has_trained(run_dir) or _same_splits(run_dir / "data", splits):
        return None
    if not force:
        raise DataError(f"run '{run_dir.name}' has been trained on its current splits; preparing again would "
                        "change them, and its test rows could then be rows the adapter was trained on",
                        where=str(run_dir / "data"),
                        fix="use a new run name (train.run_name in tailor.yaml), or pass --force to replace the "
                            "splits and move the adapter and checkpoints aside into runs/<name>/superseded/")
    return set_aside(run_dir)


def check_not_trained_on(run_dir: Path, test_path: Path, test_rows: list[Example] | None = None) -> None:
    """Raise DataError when a test row was trained on (by the record, else by the current train split)."""
    run_dir = Path(run_dir)
    seen = trained_hashes(run_dir)
    source = run_dir / RECORD
    if seen is None:  # a run trained before the record existed: the current train split is the best evidence
        source = run_dir / "data" / "train.jsonl"
        seen = {row_hash(ex) for ex in read_examples(source)} if source.exists() else set()
    rows = test_rows if test_rows is not None else read_examples(test_path)
    leaked = [i for i, ex in enumerate(rows) if row_hash(ex) in seen]
    if leaked:  # split files hold one row per line, so the row index gives the line
        raise DataError(f"{len(leaked)} of {len(rows)} test rows were trained on (per {source.name}); "
                        "scores on them would be lies", where=f"{test_path}:{leaked[0] + 1}",
                        fix="run `tailor data prepare --force` and `tailor train` again, or prepare under a new run name")
