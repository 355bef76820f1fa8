"""kb.answer_mode: grounding of generated answers and the extractive fallback, on the example docs."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tailorkit.cli import main
from tailorkit.config import build_config
from tailorkit.kb.answer import ask
from tailorkit.kb.extract import check_answer, grounding
from tailorkit.kb.types import Chunk
from tailorkit.kb.ingest import kb_add

DOCS = Path(__file__).resolve().parents[1] / "src" / "tailorkit" / "examples" / "midjourney" / "docs"

# (question, a fact the docs state, the file that states it)
QUESTIONS = [
    ("What range of values does --chaos take?", "0 to 100", "chaos-and-weird.md"),
    ("What range of values does --weird take?", "0 to 3000", "chaos-and-weird.md"),
    ("What is the default value of --stylize?", "the default is 100", "stylize-and-raw.md"),
    ("What shape are images without --ar?", "square", "aspect-ratio.md"),
    ("Does --ar accept decimal ratios?", "Decimals are not accepted", "aspect-ratio.md"),
    ("What does --style raw do?", "less of the automatic beautification", "stylize-and-raw.md"),
    ("What are the Niji models trained for?", "anime and illustration", "version-and-quality.md"),
    ("What does --seed do?", "fixes the starting noise", "version-and-quality.md"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mj-docs")
    shutil.copytree(DOCS, root / "docs")
    kb_add(build_config({}, root=root), [root / "docs"])
    return root


def test_grounding_scores():
    passages = ["It takes a value from 0 to 100; the default is 0."]
    q = "What range of values does --chaos take?"
    assert grounding("The source for the answer to this question is [1].", q, passages).novel_words == 0
    good = grounding("Chaos takes a value from 0 to 100 [1].", q, passages)
    assert good.support == 1.0 and good.grounded(0.6)
    assert not grounding("Chaos makes purple elephants dance on Tuesdays.", q, passages).grounded(0.6)
    chunks = [Chunk("a.md", "h", 0, "Weird takes a value from 0 to 3000."), Chunk("b.md", "h", 1, passages[0])]
    assert check_answer("Chaos takes a value from 0 to 100 [2].", q, chunks, 0.6)[0]
    # grounded only in the passages it cites: [1] does not say 100; citing nothing is not grounded
    assert check_answer("Chaos takes a value from 0 to 100 [1].", q, chunks, 0.6)[:2] == (
        False, "only 50% of the model's answer is in the sources it cites")
    assert check_answer("Chaos takes 10:25.", q, chunks, 0.6)[1] == "the model cited no source"


def test_ask_answers_eight_doc_questions_with_the_fact_and_its_file(project, tiny_model_dir, capsys):
    (project / "tailor.yaml").write_text(f"kb:\n  answer_model: {tiny_model_dir}\ngeneration:\n  max_new_tokens: 12\n")
    modes = []
    for question, fact, doc in QUESTIONS:
        assert main(["ask", question, "-c", str(project / "tailor.yaml")]) == 0
        out = " ".join(capsys.readouterr().out.split())
        answer, _, sources = out.partition("Sources")
        assert fact.lower() in answer.lower(), (question, out)
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
        assert any(f"[{n}] docs/{doc}" in sources for n in cited), (question, out)
        modes.append(re.search(r"answered: (\w+)", out).group(1))
    # A random tiny model never writes a grounded answer: every answer is extractive.
    assert modes == ["extractive"] * len(QUESTIONS)


def test_modes_generative_and_extractive(project, tiny_model_dir, tmp_path):
    gen = ask(build_config({"kb": {"answer_model": str(tiny_model_dir), "answer_mode": "generative"},
                            "generation": {"max_new_tokens": 6}}, root=project), QUESTIONS[0][0])
    assert gen.mode == "generative" and QUESTIONS[0][1] not in gen.text
    # extractive never loads a model (this one does not exist)
    ext = ask(build_config({"kb": {"answer_model": str(tmp_path / "missing"), "answer_mode": "extractive"}},
                           root=project), QUESTIONS[1][0])
    assert ext.mode == "extractive" and QUESTIONS[1][1] in ext.text and ext.model is None


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_bundled_model_answers_the_eight_questions(project, capsys):
    """With the bundled SmolLM2-135M: every answer holds the fact and cites its file; prints the mode split."""
    cfg = build_config({}, root=project)
    modes = []
    for question, fact, doc in QUESTIONS:
        answer = ask(cfg, question)
        assert fact.lower() in " ".join(answer.text.split()).lower(), (question, answer.text)
        assert any(c.doc_id == f"docs/{doc}" for c in answer.citations), (question, answer.citations)
        modes.append(answer.mode)
    with capsys.disabled():
        print(f"\nbundled model: {modes.count('generative')} generative, {modes.count('extractive')} extractive")
