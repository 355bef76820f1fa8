"""Loaders (CSV/TSV, JSONL, JSON, Parquet) and formats (columns, messages, alpaca, sharegpt, prompt/completion)."""
from __future__ import annotations

import json

import pytest

from tailorkit.config import DataConfig
from tailorkit.data.load import load, load_examples, location
from tailorkit.errors import DataError


def pairs(examples):
    return [(ex.user, ex.assistant) for ex in examples]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_csv_auto_detects_user_prompt_columns_and_records_lines(tmp_path):
    p = tmp_path / "mj.csv"
    p.write_text('User,Prompt\nmake a cat,"a cat, 8k --ar 16:9"\n"multi\nline request",answer two\nq3,a3\n',
                 encoding="utf-8")
    loaded = load(p, DataConfig())
    assert loaded.format == "columns" and loaded.columns == ["User", "Prompt"]
    assert pairs(loaded.examples) == [("make a cat", "a cat, 8k --ar 16:9"), ("multi\nline request", "answer two"),
                                      ("q3", "a3")]
    # a record's line is where it starts in the file (a multi-line cell shifts the next one)
    assert [ex.meta["line"] for ex in loaded.examples] == [2, 3, 5]
    assert loaded.examples[0].meta["source"] == "mj.csv"
    assert location(loaded.examples[2]) == "mj.csv:5"


def test_tsv_with_bom_and_explicit_mapping_and_system_column(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_bytes("\ufeffid\tQ\tA\tsys\n1\thello\tworld\tbe brief\n".encode("utf-8"))
    cfg = DataConfig(columns={"user": "Q", "assistant": "A", "system": "sys"})
    (ex,) = load_examples(p, cfg)
    assert ex.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"},
                           {"role": "assistant", "content": "world"}]


@pytest.mark.parametrize("header,expected", [
    (("instruction", "output"), "alpaca"),
    (("question", "answer"), "columns"),
    (("request", "response"), "columns"),
    (("input", "output"), "columns"),
])
def test_common_column_names_are_detected(tmp_path, header, expected):
    p = tmp_path / "d.csv"
    p.write_text(f"{header[0]},{header[1]}\nthe ask,the reply\n", encoding="utf-8")
    loaded = load(p, DataConfig())
    assert loaded.format == expected
    assert pairs(loaded.examples) == [("the ask", "the reply")]


def test_jsonl_messages_keep_meta_and_get_source_line(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}],
             "meta": {"teacher": "t"}},
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u2"},
                          {"role": "assistant", "content": "a2"}]}]
    p = write_jsonl(tmp_path / "m.jsonl", rows)
    loaded = load(p, DataConfig(system_prompt="default system"))
    assert loaded.format == "messages"
    a, b = loaded.examples
    assert a.meta == {"teacher": "t", "source": "m.jsonl", "line": 1}
    assert a.system == "default system"  # added where none
    assert b.system == "s"  # kept where present
    assert b.meta["line"] == 2


def test_alpaca_joins_instruction_and_input(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Translate", "input": "chat", "output": "cat"},
                                           {"instruction": "Say hi", "input": "", "output": "hi"}])
    loaded = load(p, DataConfig())
    assert loaded.format == "alpaca"
    assert pairs(loaded.examples) == [("Translate\n\nchat", "cat"), ("Say hi", "hi")]


def test_sharegpt_multi_turn(tmp_path):
    conv = [{"from": "system", "value": "sys"}, {"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"},
            {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]
    p = tmp_path / "s.json"
    p.write_text(json.dumps([{"conversations": conv}]), encoding="utf-8")
    loaded = load(p, DataConfig())
    (ex,) = loaded.examples
    assert loaded.format == "sharegpt"
    assert [m["role"] for m in ex.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert (ex.user, ex.assistant) == ("q2", "a2")
    assert ex.meta == {"source": "s.json", "row": 1}


def test_json_data_wrapper_prompt_completion(tmp_path):
    p = tmp_path / "pc.json"
    p.write_text(json.dumps({"data": [{"prompt": "p1", "completion": "c1"}, {"prompt": "p2", "completion": 7}]}),
                 encoding="utf-8")
    loaded = load(p, DataConfig())
    assert loaded.format == "prompt_completion"
    assert pairs(loaded.examples) == [("p1", "c1"), ("p2", "7")]
    assert location(loaded.examples[1]) == "pc.json:row 2"


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"question": ["q1", "q2"], "answer": ["a1", None]}), p)
    loaded = load(p, DataConfig())
    assert pairs(loaded.examples) == [("q1", "a1"), ("q2", "")]  # None -> empty side, dropped by clean
    assert loaded.examples[1].meta == {"source": "d.parquet", "row": 2}


def test_explicit_format_overrides_detection(tmp_path):
    p = write_jsonl(tmp_path / "x.jsonl", [{"prompt": "hello", "answer": "world", "completion": "ignored"}])
    ex = load_examples(p, DataConfig(format="columns", columns={"user": "prompt", "assistant": "answer"}))
    assert pairs(ex) == [("hello", "world")]


