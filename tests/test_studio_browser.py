"""The studio in a real browser: headless Chromium (Debian `chromium` + `chromium-driver`) through Selenium
drives one journey on the tiny random model, against `tailor studio` running as its own process.

Open the project, see the flagged rows of a CSV written here, exclude one, prepare, train while the loss
chart gains points (the runs page answering in < 500 ms p95 meanwhile), refuse a second launch, stop and
resume, compare side by side, chat with both models streaming, add a document to the KB and open a
cited passage. Bad input (an invalid form value, an unsupported KB file, a broken CSV) shows one line
and writes nothing. Set TAILOR_STUDIO_SCREENSHOTS=docs to save a screenshot of each screen there.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from local_http import free_port

CHROMIUM, DRIVER = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian chromium and chromium-driver: "
                                 "apt-get install -y chromium chromium-driver")]
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
STEPS = 300  # long enough on the tiny model that the stop below lands before the run ends
NOUNS = ["lighthouse", "tiger", "violin", "glacier", "robot", "orchard", "submarine", "castle", "desert", "piano",
         "falcon", "volcano", "library", "canyon", "jellyfish", "windmill", "samurai", "nebula", "bakery", "tram"]
STYLES = ["watercolor", "oil painting", "pixel art", "charcoal sketch", "photograph", "3d render", "ukiyo-e",
          "art deco poster", "stained glass", "claymation"]
POLICY = "# Leave policy\n\n## Vacation\n\nEmployees receive 27 vacation days per calendar year.\nUnused days expire on March 31.\n"


def _write_project(root: Path, model: Path) -> dict[str, int]:
    """A CSV of distinct rows plus one exact duplicate, one empty answer and one conflicting answer.
    Returns the file lines of the problem rows."""
    rng = random.Random(7)
    pairs = [(n, s) for n in NOUNS for s in STYLES]
    rng.shuffle(pairs)
    lines = ["request,answer"]
    for i, (noun, style) in enumerate(pairs[:40]):
        lines.append(f"{noun} as {style} #{i},\"{style} of a {noun}, {rng.choice(['dusk', 'noon', 'fog', 'rain'])} "
                     f"{rng.randint(100, 999)} --ar {rng.choice(['16:9', '3:2', '1:1'])}\"")
    lines.append(lines[1])  # exact duplicate of line 2
    lines.append(f"{pairs[50][0]} alone #50,")  # empty answer
    lines.append(lines[3].split(",")[0] + ",a completely different answer here")  # conflicts with line 4
    (root / "data").mkdir(parents=True)
    (root / "data" / "train.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "tailor.yaml").write_text(
        f"name: studio-test\nmodel:\n  base: {model}\n"
        "data:\n  source: data/train.csv\n  columns: {user: request, assistant: answer}\n  max_length: 128\n"
        "  val_fraction: 0.15\n  test_fraction: 0.15\n"
        "train:\n  run_name: first\n  log_every_steps: 1\n  batch_size: 4\n  early_stopping_patience: 0\n"
        f"generation:\n  max_new_tokens: 12\ncompare:\n  max_rows: 4\nkb:\n  answer_model: {model}\n",
        encoding="utf-8")
    return {"duplicate": 42, "empty": 43, "conflict": 44, "conflicted": 4}


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("studio") / "proj"
    lines = _write_project(root, tiny_model_dir)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path]), "TAILOR_QUIET": "1"}
    log = (root.parent / "studio.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", "from tailorkit.cli import run; run()", "studio", str(root),
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/api/job", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the studio exited: {(root.parent / 'studio.log').read_text()}")
            time.sleep(0.2)
    yield {"url": url, "root": root, "lines": lines}
    proc.send_signal(2)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def _wait(driver, cond, timeout=180, what="condition"):
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: cond(d), message=what)


def _text(driver, css) -> str:
    els = driver.find_elements(By.CSS_SELECTOR, css)
    return els[0].text if els else ""


def _job_id(driver) -> str | None:
    return driver.find_element(By.ID, "job").get_attribute("data-job")


def _job_done(driver, before: str | None, timeout=300) -> str:
    """Wait until the banner shows a job other than `before` that has ended; the banner's text."""
    _wait(driver, lambda d: _job_id(d) not in (None, "", before)
          and d.find_element(By.ID, "job").get_attribute("data-state") != "running", timeout, "the job to finish")
    return _text(driver, "#job")


