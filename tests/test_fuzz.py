"""Property-based fuzzing (hypothesis): whatever bytes a data file or tailor.yaml holds, loading it
either works or raises the typed TailorError (one line: what, where, fix), never anything else.

Loaders: CSV, TSV, JSONL, JSON, Parquet, from random bytes (with and without a BOM) and from
structured rows with random column names, quotes, delimiters, newlines, empty and huge cells; then
the rows are cleaned and deduplicated as inspect does. Config: random YAML mappings of sections,
keys and values, duplicate keys, random text, and CLI-style overrides. The serve request bodies are
fuzzed against a real server in test_fuzz_serve.py.

Budget: derandomized (the same examples every run), deadline off; 2,000 examples of every strategy.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailorkit.config import load_config
from tailorkit.config.data import DataConfig
from tailorkit.data.clean import clean_examples
from tailorkit.data.dedupe import dedupe
from tailorkit.data.load import load
from tailorkit.errors import TailorError

FUZZ = settings(max_examples=2000, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
SMALL = settings(FUZZ, max_examples=2000)  # strategies that write a bigger file per example

_DIR = Path(tempfile.mkdtemp(prefix="tailorkit-fuzz-"))
BOM = b"\xef\xbb\xbf"
HUGE = "h" * 200_000  # over the csv module's default 128 KiB field limit

# Text that loaders find hard: quotes, delimiters, newlines, BOMs, NULs, surrogate-free unicode.
nasty = st.text(alphabet=st.sampled_from(list('ab ,;\t"\'\n\r\\{}[]:\x00\ufeffé中🙂')), max_size=30)
cell = st.one_of(nasty, st.just(""), st.integers().map(str))
column_name = st.one_of(nasty, st.sampled_from(["User", "Prompt", "prompt", "completion", "instruction",
                                               "output", "messages", "conversations", "user", "assistant"]))


def check(path: Path, data: bytes | None = None, cfg: DataConfig | None = None) -> None:
    """Load (and clean + dedupe) one file: success or a TailorError, nothing else."""
    if data is not None:
        path.write_bytes(data)
    try:
        loaded = load(path, cfg or DataConfig())
    except TailorError as exc:
        assert "\n" not in exc.one_line()
        return
    cleaned = clean_examples(loaded.examples)
    dedupe(cleaned.kept, 0.9)


@FUZZ
@given(data=st.binary(max_size=200), bom=st.booleans(),
       suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".parquet"]))
def test_random_bytes_in_every_format(data, bom, suffix):
    check(_DIR / f"bytes{suffix}", (BOM if bom else b"") + data)


@SMALL
@given(header=st.lists(column_name, min_size=1, max_size=4), rows=st.lists(st.lists(cell, max_size=5), max_size=6),
       delimiter=st.sampled_from([",", ";", "\t"]), quote_all=st.booleans(), bom=st.booleans(),
       crlf=st.booleans(), huge=st.booleans(), suffix=st.sampled_from([".csv", ".tsv"]))
def test_csv_and_tsv_with_random_columns_and_cells(header, rows, delimiter, quote_all, bom, crlf, huge, suffix):
    def field(v: str) -> str:
        # sometimes correctly quoted, sometimes raw (which may break the quoting on purpose)
        return '"' + v.replace('"', '""') + '"' if quote_all else v

    newline = "\r\n" if crlf else "\n"
    if huge:  # one cell over the csv module's 128 KiB default, in the last column
        rows = [*rows, [""] * (len(header) - 1) + [HUGE]]
    lines = [delimiter.join(field(c) for c in header)] + [delimiter.join(field(c) for c in r) for r in rows]
    text = newline.join(lines) + newline
    check(_DIR / f"rows{suffix}", (BOM if bom else b"") + text.encode("utf-8"))


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), nasty),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(column_name, kids, max_size=3)),
    max_leaves=8)
message = st.fixed_dictionaries({"role": st.one_of(st.sampled_from(["system", "user", "assistant", "bot"]), nasty),
                                 "content": st.one_of(nasty, json_value)})
row = st.one_of(st.dictionaries(column_name, json_value, max_size=4),
                st.fixed_dictionaries({"messages": st.lists(message, max_size=4)}),
                st.fixed_dictionaries({"prompt": json_value, "completion": json_value}),
                st.fixed_dictionaries({"conversations": st.lists(
                    st.fixed_dictionaries({"from": st.sampled_from(["human", "gpt", "x"]), "value": json_value}),
                    max_size=3)}))


@SMALL
@given(rows=st.lists(st.one_of(row, json_value), max_size=5), broken=st.booleans(), bom=st.booleans(),
       huge=st.booleans())
def test_jsonl_with_random_rows(rows, broken, bom, huge):
    rows = [*rows, {"prompt": "p", "completion": HUGE}] if huge else rows
    lines = [json.dumps(r) for r in rows] + (['{"prompt": "unclosed'] if broken else [])
    check(_DIR / "rows.jsonl", (BOM if bom else b"") + "\n".join(lines).encode("utf-8"))


@SMALL
@given(value=st.one_of(st.lists(st.one_of(row, json_value), max_size=5), json_value,
                       st.fixed_dictionaries({"data": st.lists(row, max_size=4)})))
def test_json_with_random_values(value):
    check(_DIR / "rows.json", json.dumps(value).encode("utf-8"))


parquet_column = st.one_of(
    st.lists(st.one_of(st.none(), nasty), min_size=3, max_size=3),
    st.lists(st.integers(-2**40, 2**40), min_size=3, max_size=3),
    st.lists(st.floats(allow_nan=True), min_size=3, max_size=3),
    st.lists(st.lists(nasty, max_size=2), min_size=3, max_size=3),
    st.lists(st.fixed_dictionaries({"role": nasty, "content": nasty}), min_size=3, max_size=3))


@settings(FUZZ, max_examples=2000)
@given(columns=st.dictionaries(column_name, parquet_column, min_size=1, max_size=3),
       user=st.one_of(st.none(), column_name), assistant=st.one_of(st.none(), column_name))
def test_parquet_with_random_columns_and_types(columns, user, assistant):
    path = _DIR / "rows.parquet"
    pq.write_table(pa.table(columns), path)
    check(path, cfg=DataConfig(columns={"user": user, "assistant": assistant}))


# --- tailor.yaml ---------------------------------------------------------------------------------

SECTIONS = ["model", "data", "train", "generation", "compare", "teacher", "synth", "kb", "serve", "project_dir"]
KEYS = ["base", "source", "max_length", "epochs", "learning_rate", "method", "lora_r", "columns", "user",
        "embedder", "top_k", "port", "near_duplicate_threshold", "seed", "val_fraction", "run_name", "chat_template"]
scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), nasty,
                   st.sampled_from(["1e-3", "lora", "yes", "2024-13-45", "~", "0x10", "-.inf", "[", "{a: 1}"]))
yaml_value = st.recursive(scalar, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                         st.dictionaries(st.sampled_from(KEYS), kids, max_size=3)),
                          max_leaves=6)
mapping = st.dictionaries(st.one_of(st.sampled_from(SECTIONS), nasty),
                          st.one_of(st.dictionaries(st.one_of(st.sampled_from(KEYS), nasty), yaml_value, max_size=4),
                                    yaml_value), max_size=4)


def load_or_config_error(text: str, overrides: dict | None = None) -> None:
    path = _DIR / "tailor.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path, overrides)
    except TailorError as exc:
        assert "\n" not in exc.one_line()


@settings(FUZZ, max_examples=2000)  # a TailorConfig validation per example
@given(value=mapping, duplicate=st.booleans(),
       overrides=st.dictionaries(st.sampled_from(["train.learning_rate", "data.max_length", "train.epochs",
                                                  "data.columns.user", "kb.top_k"]), scalar, max_size=2))
def test_config_from_random_mappings_duplicates_and_overrides(value, duplicate, overrides):
    text = yaml.safe_dump(value, allow_unicode=True)
    if duplicate and text.strip() not in ("{}", ""):
        first = text.splitlines()[0]
        text = text + first + "\n"  # the first key again, at top level
    load_or_config_error(text, overrides)


@settings(FUZZ, max_examples=2000)
@given(text=st.text(alphabet=st.sampled_from(list("ab:- \n\t'\"{}[]!&*#|>%@`,?1.e~")), max_size=60),
       overrides=st.dictionaries(st.sampled_from(["train.learning_rate", "data.max_length"]), scalar, max_size=1))
def test_config_from_random_yaml_text(text, overrides):
    load_or_config_error(text, overrides)
