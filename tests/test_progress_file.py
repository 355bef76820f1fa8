"""TAILOR_PROGRESS_FILE: every progress bar also writes its tasks as JSON for another process (the studio)."""
from __future__ import annotations

import json

from tailorkit.progress import progress


def test_bars_report_their_tasks_to_the_progress_file(tmp_path, monkeypatch):
    out = tmp_path / "progress.json"
    monkeypatch.setenv("TAILOR_PROGRESS_FILE", str(out))
    with progress() as bar:
        task = bar.add_task("prepare data", total=6)
        assert json.loads(out.read_text())["tasks"] == [{"description": "prepare data", "completed": 0, "total": 6}]
        for _ in range(6):
            bar.advance(task)
    assert json.loads(out.read_text())["tasks"][0]["completed"] == 6  # the final state is always written
    out.unlink()
    with progress(enabled=False) as inner:  # a bar inside another one does not overwrite the outer's report
        inner.add_task("batch", total=1)
    assert not out.exists()