def _shot(driver, name: str) -> None:
    out = os.environ.get("TAILOR_STUDIO_SCREENSHOTS")
    if not out:
        return
    import base64

    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 2400), "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / f"studio-{name}.png").write_bytes(base64.b64decode(shot["data"]))


def _points(driver) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, "#loss circle.pt-train"))


def _get_ms(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as resp:
        resp.read()
    return (time.perf_counter() - t0) * 1000


def test_studio_journey(studio, browser):
    d, url, root, lines = browser, studio["url"], studio["root"], studio["lines"]
    d.get(url + "/")
    assert "No runs yet" in _text(d, "main")

    # Data: flagged rows with file:line, exclude one, the source file untouched
    csv_before = (root / "data" / "train.csv").read_bytes()
    d.get(url + "/data")
    problems = _text(d, "#problems")
    assert f"train.csv:{lines['duplicate']}" in problems and "exact duplicate of train.csv:2" in problems
    assert f"train.csv:{lines['empty']}" in problems and "empty answer" in problems
    assert "different answers" in problems
    d.get(url + "/data?flag=any")
    flagged = {r.get_attribute("data-where"): r.text for r in d.find_elements(By.CSS_SELECTOR, "tr.data-row")}
    assert "duplicate" in flagged[f"train.csv:{lines['duplicate']}"] and "empty side" in flagged[f"train.csv:{lines['empty']}"]
    conflict = f"train.csv:{lines['conflict']}"
    d.get(url + "/data?q=" + conflict)
    d.find_element(By.CSS_SELECTOR, f"[data-exclude='{conflict}']").click()
    _wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.data-row.excluded"), 60, "the row to show as excluded")
    overrides = [json.loads(x) for x in (root / "data" / "overrides.jsonl").read_text().splitlines()]
    assert [(o["where"], o["action"]) for o in overrides] == [(conflict, "exclude")]
    assert (root / "data" / "train.csv").read_bytes() == csv_before
    d.get(url + "/data?flag=any")
    assert "1 / 0" in _text(d, "#counts")
    _shot(d, "data")

    # Prepare from the Data screen, progress in the job banner
    d.find_element(By.ID, "prepare").click()
    assert "finished" in _job_done(d, None) and "rows kept" in _text(d, "#job")
    prepared = [json.loads(x) for s in ("train", "val", "test")
                for x in (root / "runs" / "first" / "data" / f"{s}.jsonl").read_text().splitlines()]
    assert "a completely different answer here" not in json.dumps(prepared)

    # Train: an invalid form value is one line and starts nothing
    d.get(url + "/train")
    lora_r = d.find_element(By.ID, "f-train.lora_r")
    lora_r.clear()
    lora_r.send_keys("-3")
    d.find_element(By.ID, "train-start").click()
    _wait(d, lambda d: _text(d, "#message"), 30, "the form error")
    msg = _text(d, "#message")
    assert "'train.lora_r' is invalid" in msg and "\n" not in msg
    assert not (root / "runs" / "first" / "metrics.jsonl").exists()
    lora_r.clear()
    lora_r.send_keys("16")
    steps = d.find_element(By.ID, "f-train.max_steps")
    steps.clear()
    steps.send_keys(str(STEPS))
    d.find_element(By.ID, "train-start").click()
    _wait(d, lambda d: _points(d) >= 1, 300, "the first loss point")
    train_job = _job_id(d)
    first = _points(d)
    _wait(d, lambda d: _points(d) > first, 120, "the chart to gain points while training runs")
    # the runs page stays responsive while the job trains
    times = [_get_ms(url + "/") for _ in range(20)]
    p95 = statistics.quantiles(times, n=20)[-1]
    print(f"runs page while training: p50 {statistics.median(times):.0f} ms, p95 {p95:.0f} ms; load {os.getloadavg()}")
    assert p95 < 500
    # a second launch is refused with a message
    d.find_element(By.ID, "train-start").click()
    _wait(d, lambda d: "already running" in _text(d, "#message"), 30, "the refusal")
    d.find_element(By.ID, "job-stop").click()
    _wait(d, lambda d: d.find_element(By.ID, "job").get_attribute("data-state") == "stopped", 120, "the stop")
    stopped_at = _points(d)
    assert list((root / "runs" / "first" / "checkpoints").glob("step-*")) and not (root / "runs" / "first" / "adapter").exists()
    assert stopped_at < STEPS
    d.find_element(By.ID, "train-resume").click()
    # the resumed run is a job of its own; it may end between two polls of the page (a stop that lands near
    # the end leaves only a few steps), so wait for it to have ended rather than to be seen running
    assert "finished" in _job_done(d, train_job, 300)
    _wait(d, lambda d: _points(d) >= STEPS, 10, f"all {STEPS} points")
    train_steps = [json.loads(line)["step"] for line in (root / "runs" / "first" / "metrics.jsonl").open()
                   if json.loads(line)["kind"] == "train"]
    assert train_steps == list(range(1, STEPS + 1))  # one uninterrupted run: the resume continued, nothing twice
    assert (root / "runs" / "first" / "adapter").exists()
    _shot(d, "train")
    d.get(url + "/")
    assert "trained" in _text(d, "tr.run[data-run='first']")

    # Compare: metrics and every test row side by side
    d.get(url + "/compare")
    d.find_element(By.ID, "compare-start").click()
    _wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#metrics"), 300, "the compare results")
    rows = d.find_elements(By.CSS_SELECTOR, ".compare-row")
    assert len(rows) == 4 and all(r.find_elements(By.CSS_SELECTOR, ".base") and r.find_elements(By.CSS_SELECTOR, ".tuned")
                                  for r in rows)
    _shot(d, "compare")
    d.find_element(By.ID, "worse-only").click()
    _wait(d, lambda d: "worse=1" in d.current_url, 30, "the worse filter")
    d.get(url + "/")
    assert "compared" in _text(d, "tr.run[data-run='first']")
    _shot(d, "runs")

    # Chat: the same message streams into both panes
    d.get(url + "/chat")
    d.find_element(By.ID, "chat-message").send_keys("lighthouse as watercolor")
    d.find_element(By.ID, "chat-send").click()
    for pane in ("#pane-base", "#pane-tuned"):
        _wait(d, lambda d, p=pane: "tokens in" in _text(d, p + " .meta"), 180, f"{pane} to finish")
        assert _text(d, pane + " .answer")
        assert int(d.find_element(By.CSS_SELECTOR, pane).get_attribute("data-pieces")) >= 2  # streamed, not one block
    _shot(d, "chat")

    # KB: an unsupported file is refused and not written; a document is added, searched and cited
    d.get(url + "/kb")
    bad, good = root.parent / "notes.exe", root.parent / "policy.md"
    bad.write_bytes(b"MZ\x00binary")
    good.write_text(POLICY, encoding="utf-8")
    d.find_element(By.ID, "kb-file").send_keys(str(bad))
    d.find_element(By.ID, "kb-upload").click()
    _wait(d, lambda d: "unsupported file type '.exe'" in _text(d, "#message"), 30, "the unsupported-type message")
    assert "\n" not in _text(d, "#message") and not (root / "docs" / "notes.exe").exists()
    before = _job_id(d)
    d.find_element(By.ID, "kb-file").send_keys(str(good))
    d.find_element(By.ID, "kb-upload").click()
    assert "finished" in _job_done(d, before, 300)
    _wait(d, lambda d: "docs/policy.md" in _text(d, "#kb-docs"), 60, "the document list")
    d.find_element(By.ID, "kb-query").send_keys("vacation days")
    d.find_element(By.CSS_SELECTOR, "#kb-search-form button").click()
    _wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.hit-row"), 180, "search hits")
    assert "docs/policy.md" in _text(d, "tr.hit-row")
    d.find_element(By.ID, "kb-question").send_keys("How many vacation days do employees receive?")
    d.find_element(By.CSS_SELECTOR, "#kb-ask-form button").click()
    _wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".citations a.cite"), 180, "a cited answer")
    _shot(d, "kb")
    d.find_element(By.CSS_SELECTOR, ".citations a.cite").click()
    _wait(d, lambda d: d.find_elements(By.ID, "passage"), 30, "the passage")
    assert "27 vacation days" in _text(d, "#passage .hl")

    # A broken CSV: the Data screen shows the one line the CLI gives; prepare writes nothing
    (root / "data" / "train.csv").write_text('request,answer\n"an unclosed quote,never ends\nsecond,row\n')
    d.get(url + "/data")
    msg = _text(d, "#message")
    assert "train.csv" in msg and "\n" not in msg
    d.find_element(By.ID, "prepare-run").clear()
    d.find_element(By.ID, "prepare-run").send_keys("broken")
    before = _job_id(d)
    d.find_element(By.ID, "prepare").click()
    assert "failed" in _job_done(d, before) and not (root / "runs" / "broken").exists()
