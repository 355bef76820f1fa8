"""`tailor synth ...`: bad input is one line naming the fix and exit code 2; a good run prints a summary."""
from __future__ import annotations

import pytest
from openai_server import FakeOpenAI, phrases

from tailorkit.cli import main


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outs.txt").write_text("\n".join(phrases(3, seed=5)) + "\n", encoding="utf-8")
    return tmp_path


def write_cfg(root, url="http://127.0.0.1:9/v1", extra=""):
    (root / "tailor.yaml").write_text(
        f"teacher:\n  base_url: {url}\n  model: fake-teacher\n  retry_base_s: 0.01\n{extra}"
        "synth:\n  cache: cache.sqlite\n", encoding="utf-8")


def one_line_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize("argv, expected", [
    (["synth", "frobnicate", "outs.txt"], "unknown synth recipe 'frobnicate'. Fix: use one of: backtranslate"),
    (["synth", "backtranslate", "missing.txt"], "missing.txt does not exist"),
    (["synth", "backtranslate", "."], "is a folder"),
    (["synth", "backtranslate", "outs.txt", "--api-key-env", "TAILOR_TEST_NO_SUCH_KEY"],
     "TAILOR_TEST_NO_SUCH_KEY (teacher.api_key_env) is not set. Fix: export TAILOR_TEST_NO_SUCH_KEY="),
    (["synth", "backtranslate", "outs.txt"], "cannot connect to the teacher at http://127.0.0.1:9/v1"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(project, capsys, argv, expected):
    write_cfg(project)
    err = one_line_error(capsys, argv)
    assert expected in err
    if "connect" in expected:
        assert "quick probe before sending any request" in err and "Fix: start the server" in err
    assert not (project / "data" / "synth.jsonl").exists()


def test_refused_connections_without_the_probe_fail_after_retries(project, capsys):
    write_cfg(project, extra="  probe: false\n  max_retries: 2\n")
    err = one_line_error(capsys, ["synth", "backtranslate", "outs.txt"])
    assert "stopped accepting connections" in err and "after 3 attempts" in err and "rerun" in err


def test_unreadable_source_names_the_file(project, capsys):
    write_cfg(project)
    (project / "bad.txt").write_bytes(b"caf\xe9 au lait\n")
    err = one_line_error(capsys, ["synth", "backtranslate", "bad.txt"])
    assert "bad.txt" in err and "UTF-8" in err


@pytest.mark.parametrize("price, field", [
    ("{input: -1, output: 2}", "input"), ("{input: cheap, output: 2}", "input"), ("{input: 1}", "output")])
def test_an_invalid_price_table_is_a_config_error(project, capsys, price, field):
    write_cfg(project, extra=f"  prices:\n    fake-teacher: {price}\n")
    err = one_line_error(capsys, ["synth", "backtranslate", "outs.txt"])
    assert f"teacher.prices.fake-teacher.{field}" in err and "Fix:" in err


def test_budget_without_a_price_is_refused_up_front(project, capsys):
    write_cfg(project)
    err = one_line_error(capsys, ["synth", "backtranslate", "outs.txt", "--budget", "1"])
    assert "teacher.prices" in err


def test_same_command_against_an_endpoint_prints_summary_and_dry_run(project, capsys):
    with FakeOpenAI() as srv:
        write_cfg(project, srv.url, extra="  prices:\n    fake-teacher: {input: 0.15, output: 0.6}\n")
        assert main(["synth", "backtranslate", "outs.txt", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "dry run" in out and "3 rows to do" in out and "est. cost $" in out and not srv.requests
        assert main(["synth", "backtranslate", "outs.txt", "--concurrency", "2"]) == 0
        out = capsys.readouterr().out
        assert "3/3 kept" in out and (project / "data" / "synth.card.md").exists()


@pytest.mark.parametrize("n_failing", [1, 3])
def test_a_run_with_failed_rows_prints_the_summary_and_exits_3(project, capsys, n_failing):
    rows = phrases(3, seed=5)
    rows = [f"{r} [[fault:500:all]]" if i < n_failing else r for i, r in enumerate(rows)]
    (project / "outs.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with FakeOpenAI() as srv:
        write_cfg(project, srv.url, extra="  max_retries: 1\n")
        assert main(["synth", "backtranslate", "outs.txt"]) == 3
    cap = capsys.readouterr()
    assert f"{3 - n_failing}/3 kept" in cap.out and f"{n_failing} failed" in cap.out  # the summary
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and f"{n_failing} of 3 rows failed after retries" in err[0] and "rerun" in err[0]
    kept = [line for line in (project / "data" / "synth.jsonl").read_text().splitlines() if line.strip()]
    failed = [line for line in (project / "data" / "synth.errors.jsonl").read_text().splitlines() if line.strip()]
    assert (len(kept), len(failed)) == (3 - n_failing, n_failing)


def test_exit_codes_are_documented_in_the_help(capsys):
    assert main(["synth", "backtranslate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "3 = finished with failed rows" in out


def test_the_pipeline_exits_3_when_its_synth_step_had_failed_rows(project, capsys):
    rows = phrases(3, seed=5)
    (project / "outs.txt").write_text("\n".join([rows[0] + " [[fault:500:all]]", *rows[1:]]) + "\n", encoding="utf-8")
    with FakeOpenAI() as srv:
        (project / "tailor.yaml").write_text(
            f"teacher:\n  base_url: {srv.url}\n  model: fake-teacher\n  retry_base_s: 0.01\n  max_retries: 1\n"
            "synth:\n  cache: cache.sqlite\n  recipe: backtranslate\n  source: outs.txt\n", encoding="utf-8")
        assert main(["run", "--steps", "synth"]) == 3
    cap = capsys.readouterr()
    assert "2/3 kept" in cap.out and "1 of 3 synth rows failed" in cap.err
