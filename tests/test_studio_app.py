"""The studio without a browser: the app over a real project folder through FastAPI's TestClient, and a
real job process. Pages render (also with a broken config or CSV), bad input gives the CLI's one line
and writes nothing, a second job is refused, the train form comes from the config schema."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tailorkit.config import TailorConfig, load_config
from tailorkit.errors import ConfigError
from tailorkit.studio import create_app
from tailorkit.studio.forms import form_fields, validate_changes
from tailorkit.studio.runs import list_runs, tuned_worse

ROWS = [("a lighthouse in fog", "lighthouse, fog, oil painting --ar 16:9"),
        ("a tiger at noon", "tiger in tall grass, noon light, photograph"),
        ("a violin on fire", "burning violin, dark stage, 3d render"),
        ("a tiger at noon", "a second answer for the same request"),
        ("a glacier at dusk", "")] + [(f"castle number {i} {'x' * i}", f"castle {i}, {'y' * i} watercolor") for i in range(12)]


@pytest.fixture
def project(tmp_path, tiny_model_dir) -> Path:
    (tmp_path / "data").mkdir()
    with (tmp_path / "data" / "train.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("request", "answer"), *ROWS])
    (tmp_path / "tailor.yaml").write_text(f"model:\n  base: {tiny_model_dir}\ndata:\n  source: data/train.csv\n"
                                          "  columns: {user: request, assistant: answer}\ntrain:\n  run_name: r1\n")
    return tmp_path


@pytest.fixture
def client(project):
    app = create_app(project)
    with TestClient(app) as c:
        yield c
    app.state.studio.jobs.close()


def test_every_page_renders_for_a_fresh_project(client):
    for path in ("/", "/data", "/train", "/compare", "/chat", "/kb"):
        r = client.get(path)
        assert r.status_code == 200 and 'role="alert" style="display:none"' in r.text, path
    assert "No runs yet" in client.get("/").text
    assert "No trained run yet" in client.get("/compare").text


def test_data_page_flags_rows_and_an_exclusion_is_an_override(client, project):
    page = client.get("/data?flag=any").text
    assert "train.csv:5" in page and "conflicting answers" in page and "empty side" in page  # line 6: empty answer
    r = client.post("/api/data/override", json={"where": "train.csv:5", "action": "exclude"})
    assert r.status_code == 200
    lines = (project / "data" / "overrides.jsonl").read_text().splitlines()
    assert [json.loads(x)["where"] for x in lines] == ["train.csv:5"]
    assert 'class="data-row excluded"' in client.get("/data?q=train.csv:5").text
    r = client.post("/api/data/override", json={"where": "train.csv:99", "action": "exclude"})
    assert r.status_code == 400 and r.json()["error"].startswith(str(project / "data" / "train.csv"))


def test_broken_csv_and_broken_config_show_the_cli_line(client, project):
    (project / "data" / "train.csv").write_text('request,answer\n"never closed,x\nb,c\n')
    page = client.get("/data").text
    assert "unclosed" in page.lower() or "quote" in page.lower()
    assert 'role="alert" style="display:block"' in page
    (project / "tailor.yaml").write_text("train:\n  lora_rank: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_config(project / "tailor.yaml")
    for path in ("/", "/data", "/train", "/compare", "/chat", "/kb"):
        r = client.get(path)
        assert r.status_code == 200 and exc.value.one_line().replace("'", "&#39;") in r.text, path


def test_train_form_comes_from_the_schema_and_rejects_bad_values_like_the_cli(project):
    fields = {f.name: f for f in form_fields(TailorConfig())}
    assert fields["train.method"].kind == "select" and fields["train.method"].choices == ["lora", "dora", "qlora", "full"]
    assert fields["train.max_steps"].optional and fields["train.lora_r"].help.endswith("LoRA rank")
    cfg = load_config(project / "tailor.yaml")
    assert validate_changes(project / "tailor.yaml", {"train.lora_r": "8"}, cfg) == {"train.lora_r": "8"}
    with pytest.raises(ConfigError) as form_err:
        validate_changes(project / "tailor.yaml", {"train.lora_r": "-3"}, cfg)
    with pytest.raises(ConfigError) as cli_err:
        load_config(project / "tailor.yaml", {"train.lora_r": "-3"})
    assert form_err.value.one_line() == cli_err.value.one_line()


def test_unsupported_kb_upload_is_refused_and_writes_nothing(client, project):
    r = client.post("/api/kb/upload?name=tool.exe", content=b"MZ")
    assert r.status_code == 400
    assert r.json()["error"].startswith("docs/tool.exe: nothing ingested: unsupported file type '.exe'")
    assert not (project / "docs").exists()


def test_one_job_at_a_time_and_the_job_result(client, project):
    r = client.post("/api/train", json={"changes": {"train.lora_r": "0"}})
    assert r.status_code == 400 and "'train.lora_r' is invalid" in r.json()["error"]
    r = client.post("/api/train", json={})
    assert r.status_code == 400 and "run 'r1' has no prepared data" in r.json()["error"]
    assert client.get("/api/job").json()["job"] is None  # nothing started
    r = client.post("/api/prepare", json={"run_name": "r1"})
    assert r.status_code == 200 and r.json()["job"]["running"]
    second = client.post("/api/prepare", json={"run_name": "r2"})
    assert second.status_code == 400 and second.json()["error"].startswith("a job is already running (prepare data of run r1)")
    job = None
    for _ in range(600):
        job = client.get("/api/job").json()["job"]
        if not job["running"]:
            break
        time.sleep(0.2)
    assert job["state"] == "done" and job["result"]["overrides"] == {"excluded": 0, "edited": 0}
    assert not (project / "runs" / "r2").exists()
    runs = list_runs(project / "runs")
    assert [(r.name, r.status) for r in runs] == [("r1", "prepared")] and sum(runs[0].rows.values()) == job["result"]["kept"]


def test_run_status_losses_and_compare_headline(tmp_path):
    run = tmp_path / "runs" / "a"
    (run / "data").mkdir(parents=True)
    (run / "data" / "train.jsonl").write_text("")
    (run / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 3.0}\n{"kind": "val", "step": 2, "val_loss": 2.5}\n'
                                       '{"kind": "val", "step": 4, "val_loss": 2.25}\n{"kind": "tr')  # torn last line
    (run / "adapter").mkdir()
    (run / "compare.json").write_text(json.dumps({"better": {"chrf": "tuned", "nll": "base", "median_words": None},
                                                  "base": {"rouge_l": 0.1}, "tuned": {"rouge_l": 0.2}}))
    [info] = list_runs(tmp_path / "runs")
    assert (info.status, info.best_val_loss, info.steps) == ("compared", 2.25, 4)
    assert info.headline == "tuned better on 1 of 2 metrics; word overlap (ROUGE-L) 0.100 → 0.200"
    assert tuned_worse({"base": {"chrf": 30.0}, "tuned": {"chrf": 20.0}})
    assert not tuned_worse({"base": {"chrf": 30.0}, "tuned": {"chrf": 40.0}})


def _compare_doc() -> dict:
    row = lambda i, b, t: {"index": i, "request": f"request {i}", "reference": f"reference {i}",  # noqa: E731
                           "source": {"source": "train.csv", "line": i + 2},
                           "base": {"text": f"base answer {i}", "chrf": b}, "tuned": {"text": f"tuned answer {i}", "chrf": t}}
    return {"n_rows": 2, "metrics": [{"key": "chrf", "label": "chrF (0-100)", "better": "higher"},
                                     {"key": "never_stops_rate", "label": "never-stops rate", "better": "lower"}],
            "base": {"chrf": 20.0, "never_stops_rate": 0.5}, "tuned": {"chrf": 30.0, "never_stops_rate": 0.0},
            "reference": {}, "better": {"chrf": "tuned", "never_stops_rate": "tuned"},
            "rows": [row(0, 10.0, 40.0), row(1, 30.0, 20.0)],
            "checks": {"format": {"base": 0.25, "tuned": 0.75}}, "judge": {"wins": 3, "losses": 1}}


def test_compare_page_shows_metrics_rows_the_worse_filter_and_checks_and_judge(client, project):
    run = project / "runs" / "r1"
    (run / "adapter").mkdir(parents=True)
    (run / "compare.json").write_text(json.dumps(_compare_doc()))
    page = client.get("/compare").text
    assert page.count('class="side compare-row"') == 2 and "tuned answer 0" in page and "reference 1" in page
    assert "50.0%" in page and "0.0%" in page  # rates as percentages
    assert 'id="extra-checks"' in page and 'id="extra-judge"' in page and "wins" in page
    worse = client.get("/compare?run=r1&worse=1").text
    assert worse.count('class="side compare-row"') == 1 and "tuned answer 1" in worse and "tuned answer 0" not in worse
    assert "tuned better on 2 of 2 metrics" in client.get("/").text


def test_an_edited_row_shows_its_new_text_and_can_be_restored(client, project):
    r = client.post("/api/data/override", json={"where": "train.csv:2", "action": "edit",
                                                "user": "a new request", "assistant": "a new answer"})
    assert r.status_code == 200
    page = client.get("/data?q=train.csv:2").text
    assert "a new request" in page and "flag-edited" in page
    bad = client.post("/api/data/override", json={"where": "train.csv:2", "action": "edit", "user": "x", "assistant": ""})
    assert bad.status_code == 400 and "needs both a request and an answer" in bad.json()["error"]
    client.post("/api/data/override", json={"where": "train.csv:2", "action": None})
    assert (project / "data" / "overrides.jsonl").read_text() == ""


def test_passage_page_highlights_the_cited_lines_and_stays_inside_the_project(client, project):
    (project / "docs").mkdir()
    (project / "docs" / "p.md").write_text("# Title\n\nline three\nline four\n")
    page = client.get("/kb/passage?doc=docs/p.md&start=3&end=4").text
    assert '<div class="hl" id="cited"><span class="ln">3</span>line three</div>' in page
    outside = client.get("/kb/passage?doc=../../../etc/passwd&start=1&end=1&snippet=quoted").text
    assert "root:" not in outside and "<mark>quoted</mark>" in outside


def test_cli_studio_without_a_project_is_one_line(tmp_path, capsys):
    from tailorkit.cli import main

    assert main(["studio", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no tailor.yaml in" in err and "\n" not in err
