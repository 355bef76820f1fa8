"""No traceback from the CLI, ever: every subcommand (found by walking the command tree, so new ones
are covered automatically) answers a bad option value, a missing argument or value and an unknown
option with one line on stderr and exit code 2; so do a teacher or an embeddings endpoint that
answer with a web page or without data (real local HTTP servers)."""
from __future__ import annotations

import inspect
import typing

import pytest
import typer
from local_http import QuietHandler, send_json, serve

from tailorkit.cli import app, main


def leaves(cmd, path=()):
    """(path, click command) for every runnable subcommand."""
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from leaves(sub, (*path, name))
    else:
        yield path, cmd


def groups(cmd, path=()):
    subs = getattr(cmd, "commands", None)
    if subs:
        yield path
        for name, sub in subs.items():
            yield from groups(sub, (*path, name))


ROOT = typer.main.get_command(app)
LEAVES = dict(leaves(ROOT))


def bad_calls(path: tuple[str, ...], cmd) -> list[list[str]]:
    """Every wrong way to call one command that we can derive from its parameters."""
    hints = typing.get_type_hints(inspect.unwrap(cmd.callback))
    options = [p for p in cmd.params if p.param_type_name == "option" and p.opts]
    required = [p for p in cmd.params if p.required]
    # the required parameters filled with a dummy, so a bad option is what fails
    fill: list[str] = []
    for p in required:
        fill += [p.opts[0], "x"] if p.param_type_name == "option" else ["x"]
    calls = [[*path, *fill, "--no-such-option"]]  # unknown option
    if required:
        calls.append(list(path))  # missing argument / required option
    for p in options:
        opt = next((o for o in p.opts if o.startswith("--")), p.opts[0])
        if getattr(p, "is_flag", False):
            if opt.startswith("--"):
                calls.append([*path, *fill, f"{opt}=x"])  # a flag given a value
            continue
        calls.append([*path, *fill, opt])  # an option without its value
        if hints.get(p.name) in (int, float):
            calls.append([*path, *fill, opt, "abc"])  # a bad number
    if any(p.name == "config" for p in options):
        calls.append([*path, *fill, "--config", "no/such/tailor.yaml"])  # a config that is not there
    return calls


def assert_one_line_exit_2(capsys, argv) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, (argv, code, err)
    assert "Traceback" not in captured.err + captured.out, argv
    assert len(err.splitlines()) == 1 and err.startswith("error: "), (argv, err)
    return err


def test_the_walk_finds_every_area():
    names = {" ".join(p) for p in LEAVES}
    assert {"train", "data inspect", "data prepare", "kb search", "kb eval", "synth backtranslate", "ask",
            "compare", "config show"} <= names


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_every_subcommand_fails_bad_usage_with_one_line(path, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written anywhere else
    calls = bad_calls(path, LEAVES[path])
    assert len(calls) >= 3
    for argv in calls:
        assert_one_line_exit_2(capsys, argv)
    assert not any(tmp_path.iterdir()), f"{path}: a failed call wrote {list(tmp_path.iterdir())}"


@pytest.mark.parametrize("path", sorted(groups(ROOT)), ids=lambda p: " ".join(p) or "tailor")
def test_unknown_subcommand_is_one_line(path, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = assert_one_line_exit_2(capsys, [*path, "frobnicate"])
    assert "frobnicate" in err


@pytest.mark.parametrize("argv, expected", [
    (["train", "--lr", "abc"], "Invalid value for '--lr'"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["kb", "search"], "Missing argument 'query'"),
    (["train", "--bogus"], "No such option: --bogus"),
])
def test_the_issue_examples_name_the_problem_and_the_help(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = assert_one_line_exit_2(capsys, argv)
    assert expected.lower() in err.lower()  # click 8.1 writes 'QUERY', 8.2 'query'
    assert "--help" in err


def test_ctrl_c_is_a_clean_exit_130(capsys, monkeypatch):
    import tailorkit.cli.pipeline as pipeline_cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline_cli, "load", interrupted)  # our own function: Ctrl-C while it runs
    assert main(["config", "show"]) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) <= 1


class _WebPage(QuietHandler):
    """What a login page, a proxy or a site's root answers: 200 text/html, to every request."""

    def _page(self) -> None:
        body = b"<!doctype html><html><body>Please sign in</body></html>"
        try:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except ConnectionError:  # the run stopped at the first page and dropped its other requests
            self.close_connection = True

    do_GET = do_POST = _page


class _NoData(QuietHandler):
    """An embeddings endpoint whose reply has no data."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        send_json(self, 200, {"object": "list", "data": [], "model": "emb"})


@pytest.mark.parametrize("probe", [True, False])
def test_teacher_answering_a_web_page_is_one_line(probe, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outs.txt").write_text("a red fox at dawn\nan old lighthouse in fog\n", encoding="utf-8")
    with serve(_WebPage) as url:
        (tmp_path / "tailor.yaml").write_text(
            f"teacher:\n  base_url: {url}/v1\n  model: m\n  retry_base_s: 0.01\n  max_retries: 3\n  timeout_s: 120\n"
            f"  probe: {str(probe).lower()}\nsynth:\n  cache: cache.sqlite\n", encoding="utf-8")
        err = assert_one_line_exit_2(capsys, ["synth", "backtranslate", "outs.txt"])
    assert "web page (text/html)" in err and "teacher.base_url" in err and "/v1" in err
    assert not (tmp_path / "data" / "synth.jsonl").exists()


@pytest.mark.parametrize("handler, expected", [(_NoData, "without embedding data"), (_WebPage, "did not answer JSON")])
def test_embeddings_endpoint_without_data_is_one_line(handler, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with serve(handler) as url:
        (tmp_path / "tailor.yaml").write_text(
            f"kb:\n  embedder: openai:emb\n  embed_base_url: {url}/v1\n", encoding="utf-8")
        err = assert_one_line_exit_2(capsys, ["kb", "search", "hello", "--mode", "dense"])
    assert expected in err and "kb.embed_base_url" in err
