"""Task checks: does each answer do what the task needs? Pass rates per check, per model.

Configured under `compare.checks` (typed in config/checks.py). Lives at the package top so that
both `data inspect` (reference pass rates before training) and `evaluate` (base vs tuned) use it
without importing each other. A check that the user's own reference answers mostly fail is
flagged as a likely wrong check: the gold is the specification, so the check probably is not.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config.checks import (CheckConfig, JSONCheck, JSONSchemaCheck, LengthCheck, LinesCheck, LineWidthCheck,
                            NotRegexCheck, NotStartsWithCheck, RegexCheck, StartsWithCheck, check_schema)
from .errors import ConfigError

#: below this share of passing reference answers, a check is flagged "likely wrong check"
REFERENCE_MIN_PASS = 0.8

TokenCounter = Callable[[str], int]


def _bounds(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"{lo}-{hi}"
    return f">= {lo}" if lo is not None else f"<= {hi}"


def describe(check: CheckConfig) -> str:
    """A short human label for a check (its `name` when set)."""
    if check.name:
        return check.name
    if isinstance(check, NotRegexCheck):
        return f"no match of /{check.pattern}/"
    if isinstance(check, RegexCheck):
        return f"matches /{check.pattern}/"
    if isinstance(check, NotStartsWithCheck):
        return "does not start with " + " / ".join(repr(p) for p in check.prefixes)
    if isinstance(check, StartsWithCheck):
        return "starts with " + " / ".join(repr(p) for p in check.prefixes)
    if isinstance(check, LengthCheck):
        return f"{_bounds(check.min, check.max)} {check.unit}"
    if isinstance(check, LinesCheck):
        return "one line" if check.min in (None, 1) and check.max == 1 else f"{_bounds(check.min, check.max)} lines"
    if isinstance(check, LineWidthCheck):
        return f"lines <= {check.max} characters"
    if isinstance(check, JSONSchemaCheck):
        return "matches the JSON schema"
    return "valid JSON"


class Checker:
    """Compiled checks: `passes(text)` -> one bool per check. `count_tokens` is needed only by
    length checks in tokens; `root` resolves schema_file paths."""

    def __init__(self, checks: Sequence[CheckConfig], *, root: Path | None = None,
                 count_tokens: TokenCounter | None = None) -> None:
        self.checks = list(checks)
        self.labels = [describe(c) for c in self.checks]
        self.count_tokens = count_tokens
        self._tests = [self._compile(i, c, root) for i, c in enumerate(self.checks)]

    @property
    def needs_tokens(self) -> bool:
        return any(isinstance(c, LengthCheck) and c.unit == "tokens" for c in self.checks)

    def _compile(self, i: int, c: CheckConfig, root: Path | None) -> Callable[[str], bool]:
        if isinstance(c, RegexCheck):
            rx = re.compile(c.pattern, re.I if c.ignore_case else 0)
            negate = isinstance(c, NotRegexCheck)
            return lambda t: (rx.search(t) is None) if negate else (rx.search(t) is not None)
        if isinstance(c, StartsWithCheck):
            prefixes = tuple(p.lower() for p in c.prefixes) if c.ignore_case else tuple(c.prefixes)
            negate = isinstance(c, NotStartsWithCheck)

            def starts(t: str) -> bool:
                head = t.lstrip().lower() if c.ignore_case else t.lstrip()
                return head.startswith(prefixes) != negate
            return starts
        if isinstance(c, LengthCheck):
            def length(t: str) -> bool:
                n = len(t.split()) if c.unit == "words" else self._tokens(i, t)
                return (c.min is None or n >= c.min) and (c.max is None or n <= c.max)
            return length
        if isinstance(c, LinesCheck):
            def lines(t: str) -> bool:
                n = sum(1 for line in t.splitlines() if line.strip())
                return (c.min is None or n >= c.min) and (c.max is None or n <= c.max)
            return lines
        if isinstance(c, LineWidthCheck):
            return lambda t: all(len(line) <= c.max for line in t.splitlines())
        if isinstance(c, JSONSchemaCheck):
            return self._schema_test(i, c, root)
        if isinstance(c, JSONCheck):
            return lambda t: _parse_json(t) is not _INVALID
        raise ConfigError(f"unknown check type {type(c).__name__}", where=f"compare.checks.{i}")

    def _tokens(self, i: int, text: str) -> int:
        if self.count_tokens is None:
            raise ConfigError("a length check in tokens needs a tokenizer", where=f"compare.checks.{i}.unit",
                              fix="use unit: words, or run it where the model's tokenizer is available")
        return self.count_tokens(text)

    @staticmethod
    def _schema_test(i: int, c: JSONSchemaCheck, root: Path | None) -> Callable[[str], bool]:
        import jsonschema

        schema = c.json_schema
        if schema is None:
            path = Path(c.schema_file).expanduser()
            path = path if path.is_absolute() or root is None else root / path
            where = f"compare.checks.{i}.schema_file"
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(f"cannot read the JSON schema {path} ({exc.strerror})", where=where,
                                  fix="point schema_file at an existing JSON file") from None
            except ValueError as exc:
                raise ConfigError(f"the JSON schema {path} is not valid JSON ({exc})", where=where,
                                  fix="correct the file") from None
            try:
                check_schema(schema)
            except ValueError as exc:
                raise ConfigError(str(exc), where=where, fix="correct the schema") from None
        validator = jsonschema.validators.validator_for(schema)(schema)

        def conforms(t: str) -> bool:
            value = _parse_json(t)
            return value is not _INVALID and validator.is_valid(value)
        return conforms

    def passes(self, text: str) -> list[bool]:
        return [test(text) for test in self._tests]


_INVALID = object()


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _INVALID


@dataclass
class CheckSummary:
    """One check's pass rates: per model (e.g. base, tuned) and on the reference answers."""

    label: str
    type: str
    pass_rate: dict[str, float]
    reference_pass_rate: float | None
    likely_wrong: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "type": self.type, "pass_rate": self.pass_rate,
                "reference_pass_rate": self.reference_pass_rate, "likely_wrong": self.likely_wrong}


