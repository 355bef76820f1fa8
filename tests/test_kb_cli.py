"""`tailor kb ...` and `tailor ask` through tailorkit.cli.main: output, and bad input -> exit 2, one line."""
from __future__ import annotations

from pathlib import Path

import pytest

from kb_files import make_pdf
from tailorkit.cli import main
from test_kb_answer import write_corpus


@pytest.fixture
def project(tmp_path, monkeypatch, tiny_model_dir) -> Path:
    (tmp_path / "tailor.yaml").write_text(f"kb:\n  answer_model: {tiny_model_dir}\ngeneration:\n  max_new_tokens: 8\n")
    write_corpus(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    return err[0]


def test_add_search_ask_list_rm_stats(project, capsys):
    (project / "policies" / "scan.pdf").write_bytes(b"%PDF-1.4 truncated")
    (project / "policies" / "report.pdf").write_bytes(make_pdf(["Quarterly revenue grew 12 percent."]))
    assert main(["kb", "add", "policies", "it", "--tag", "hr"]) == 0
    cap = capsys.readouterr()
    assert "4 added" in cap.out and "1 skipped" in cap.out
    assert "policies/scan.pdf" in cap.err and "corrupt" in cap.err  # reported by path and reason
    assert main(["kb", "add", "policies", "it"]) == 0
    assert "0 added, 0 updated, 4 unchanged, 1 skipped; 0 chunks embedded" in capsys.readouterr().out

    assert main(["kb", "search", "revenue growth", "-k", "2", "--mode", "bm25"]) == 0
    out = capsys.readouterr().out
    assert "policies/report.pdf, page 1" in out and "Quarterly revenue" in out
    assert main(["kb", "search", "wifi", "--path", "policies/*", "--tag", "hr"]) == 0
    assert "it/wifi.html" not in capsys.readouterr().out

    assert main(["ask", "How many vacation days do employees receive?"]) == 0
    out = capsys.readouterr().out
    assert "Sources" in out and "[1] policies/vacation.md:5-6" in out
    assert main(["ask", "Who won the 1954 football world cup?"]) == 0
    assert "does not contain the answer" in capsys.readouterr().out

    assert main(["kb", "list"]) == 0
    out = capsys.readouterr().out
    assert "policies/vacation.md" in out and "hr" in out
    assert main(["kb", "rm", "policies/report.pdf"]) == 0
    assert "removed 1 document(s)" in capsys.readouterr().out
    assert main(["kb", "stats"]) == 0
    assert capsys.readouterr().out.startswith("3 documents")
    (project / "policies" / "expenses.txt").unlink()
    assert main(["kb", "sync", "policies"]) == 0
    assert "1 removed" in capsys.readouterr().out


def test_eval_prints_metrics_per_mode(project, capsys):
    import json

    docs = [("d1", "Aspirin", "Aspirin reduces the risk of heart attacks in adults."),
            ("d2", "Vitamin D", "Vitamin D deficiency is linked to weaker bones."),
            ("d3", "Sleep", "Short sleep duration impairs memory consolidation.")]
    (project / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in docs))
    (project / "queries.jsonl").write_text('{"_id": "q1", "text": "aspirin and heart attack risk"}\n'
                                           '{"_id": "q2", "text": "sleep and memory"}\n')
    (project / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    assert main(["kb", "eval", "--corpus", "corpus.jsonl", "--queries", "queries.jsonl", "--qrels", "qrels.tsv"]) == 0
    out = capsys.readouterr().out
    for mode in ("dense", "bm25", "hybrid"):
        assert mode in out
    assert "ndcg@10" in out.lower() and "1.0000" in out and "3 documents" in out and "2 queries" in out


def test_bad_input_exits_2_with_one_line(project, capsys):
    assert main(["kb", "add", "nope/missing.md"]) == 2
    assert "nope/missing.md" in _one_error_line(capsys)
    (project / "empty").mkdir()
    assert main(["kb", "add", "empty"]) == 2
    assert "holds no files" in _one_error_line(capsys)
    (project / "notes.xyz").write_text("x")
    assert main(["kb", "add", "notes.xyz"]) == 2
    assert "unsupported file type '.xyz'" in _one_error_line(capsys)
    assert main(["kb", "rm", "not/there.txt"]) == 2
    assert "no document matches" in _one_error_line(capsys)
    assert main(["ask", "   "]) == 2
    assert "question is empty" in _one_error_line(capsys)
    assert main(["kb", "search", "x", "--mode", "fuzzy"]) == 2
    assert "unknown search mode" in _one_error_line(capsys)
    (project / "tailor.yaml").write_text("kb:\n  url: http://127.0.0.1:9\n")
    assert main(["kb", "add", "policies"]) == 2
    line = _one_error_line(capsys)
    assert "cannot reach the Qdrant server" in line and "kb.url" in line
