"""Recipes end to end: curate (structured scores), expand (self-instruct), the local teacher, `tailor run`."""
from __future__ import annotations

import json

import pytest
from openai_server import FakeOpenAI, make_cfg, phrases, read_jsonl

from tailorkit.config import build_config
from tailorkit.data.example import Example, read_examples, write_examples
from tailorkit.synth.expand import Expand
from tailorkit.synth.recipes import backtranslate, curate, expand, run_synth_step


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(latency=0.005) as srv:
        yield srv


def seed_examples(path, n=6, tag=""):
    texts = phrases(2 * n, seed=7)
    write_examples(path, [Example.simple(f"{tag}please write about {texts[2 * i]}", texts[2 * i + 1])
                          for i in range(n)])
    return path


def test_curate_scores_with_a_schema_keeps_good_rows_and_sets_low_ones_aside(tmp_path, server):
    data = seed_examples(tmp_path / "data.jsonl", n=5)
    rows = read_examples(data)
    rows[1].messages[0]["content"] += " [[score:2]]"
    rows[3].messages[1]["content"] = "I'm sorry, but as an AI I cannot help with that."
    rows.append(Example(messages=[dict(m) for m in rows[0].messages], meta={}))  # an exact duplicate
    write_examples(data, rows)
    before = len(server.requests)
    result = curate(make_cfg(tmp_path, server.url), data)
    assert result.output == tmp_path / "data.curated.jsonl"
    kept, aside = read_jsonl(result.output), read_jsonl(result.aside)
    assert len(kept) == 3 and all(r["meta"]["score"] == 4 and r["meta"]["reason"] for r in kept)
    assert all(r["meta"]["curated"]["teacher"]["model"] == "fake-teacher" for r in kept)
    reasons = sorted(r["meta"]["dropped"] for r in aside)
    assert reasons == ["duplicate", "low_score", "refusal"]
    low = next(r for r in aside if r["meta"]["dropped"] == "low_score")
    assert low["meta"]["score"] == 2, "the score and reason stay with the row set aside"
    sent = server.requests[before:]
    assert len(sent) == 4, "the refusal and the duplicate are set aside without a request"
    assert all(r["body"]["response_format"]["type"] == "json_schema" for r in sent)


def test_structured_output_falls_back_when_the_server_refuses_it(tmp_path):
    data = seed_examples(tmp_path / "d.jsonl", n=3)
    with FakeOpenAI(reject_response_format=True) as srv:
        result = curate(make_cfg(tmp_path, srv.url), data, out=tmp_path / "c.jsonl")
        assert result.kept == 3 and result.failed == 0
        with_schema = [r for r in srv.requests if "response_format" in r["body"]]
        assert with_schema and all(r["status"] == 400 for r in with_schema)
        assert len(srv.requests) - len(with_schema) == 3, "each row answered once, without the schema"


def test_expand_writes_new_pairs_and_drops_pool_near_duplicates(tmp_path, server):
    seeds = seed_examples(tmp_path / "seeds.jsonl", n=4)
    cfg = make_cfg(tmp_path, server.url, expand_demos=2)
    result = expand(cfg, seeds, count=5)
    rows = read_jsonl(result.output)
    assert result.output == tmp_path / "seeds.expanded.jsonl" and len(rows) == 5
    assert all(r["meta"]["recipe"] == "expand" and r["messages"][0]["content"].startswith("describe ") for r in rows)
    recipe = Expand(cfg, type("T", (), {"host": "h", "model": "m", "is_local": False})(), [])
    recipe.seed_requests = ["write a poem about the sea at night"]
    flags = recipe.extra_flags([Example.simple("write a poem about the sea at night please", "x"),
                                Example.simple("list three prime numbers", "y"),
                                Example.simple("list three prime numbers now", "z")])
    assert flags == ["near_duplicate_pool", None, "near_duplicate_pool"]


