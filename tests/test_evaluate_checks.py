"""Task checks: each check type, config errors, and the checks + judge sections of compare."""
from __future__ import annotations

import json

import pytest

from judge_server import serve_judge
from tailorkit.checks import Checker, run_checks
from tailorkit.cli import main
from tailorkit.config import build_config
from tailorkit.errors import ConfigError
from test_evaluate_support import make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)


def _checker(*checks, root=None, **kw):
    cfg = build_config({"compare": {"checks": list(checks)}}, root=root or ".")
    return Checker(cfg.compare.checks, root=root, **kw)


@pytest.mark.parametrize("check,good,bad", [
    ({"type": "regex", "pattern": r"--ar \d+:\d+"}, "a cat --ar 3:2", "a cat"),
    ({"type": "not_regex", "pattern": "(?i)as an ai"}, "a cat", "As an AI, I draw a cat"),
    ({"type": "starts_with", "prefixes": ["midjourney"]}, "  Midjourney prompt", "prompt"),
    ({"type": "not_starts_with", "prefixes": ["Sure", "Here is"]}, "a cat, neon", "Sure! a cat"),
    ({"type": "length", "min": 2, "max": 4}, "one two three", "one two three four five"),
    ({"type": "length", "max": 3, "unit": "tokens"}, "ab", "ab ab ab ab"),
    ({"type": "lines", "max": 1}, "one line\n\n", "two\nlines"),
    ({"type": "max_line_width", "max": 10}, "short\nlines", "this line is too wide"),
    ({"type": "json"}, ' {"a": 1} ', "{'a': 1}"),
    ({"type": "json_schema", "schema": {"type": "object", "required": ["a"]}}, '{"a": 1}', '{"b": 1}'),
])
def test_each_check_type_passes_and_fails(check, good, bad):
    checker = _checker(check, count_tokens=lambda t: len(t.split()))
    assert checker.passes(good) == [True] and checker.passes(bad) == [False]


def test_schema_file_and_reference_flag(tmp_path):
    (tmp_path / "s.json").write_text('{"type": "array"}')
    checker = _checker({"type": "json_schema", "schema_file": "s.json"}, {"type": "lines", "max": 1}, root=tmp_path)
    rep = run_checks(checker, {"base": ["[1]", "x"], "tuned": ["[]", "[2]"]}, ["{}", "[3]"])
    schema, lines = rep.checks
    assert schema.pass_rate == {"base": 0.5, "tuned": 1.0} and schema.reference_pass_rate == 0.5
    assert schema.likely_wrong and not lines.likely_wrong
    assert rep.failed["base"][1] == ["matches the JSON schema"] and rep.all_pass_rate["tuned"] == 1.0


@pytest.mark.parametrize("check,field", [
    ({"type": "regex", "pattern": "(unclosed"}, "compare.checks.0"),
    ({"type": "json_schema", "schema": {"type": "nonsense"}}, "compare.checks.0"),
    ({"type": "length"}, "compare.checks.0"),
])
def test_invalid_check_is_one_line_config_error(tmp_path, capsys, check, field):
    with pytest.raises(ConfigError) as info:
        build_config({"compare": {"checks": [check]}}, root=tmp_path)
    assert field in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "tailor.yaml").write_text(json.dumps({"compare": {"checks": [check]}}))
    assert main(["compare", "-c", str(tmp_path / "tailor.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and field in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


CHECKS = [{"type": "lines", "max": 1, "name": "one line"},
          {"type": "regex", "pattern": "--ar", "name": "has --ar"},
          {"type": "length", "min": 4, "unit": "tokens", "name": "4+ tokens"}]


@pytest.mark.usefixtures("one_thread")
def test_compare_reports_checks_and_judge(tiny_model_dir, tmp_path):
    from tailorkit.evaluate.compare import compare

    with serve_judge("longer") as (url, log):
        cfg = make_run(tmp_path, tiny_model_dir, compare={"batch_size": 4, "n_examples": 2, "checks": CHECKS,
                                                          "judge": {"base_url": url, "model": "judge",
                                                                    "cache": str(tmp_path / "j.sqlite")}})
        result = compare(cfg)
    doc = json.loads(result.compare_path.read_text())
    by = {c["label"]: c for c in doc["checks"]["checks"]}
    # The overfit tuned model reproduces the references: same pass rates as the references.
    assert by["has --ar"]["reference_pass_rate"] == pytest.approx(1 / 3) and by["has --ar"]["likely_wrong"]
    assert by["has --ar"]["pass_rate"]["tuned"] == pytest.approx(1 / 3)
    assert by["one line"]["pass_rate"]["tuned"] == 1.0 and not by["one line"]["likely_wrong"]
    assert doc["rows"][1]["tuned"]["checks_failed"] == ["has --ar"]
    assert doc["judge"]["enabled"] and doc["judge"]["judged"] == 3 and len(log) == 6
    assert doc["rows"][0]["judge"]["outcome"] in ("tuned", "base", "tie")
    html = result.report_path.read_text()
    assert "Task checks" in html and "likely wrong check" in html and "length-controlled" in html
    assert "fails: has --ar" in html


@pytest.mark.usefixtures("one_thread")
def test_compare_without_judge_says_it_is_off(tiny_model_dir, tmp_path, capsys):
    cfg = make_run(tmp_path, tiny_model_dir, compare={"batch_size": 4, "n_examples": 1, "checks": CHECKS[:1]})
    (tmp_path / "tailor.yaml").write_text(cfg.to_yaml())
    assert main(["compare", "-c", str(tmp_path / "tailor.yaml")]) == 0
    out = capsys.readouterr().out
    assert "judge: off" in out and "one line" in out
    doc = json.loads((cfg.run_dir / "compare.json").read_text())
    assert doc["judge"] == {"enabled": False}
    assert "The judge is off" in (cfg.run_dir / "report.html").read_text()


def test_data_inspect_reports_reference_pass_rates(tmp_path, capsys):
    (tmp_path / "raw.csv").write_text("User,Prompt\na cat,\"a cat, neon --ar 3:2\"\na dog,\"a dog\"\n")
    (tmp_path / "tailor.yaml").write_text(json.dumps({
        "data": {"source": "raw.csv", "columns": {"user": "User", "assistant": "Prompt"}},
        "compare": {"checks": CHECKS[:2] + [{"type": "length", "min": 1, "unit": "tokens"}]}}))
    assert main(["data", "inspect", "-c", str(tmp_path / "tailor.yaml"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    checks = {c["label"]: c for c in report["checks"]}
    assert checks["has --ar"]["reference_pass_rate"] == 0.5 and checks["has --ar"]["likely_wrong"]
    assert checks["one line"]["reference_pass_rate"] == 1.0


@pytest.mark.usefixtures("one_thread")
def test_compare_with_refused_judge_url_fails_before_generating(tiny_model_dir, tmp_path, capsys):
    from local_http import free_port

    cfg = make_run(tmp_path, tiny_model_dir)
    (tmp_path / "tailor.yaml").write_text(cfg.to_yaml())
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["compare", "-c", str(tmp_path / "tailor.yaml"), "--judge", url]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "judge" in err and "compare.judge.base_url" in err and "Traceback" not in err
    assert not (cfg.run_dir / "compare.json").exists() and not (cfg.run_dir / "report.html").exists()