@dataclass
class CheckReport:
    """Pass rates for every check, plus which checks each row's answer failed, per model."""

    checks: list[CheckSummary]
    failed: dict[str, list[list[str]]] = field(default_factory=dict)  # model -> row -> failed labels
    all_pass_rate: dict[str, float] = field(default_factory=dict)  # model -> share passing every check

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [c.to_dict() for c in self.checks], "all_pass_rate": self.all_pass_rate}


def run_checks(checker: Checker, answers: dict[str, Sequence[str]], references: Sequence[str] | None = None,
               ) -> CheckReport:
    """Pass rates of every check on each model's answers (`answers`: model name -> texts) and on
    the references; the references' results also go under the name "reference"."""
    table: dict[str, list[list[bool]]] = {name: [checker.passes(t) for t in texts] for name, texts in answers.items()}
    if references is not None:
        table["reference"] = [checker.passes(t) for t in references]
    summaries = []
    for j, (label, check) in enumerate(zip(checker.labels, checker.checks)):
        rates = {name: _rate([row[j] for row in rows]) for name, rows in table.items()}
        ref = rates.pop("reference", None)
        summaries.append(CheckSummary(label, check.type, rates, ref,
                                      likely_wrong=ref is not None and ref < REFERENCE_MIN_PASS))
    failed = {name: [[checker.labels[j] for j, ok in enumerate(row) if not ok] for row in rows]
              for name, rows in table.items()}
    all_pass = {name: _rate([all(row) for row in rows]) for name, rows in table.items()}
    return CheckReport(summaries, failed, all_pass)


def _rate(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else 0.0


def project_checker(cfg) -> Checker | None:
    """The project's compiled compare.checks (None when none are configured); token-length checks count
    with the base model's tokenizer."""
    if not cfg.compare.checks:
        return None
    checker = Checker(cfg.compare.checks, root=cfg.root)
    if checker.needs_tokens:
        from .data.lengths import load_data_tokenizer

        tok = load_data_tokenizer(cfg)
        checker.count_tokens = lambda t: len(tok(t, add_special_tokens=False)["input_ids"])
    return checker