def test_output_is_example_jsonl_that_data_prepare_accepts(tmp_path, server, tiny_model_dir):
    src = tmp_path / "prompts.csv"
    texts = phrases(30, seed=9)
    src.write_text("Prompt,Other\n" + "".join(f'"{t}",x\n' for t in texts), encoding="utf-8")
    cfg = make_cfg(tmp_path, server.url, column="Prompt", select="first")
    result = backtranslate(cfg, src, out=tmp_path / "data" / "synth.jsonl")
    assert result.kept == 30
    prepare = pytest.importorskip("tailorkit.data.prepare")
    cfg.data.source = str(result.output)
    cfg.model.base = str(tiny_model_dir)  # prepare counts tokens with the student's tokenizer
    prepared = prepare.prepare(cfg)
    total = sum(len(read_examples(cfg.run_dir / "data" / f"{s}.jsonl")) for s in ("train", "val", "test"))
    assert total == 30, prepared


def test_run_synth_step_runs_the_configured_recipe(tmp_path, server):
    (tmp_path / "outs.txt").write_text("\n".join(phrases(4, seed=11)), encoding="utf-8")
    cfg = make_cfg(tmp_path, server.url, recipe="backtranslate", source="outs.txt", output="data/s.jsonl")
    result = run_synth_step(cfg)
    assert result.output == tmp_path / "data" / "s.jsonl" and result.kept == 4


def test_local_teacher_with_the_tiny_model(tmp_path, tiny_model_dir, monkeypatch, capsys):
    monkeypatch.delenv("TAILOR_QUIET")  # bars on: only the runner's bar may show, not one per teacher batch
    src = tmp_path / "outs.txt"
    src.write_text("portrait of a girl on roller skates, neon city at night\n", encoding="utf-8")
    cfg = build_config({"model": {"base": str(tiny_model_dir)},
                        "teacher": {"model": str(tiny_model_dir), "batch_size": 4},
                        "synth": {"cache": str(tmp_path / "c.sqlite"), "n_candidates": 2, "n_demos": 1,
                                  "request_max_tokens": 8, "min_chars": 1, "max_overlap": 1.0}},
                       root=tmp_path)
    result = backtranslate(cfg, src, out=tmp_path / "o.jsonl")
    err = capsys.readouterr().err
    assert "synth backtranslate" in err and "generating" not in err and "local teacher" not in err
    kept, aside, errors = (read_jsonl(p) for p in (result.output, result.aside, result.errors))
    assert len(kept) + len(aside) == 1 and not errors
    for row in kept + aside:
        assert row["meta"]["teacher"] == {"host": "local", "model": str(tiny_model_dir)}
    for row in kept:  # two candidates at spread temperatures, chosen by the student's likelihood
        scored = [c for c in row["meta"]["candidates"] if c["dropped"] is None]
        assert row["meta"]["selected_by"] in ("likelihood", "only")
        assert len(scored) < 2 or all("nll" in c for c in scored)
    again = backtranslate(cfg, src, out=tmp_path / "o.jsonl")
    assert again.requests_sent == 0 and again.resumed == 1


@pytest.mark.slow
def test_bundled_teacher_backtranslates_midjourney_prompts(tmp_path, midjourney_csv):
    cfg = build_config({"synth": {"cache": str(tmp_path / "c.sqlite"),
                                  "instructions": "These are Midjourney image prompts."}}, root=tmp_path)
    result = backtranslate(cfg, midjourney_csv, column="Prompt", out=tmp_path / "mj.jsonl", limit=4)
    kept = read_jsonl(result.output)
    assert result.failed == 0 and len(kept) + sum(result.dropped.values()) == 4
    for row in kept:
        assert row["messages"][0]["role"] == "user" and row["messages"][0]["content"].strip()
        assert json.dumps(row["meta"]["teacher"]) == json.dumps({"host": "local", "model": "smollm2-135m"})