@pytest.mark.parametrize("name,content,where,words", [
    ("bad.csv", 'User,Prompt\nok,fine\nstill ok,"starts here\nnext,row\n', "bad.csv:3:Prompt", "never closed"),
    ("mid.csv", 'User,Prompt\na,"opens here\nb,c\nd,"e"\nf,g\n', "mid.csv:2:Prompt", "never closed"),
    ("bad.jsonl", '{"prompt": "a", "completion": "b"}\n\nnot json\n', "bad.jsonl:3", "not JSON"),
    ("empty.csv", "", "empty.csv", "empty"),
    ("header.csv", "User,Prompt\n", "header.csv", "no data rows"),
    ("list.json", '{"rows": 1}', "list.json", "list of objects"),
    ("odd.txt", "a,b\n", "odd.txt", "unsupported"),
])
def test_bad_files_name_the_place(tmp_path, name, content, where, words):
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_examples(p, DataConfig())
    err = info.value
    assert err.where.endswith(where) and words in err.what and err.fix


def test_non_utf8_names_line_and_byte_offset(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes(b"User,Prompt\nfine,ok\ncaf\xe9,x\n")
    with pytest.raises(DataError) as info:
        load_examples(p, DataConfig())
    assert info.value.where.endswith("latin.csv:3")
    assert "byte offset 23" in info.value.what and "0xe9" in info.value.what


def test_missing_mapped_column_lists_columns_and_nearest(tmp_path):
    p = tmp_path / "mj.csv"
    p.write_text("User,Prompt\na,b\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_examples(p, DataConfig(columns={"user": "User", "assistant": "Promt"}))
    err = info.value
    assert "'Promt'" in err.what and "User, Prompt" in err.what and "mj.csv" in err.where
    assert "'Prompt'" in err.fix


def test_unknown_columns_without_mapping_ask_for_one(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_examples(p, DataConfig())
    assert "foo, bar" in info.value.what and "data.columns" in info.value.fix


def test_semicolon_csv_from_a_european_spreadsheet(tmp_path):
    p = tmp_path / "eu.csv"
    p.write_text("User;Prompt\nein Hund;a dog, 8k\n", encoding="utf-8")
    assert pairs(load_examples(p, DataConfig())) == [("ein Hund", "a dog, 8k")]


def test_example_jsonl_reader_round_trips_and_names_bad_lines(tmp_path):
    from tailorkit.data.example import Example, read_examples, write_examples

    path = write_examples(tmp_path / "ex.jsonl", [Example.simple("a cat", "cat, --ar 1:1", k=1)])
    back = read_examples(path)
    assert back[0].assistant == "cat, --ar 1:1" and back[0].meta == {"k": 1}
    (tmp_path / "empty.jsonl").write_text("\n")
    assert read_examples(tmp_path / "empty.jsonl") == []  # an empty split is no Examples, not an error
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(path.read_bytes() + b"{oops\n")
    with pytest.raises(DataError) as exc:
        read_examples(bad)
    assert exc.value.where == f"{bad}:2" and "not JSON" in exc.value.one_line()
    bad.write_bytes(path.read_bytes() + b'{"messages": "caf\xe9"}\n')
    with pytest.raises(DataError, match="not valid UTF-8") as exc:
        read_examples(bad)
    assert exc.value.where == f"{bad}:2"


@pytest.mark.parametrize("rows, fmt, where, words", [
    ([{"messages": [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"}]}], "messages", "chats.jsonl:2:messages[0]", "out of order"),
    ([{"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "q2"},
                    {"role": "assistant", "content": "a"}]}], "messages", "chats.jsonl:2:messages[1]", "out of order"),
    ([{"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"},
                    {"role": "assistant", "content": "a"}]}], "messages", "chats.jsonl:2:messages[1]", "system"),
    ([{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"}, {"role": "user", "content": "more?"}]}],
     "messages", "chats.jsonl:2:messages[3]", "end with an assistant"),
    ([{"conversations": [{"from": "gpt", "value": "Hi!"}, {"from": "human", "value": "q"},
                         {"from": "gpt", "value": "a"}]}], "sharegpt", "chats.jsonl:2:conversations[0]", "out of order"),
])
def test_role_order_is_checked_at_load_with_file_line(tmp_path, rows, fmt, where, words):
    good = {"messages": [{"role": "user", "content": "fine"}, {"role": "assistant", "content": "ok"}]}
    if fmt == "sharegpt":
        good = {"conversations": [{"from": "human", "value": "fine"}, {"from": "gpt", "value": "ok"}]}
    p = tmp_path / "chats.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in [good, *rows]), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_examples(p, DataConfig())
    assert info.value.where.endswith(where) and words in info.value.what and info.value.fix
