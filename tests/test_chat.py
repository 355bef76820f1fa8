"""`tailor chat` and tailorkit.chat.ChatSession on the tiny model: streamed answers, the conversation kept
across turns and model switches, /reset, /save (an Example, written atomically), context trimming, piped
stdin through the CLI, and one-line errors."""
from __future__ import annotations

import re

import json

import pytest
from typer.testing import CliRunner

from tailorkit.chat import ChatSession
from tailorkit.cli import app, main
from tailorkit.data.example import read_examples
from tailorkit.errors import DataError, ModelError
from test_evaluate_support import PAIRS, make_run
from test_evaluate_support import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_cfg(tiny_model_dir, tmp_path_factory):
    """A project whose tuned model (the tiny model overfit on PAIRS) answers them exactly and stops."""
    cfg = make_run(tmp_path_factory.mktemp("chat"), tiny_model_dir)
    (cfg.root / "tailor.yaml").write_text(cfg.to_yaml())
    return cfg


def test_session_streams_and_keeps_the_conversation_across_a_switch(run_cfg, tmp_path):
    with ChatSession(run_cfg) as chat:  # the tuned model was overfit without a system prompt
        assert chat.model == "tuned"  # the default once the run is trained
        deltas = list(chat.send(PAIRS[0][0]))
        assert "".join(d.text for d in deltas) == PAIRS[0][1] and deltas[-1].finish_reason == "stop"
        assert len(deltas) > 2  # one delta per token, not one per answer
        one_turn = deltas[-1].prompt_tokens
        assert chat.command("/model base").text.startswith("model: base")
        assert chat.command("/system You write Midjourney prompts.").text.startswith("system prompt:")
        assert [m["role"] for m in chat.messages] == ["system", "user", "assistant"]
        last = list(chat.send(PAIRS[1][0]))[-1]
        assert last.prompt_tokens > one_turn  # the base model was shown the tuned model's turn too
        assert [m["role"] for m in chat.messages] == ["system", "user", "assistant", "user", "assistant"]
        assert chat.messages[2]["content"] == PAIRS[0][1]
        with pytest.raises(ModelError, match="no model named"):
            chat.switch("no-such-run")
        assert chat.model == "base" and chat.ask("again") is not None  # the old model is still there
        out = chat.save(tmp_path / "chats.jsonl")
        chat.reset()
        assert chat.messages == [{"role": "system", "content": "You write Midjourney prompts."}]
        chat.switch("tuned")
        chat.command("/system")
        assert chat.ask(PAIRS[2][0]) == PAIRS[2][1]
        chat.save(out)  # .jsonl appends
    rows = read_examples(out)
    assert len(rows) == 2 and len(rows[0].messages) == 7 and rows[1].messages[-1]["content"] == PAIRS[2][1]
    assert rows[0].messages[0]["role"] == "system" and rows[1].messages[0]["role"] == "user"
    assert json.loads(out.read_text().splitlines()[0])["meta"]["models"] == ["tuned", "base"]


def test_long_conversations_drop_the_oldest_turns(run_cfg):
    from tailorkit.config.generation import GenerationConfig

    gen = GenerationConfig(max_new_tokens=20, repetition_penalty=1.0, no_repeat_ngram_size=0)
    with ChatSession(run_cfg, "tuned", system="short", gen=gen) as chat:
        words = " ".join(["portrait of a girl on roller skates"] * 30)  # ~6 turns overflow the tiny model's 2048-token context
        for _ in range(6):
            chat.ask(words)
        assert chat.dropped > 0 and chat.messages[0]["role"] == "system" and chat.messages[1]["role"] == "user"
        assert chat.engine.count_tokens(chat.messages) <= chat.engine.context_length
        before = list(chat.turns)
        with pytest.raises(DataError, match="does not fit"):
            chat.ask(words * 10)
        assert chat.turns == before[len(before) - len(chat.turns):]  # the too-long message was not kept


def test_save_and_commands_fail_cleanly(run_cfg, tmp_path):
    with ChatSession(run_cfg, "tuned") as chat:
        with pytest.raises(DataError, match="no conversation"):
            chat.save(tmp_path / "a.json")
        chat.ask(PAIRS[0][0])
        with pytest.raises(DataError, match="does not exist"):
            chat.save(tmp_path / "missing" / "a.json")
        with pytest.raises(DataError, match="unknown command"):
            chat.command("/frobnicate")
        with pytest.raises(DataError, match="empty"):
            chat.ask("   ")
        assert chat.save(tmp_path / "a.json").exists() and list(tmp_path.iterdir()) == [tmp_path / "a.json"]
        assert json.loads((tmp_path / "a.json").read_text())["messages"][-1]["content"] == PAIRS[0][1]


def test_cli_chat_reads_piped_stdin(run_cfg, tmp_path):
    script = "\n".join([PAIRS[0][0], "/model base", PAIRS[1][0], "/frobnicate", "/model tuned",
                        f"/save {tmp_path / 'c.json'}", "/exit", "never sent"]) + "\n"
    res = CliRunner().invoke(app, ["chat", "-c", str(run_cfg.root / "tailor.yaml"), "--max-new-tokens", "40"],
                             input=script)
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert f"tuned> {PAIRS[0][1]}" in out
    assert re.search(r"model: base \((hf|llamacpp) engine\); conversation kept \(2 messages\)", out)  # auto engine
    assert "\nbase> " in out
    assert "error: unknown command /frobnicate" in res.stderr and "Traceback" not in res.output
    saved = json.loads((tmp_path / "c.json").read_text())
    assert [m["role"] for m in saved["messages"]] == ["user", "assistant", "user", "assistant"]
    assert "never sent" not in json.dumps(saved)


def test_cli_chat_with_an_unknown_model_is_one_line_exit_2(run_cfg, capsys):
    assert main(["chat", "-c", str(run_cfg.root / "tailor.yaml"), "--model", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no model named 'nope'" in err
    assert main(["chat", "-c", str(run_cfg.root / "tailor.yaml"), "--engine", "turbo"]) == 2
