"""`tailor export --push` against a real local HTTP server that speaks the few Hub endpoints used.

The server implements repo creation, README front-matter validation, the preupload check (answering "regular" for every file, a valid
Hub answer that keeps uploads inside the commit call, so no LFS/Xet storage is involved) and the
ndjson commit. The CLI runs in a subprocess (HF_HUB_OFFLINE unset there); the test then checks what
the server received, and that the token appears nowhere but the Authorization header: not in stdout,
stderr, any file in the project, or any request body/URL.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from local_http import QuietHandler, send_json, serve

from test_evaluate_support import make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

TOKEN = "hf_tailorkitSECRETtoken_0123456789abcdef"
TAILOR = [sys.executable, "-c", "import sys; from tailorkit.cli import main; sys.exit(main(sys.argv[1:]))"]


class FakeHub(QuietHandler):
    requests: list[dict] = []
    repos: dict[str, dict] = {}
    files: dict[str, dict[str, bytes]] = {}

    def _reply(self, status: int, obj) -> None:
        send_json(self, status, obj)

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        FakeHub.requests.append({"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body})
        return body

    def do_GET(self):
        self._record()
        self._reply(404, {"error": f"not implemented: {self.path}"})

    def do_POST(self):
        body = self._record()
        base = f"http://{self.headers['Host']}"
        path = self.path.split("?")[0]
        if path == "/api/repos/create":
            req = json.loads(body)
            repo = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
            if repo in FakeHub.repos:
                return self._reply(409, {"error": "You already created this model repo"})
            FakeHub.repos[repo] = req
            return self._reply(200, {"url": f"{base}/{repo}"})
        if path == "/api/validate-yaml":  # the Hub checks a README's front matter before a commit
            content = json.loads(body)["content"]
            try:
                meta = yaml.safe_load(content.split("---")[1]) if content.startswith("---") else {}
            except yaml.YAMLError as exc:
                return self._reply(400, {"errors": [{"message": str(exc)}]})
            ok = isinstance(meta, dict)
            return self._reply(200 if ok else 400, {"warnings": []} if ok else {"errors": [{"message": "not a map"}]})
        parts = path.strip("/").split("/")  # api models ns name (preupload|commit) revision
        if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
            files = json.loads(body)["files"]
            return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                               for f in files]})
        if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "commit":
            repo = f"{parts[2]}/{parts[3]}"
            stored = FakeHub.files.setdefault(repo, {})
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    stored[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            return self._reply(200, {"commitUrl": f"{base}/{repo}/commit/{'0' * 40}", "commitOid": "0" * 40})
        self._reply(404, {"error": f"not implemented: {path}"})


@pytest.fixture
def hub():
    FakeHub.requests, FakeHub.repos, FakeHub.files = [], {}, {}
    with serve(FakeHub) as url:
        yield url


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    env.update(TAILOR_QUIET="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", **extra)
    return env


def _scan_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


@pytest.fixture(scope="module")
def project(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("hubproj")
    cfg = make_run(root, tiny_model_dir, train_adapter=False)
    _lora_adapter(cfg)
    return cfg


def _lora_adapter(cfg) -> None:
    from peft import LoraConfig, get_peft_model

    from tailorkit.train.load import save_tuned
    from test_evaluate_support import load_tiny

    model, tok = load_tiny(Path(cfg.model.base))
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    save_tuned(model, tok, cfg.run_dir / "adapter", cfg.model_copy(update={}))


def test_push_uploads_the_export_and_keeps_the_token_secret(project, hub, tmp_path):
    cfg = project.model_copy(deep=True)
    cfg.export.endpoint = hub
    cfg.export.token_env = "MY_HUB_TOKEN"
    (cfg.root / "tailor.yaml").write_text(cfg.to_yaml())
    proc = subprocess.run([*TAILOR, "export", "-c", str(cfg.root / "tailor.yaml"), "--push", "alice/tiny-tuned"],
                          capture_output=True, text=True, env=_env(MY_HUB_TOKEN=TOKEN), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "alice/tiny-tuned" in proc.stdout
    # The repo was created private, then the adapter folder arrived intact.
    assert FakeHub.repos["alice/tiny-tuned"]["visibility"] == "private"
    uploaded = FakeHub.files["alice/tiny-tuned"]
    folder = cfg.run_dir / "export" / "adapter"
    local = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert uploaded == local
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"} <= set(uploaded)
    # The token travelled only in Authorization headers, and was never echoed or written anywhere.
    assert FakeHub.requests and all(r["headers"].get("authorization") == f"Bearer {TOKEN}" for r in FakeHub.requests)
    for r in FakeHub.requests:
        assert TOKEN not in r["path"] and TOKEN.encode() not in r["body"]
        assert all(TOKEN not in v for k, v in r["headers"].items() if k != "authorization")
    assert TOKEN not in proc.stdout + proc.stderr
    assert _scan_files(cfg.root) == [] and _scan_files(tmp_path) == []


def test_push_failure_does_not_leak_the_token(project, tmp_path):
    cfg = project.model_copy(deep=True)
    cfg.export.endpoint = "http://127.0.0.1:9"  # nothing listens there
    (cfg.root / "tailor.yaml").write_text(cfg.to_yaml())
    proc = subprocess.run([*TAILOR, "export", "-c", str(cfg.root / "tailor.yaml"), "--push", "alice/x"],
                          capture_output=True, text=True, env=_env(HF_TOKEN=TOKEN), cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "alice/x" in proc.stderr and TOKEN not in proc.stdout + proc.stderr
    assert _scan_files(cfg.root) == []


def test_missing_token_fails_before_any_work(project, capsys, monkeypatch):
    from tailorkit.cli import main

    monkeypatch.delenv("HF_TOKEN", raising=False)
    export_dir = project.run_dir / "export"
    before = sorted(p.name for p in export_dir.iterdir()) if export_dir.exists() else None
    (project.root / "tailor.yaml").write_text(project.to_yaml())
    assert main(["export", "-c", str(project.root / "tailor.yaml"), "--push", "alice/tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "HF_TOKEN" in err and "export HF_TOKEN=" in err
    assert (sorted(p.name for p in export_dir.iterdir()) if export_dir.exists() else None) == before
    assert main(["export", "-c", str(project.root / "tailor.yaml"), "--push", "not a repo"]) == 2
    assert "user/model-name" in capsys.readouterr().err
