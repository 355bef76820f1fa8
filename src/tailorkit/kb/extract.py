"""Answers that answer: is a generated answer grounded in its sources, and the extractive fallback.

Small models given good sources often write nothing useful ("The source for the answer to this
question is [1].") or something the sources do not say. `grounding()` measures a generated answer
against the passages it was given: how many content words it adds beyond the question, and what
share of them the passages contain (stemmed, stopwords and citation boilerplate removed). `check_answer()` applies it to the passages an answer cites: when an
answer is empty, cites nothing, adds nothing, or is not grounded, `extract()` answers with the passage sentences
that best match the question, each followed by its [n] citation.

Sentence scoring combines the embedder's cosine between the question and the sentence (with its
section heading, so "It takes a value from 0 to 100" under "Chaos" still matches a chaos question)
and the share of the question's content words the sentence holds (BM25-style term matching
without the corpus statistics a handful of passages cannot give).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .sparse import STOPWORDS, _stem
from .types import Chunk

_WORD = re.compile(r"\w+", re.UNICODE)
_MARKERS = re.compile(r"\[\s*\d{1,3}(?:\s*[,;\-–]\s*\d{1,3})*\s*\]")
# Words that answers use to talk about sources rather than to say something.
BOILERPLATE = frozenset(_stem(w) for w in
                        "source sources answer answers question questions information provided text passage "
                        "based according document documents mentioned following context given".split())
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(\"'*])")


def content_words(text: str) -> list[str]:
    """Stemmed, lower-cased words of a text without stopwords, citation markers or boilerplate."""
    words = _WORD.findall(_MARKERS.sub(" ", text).lower())
    return [s for w in words if w not in STOPWORDS and (s := _stem(w)) not in BOILERPLATE]


@dataclass
class Grounding:
    novel_words: int  # content words of the answer that are not in the question
    support: float  # share of those that the sources contain (0 when there are none)

    def grounded(self, min_support: float, min_novel: int = 2) -> bool:
        return self.novel_words >= min_novel and self.support >= min_support


def grounding(answer: str, question: str, passages: Sequence[str]) -> Grounding:
    asked = set(content_words(question))
    novel = [w for w in content_words(answer) if w not in asked]
    if not novel:
        return Grounding(0, 0.0)
    known = {w for p in passages for w in content_words(p)}
    return Grounding(len(novel), sum(w in known for w in novel) / len(novel))


def check_answer(answer: str, question: str, chunks: Sequence[Chunk], min_support: float) -> tuple[bool, str, float]:
    """(grounded?, why not, support) of a generated answer against the passages it cites ([n] = chunk n).
    An answer citing no passage, adding nothing beyond the question, or mostly absent from the
    passages it cites is not grounded."""
    from .prompt import cited_numbers

    if not answer.strip():
        return False, "the model wrote no answer", 0.0
    cited = cited_numbers(answer, len(chunks))
    g = grounding(answer, question, [chunks[n - 1].text for n in cited])
    if not g.novel_words:
        return False, "the model's answer added nothing to the question", 0.0
    if not cited:
        return False, "the model cited no source", 0.0
    if g.support < min_support:
        return False, f"only {100 * g.support:.0f}% of the model's answer is in the sources it cites", g.support
    return True, "", g.support


def _clean(line: str) -> str:
    line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line)  # list bullets
    line = line.replace("**", "").replace("|", " ").strip()
    return " ".join(line.split())


def sentences(chunk: Chunk) -> list[str]:
    """The chunk's prose sentences (list items and table rows count as sentences; code blocks,
    headings and separator rows are skipped)."""
    out: list[str] = []
    in_code = False
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.extend(s for s in _SENTENCE_END.split(" ".join(paragraph)) if len(s.split()) >= 4)
            paragraph.clear()

    for raw in chunk.text.splitlines():
        if raw.strip().startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code or raw.lstrip().startswith("#") or re.fullmatch(r"[\s|:\-]*", raw):
            flush()
            continue
        if re.match(r"^\s*(?:[-*+]|\d+[.)])\s+|^\s*\|", raw):  # a list item or table row starts anew
            flush()
        paragraph.append(_clean(raw))
    flush()
    return out


def extract(question: str, chunks: Sequence[Chunk], embedder, max_sentences: int = 2,
            keep_ratio: float = 0.85, max_embedded: int = 24) -> tuple[str, list[int]]:
    """The best-matching sentences, each with its [n] (n = the chunk's 1-based position), best first;
    a second sentence only when it scores within keep_ratio of the best. ("", []) when the chunks hold
    no sentence. Only the `max_embedded` sentences with the most question words (ties: better-ranked
    chunk first) are embedded: embedding every sentence of every source costs seconds on a CPU."""
    cands: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    for n, chunk in enumerate(chunks, start=1):
        heading = " > ".join(chunk.heading_path)
        for s in sentences(chunk):
            if s not in seen:  # overlapping chunks repeat sentences: keep the better-ranked chunk's
                seen.add(s)
                cands.append((n, s, f"{heading}: {s}" if heading else s))
    if not cands:
        return "", []
    asked = set(content_words(question))
    shares = [len(asked & set(content_words(c[2]))) / max(1, len(asked)) for c in cands]
    keep = sorted(range(len(cands)), key=lambda i: (-shares[i], i))[:max_embedded]
    cands = [cands[i] for i in keep]
    overlap = np.array([shares[i] for i in keep])
    q_vec = embedder.embed_query(question)
    cos = np.asarray(embedder.embed_documents([c[2] for c in cands], description="scoring sentences")) @ q_vec
    score = cos + 0.5 * overlap
    order = list(np.argsort(-score))
    picked = [order[0]] + [i for i in order[1:max_sentences] if score[i] >= keep_ratio * score[order[0]]]
    parts = []
    for i in picked:
        n, s, _ = cands[i]
        s = s if s.endswith((".", "!", "?", ":")) else s + "."
        parts.append(f"{s} [{n}]")
    numbers = list(dict.fromkeys(cands[i][0] for i in picked))
    return " ".join(parts), numbers
