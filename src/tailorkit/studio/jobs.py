"""Background jobs of the studio: prepare, train, compare and KB ingest, one at a time per project.

Each job is a child process (`python -m tailorkit.studio.worker JOB.json`) owned by the studio, so a
request thread never trains or generates in bulk and the pages stay responsive. Files per job, under
`<project>/.tailor/studio/jobs/<id>.*`: `.json` (what to run, written before the start), `.progress.json`
(written by the job's progress bars through TAILOR_PROGRESS_FILE), `.result.json` (written by the
worker at the end: state done | failed | stopped, the result or the one-line error) and `.log`
(stdout and stderr). Stop sends SIGINT, the same as Ctrl-C: training finishes its step, checkpoints
and exits.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TailorError

KINDS = ("prepare", "train", "compare", "kb_add")
LABELS = {"prepare": "prepare data", "train": "training", "compare": "compare base vs tuned", "kb_add": "add to knowledge base"}


class JobBusy(TailorError):
    """A second job was launched while one runs."""


@dataclass
class Job:
    id: str
    kind: str
    args: dict[str, Any]
    started: float
    proc: subprocess.Popen | None = field(default=None, repr=False)
    stop_requested: bool = False

    @property
    def run_name(self) -> str | None:
        return self.args.get("run_name")


class JobManager:
    """Starts, watches and stops the jobs of one project (thread-safe; one job at a time)."""

    def __init__(self, root: Path, config_path: Path) -> None:
        self.root = root
        self.config_path = config_path
        self.dir = root / ".tailor" / "studio" / "jobs"
        self._lock = threading.Lock()
        self._current: Job | None = None
        self._last: Job | None = None

    def _files(self, job_id: str) -> dict[str, Path]:
        return {k: self.dir / f"{job_id}{suffix}" for k, suffix in
                (("spec", ".json"), ("progress", ".progress.json"), ("result", ".result.json"), ("log", ".log"))}

    def running(self) -> Job | None:
        """The job still running, if any (a finished one is moved to `last`)."""
        with self._lock:
            job = self._current
            if job is not None and job.proc is not None and job.proc.poll() is not None:
                self._last, self._current = job, None
                return None
            return job

    def start(self, kind: str, args: dict[str, Any]) -> Job:
        """Launch a job, or raise JobBusy (one line, like every TailorError) when one runs."""
        if kind not in KINDS:
            raise TailorError(f"unknown job '{kind}'", fix=f"use one of {', '.join(KINDS)}")
        self.running()  # moves a finished job out of the way
        with self._lock:
            if self._current is not None:
                raise _busy(self._current)
            job = Job(uuid.uuid4().hex[:12], kind, dict(args), time.time())
            files = self._files(job.id)
            self.dir.mkdir(parents=True, exist_ok=True)
            spec = {"kind": kind, "args": args, "config": str(self.config_path), "root": str(self.root),
                    "result": str(files["result"])}
            tmp = files["spec"].with_suffix(".tmp")
            tmp.write_text(json.dumps(spec), encoding="utf-8")
            tmp.replace(files["spec"])
            env = {**os.environ, "TAILOR_PROGRESS_FILE": str(files["progress"]), "TAILOR_QUIET": "1",
                   "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            with files["log"].open("wb") as log:
                job.proc = subprocess.Popen([sys.executable, "-m", "tailorkit.studio.worker", str(files["spec"])],
                                            cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
            self._current = job
            return job

    def ensure_idle(self) -> None:
        """Raise JobBusy when a job runs (before writing anything for a new one)."""
        job = self.running()
        if job is not None:
            raise _busy(job)

    def stop(self) -> Job:
        """Ask the running job to stop as Ctrl-C would (SIGINT)."""
        job = self.running()
        if job is None or job.proc is None:
            raise TailorError("no job is running", fix="start one first")
        job.stop_requested = True
        job.proc.send_signal(signal.SIGINT)
        return job

    def status(self) -> dict[str, Any] | None:
        """What the page shows: the running job, else the last one (with its result)."""
        job = self.running() or self._last
        if job is None:
            return None
        files = self._files(job.id)
        running = job is self._current
        out: dict[str, Any] = {"id": job.id, "kind": job.kind, "label": LABELS[job.kind], "run_name": job.run_name,
                               "running": running, "stopping": job.stop_requested and running,
                               "seconds": round(time.time() - job.started, 1), "progress": _read_json(files["progress"])}
        if not running:
            result = _read_json(files["result"])
            if result is None:  # the worker died before writing (killed, out of memory)
                tail = files["log"].read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] \
                    if files["log"].exists() else []
                result = {"state": "failed", "error": f"the job ended without a result (exit code "
                                                      f"{job.proc.returncode if job.proc else '?'}): "
                                                      f"{tail[0] if tail else 'no output'}"}
            out.update(result)
        return out

    def close(self) -> None:
        """Stop a running job (SIGINT, then kill after 30 s) when the studio shuts down."""
        job = self.running()
        if job is None or job.proc is None:
            return
        job.proc.send_signal(signal.SIGINT)
        try:
            job.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            job.proc.kill()
            job.proc.wait()


def _busy(job: Job) -> JobBusy:
    return JobBusy(f"a job is already running ({LABELS[job.kind]}{' of run ' + job.run_name if job.run_name else ''})",
                   fix="wait for it to finish or stop it first; one job runs at a time per project")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
