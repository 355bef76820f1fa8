"""Metrics for compare: how well a model's answers match the reference answers, and how they behave.

Per row: negative log-likelihood of the reference answer under the model (teacher forcing with the
training label masks), ROUGE-L F1, chrF, embedding similarity, whether the output opens with a
chatty preamble, whether it never stops (hit the token cap or ends in a repetition loop), and its
length. `aggregate` turns rows into one figure per metric; `METRICS` says which direction is better.
"""
from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence

from ..errors import TrainError
from ..scoreboard import METRICS, Metric, better

__all__ = ["METRICS", "Metric", "better"]  # defined below evaluate/ so export can quote them


# ---- text metrics ---------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters/digits runs), as ROUGE tokenises."""
    return _WORD.findall(text.lower())


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 (0-1) from the longest common subsequence of word tokens."""
    cand, ref = words(candidate), words(reference)
    lcs = _lcs(cand, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _chrf_stats(hypothesis: str, reference: str, order: int) -> list[tuple[int, int, int]]:
    """Per n-gram order: (hypothesis n-grams, reference n-grams, matched n-grams); whitespace removed."""
    hyp, ref = re.sub(r"\s+", "", hypothesis), re.sub(r"\s+", "", reference)
    out = []
    for n in range(1, order + 1):
        h = Counter(hyp[i:i + n] for i in range(len(hyp) - n + 1))
        r = Counter(ref[i:i + n] for i in range(len(ref) - n + 1))
        out.append((sum(h.values()), sum(r.values()), sum((h & r).values())))
    return out


def _chrf_score(stats: list[tuple[int, int, int]], beta: float) -> float:
    # Precision and recall are averaged over the orders that exist on both sides (sacreBLEU's
    # default), then combined into an F-beta score; beta=2 weighs recall twice as much.
    eff = [(m / h, m / r) for h, r, m in stats if h > 0 and r > 0]
    if not eff:
        return 0.0
    p = sum(x for x, _ in eff) / len(eff)
    r = sum(y for _, y in eff) / len(eff)
    if p + r == 0:
        return 0.0
    b2 = beta * beta
    return 100.0 * (1 + b2) * p * r / (b2 * p + r)


def chrf(hypothesis: str, reference: str, order: int = 6, beta: float = 2.0) -> float:
    """Sentence chrF (0-100): character n-gram F-score, n = 1..order."""
    return _chrf_score(_chrf_stats(hypothesis, reference, order), beta)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str], order: int = 6, beta: float = 2.0) -> float:
    """Corpus chrF (0-100): n-gram counts summed over all pairs before scoring."""
    total = [[0, 0, 0] for _ in range(order)]
    for hyp, ref in zip(hypotheses, references):
        for acc, st in zip(total, _chrf_stats(hyp, ref, order)):
            for k in range(3):
                acc[k] += st[k]
    return _chrf_score([tuple(t) for t in total], beta)


# Openers of an assistant that talks about the answer instead of giving it. Single-word
# interjections count only when punctuation follows ("Absolutely stunning portrait" is a prompt).
_PREAMBLE = re.compile(
    r"^\W*(?:"
    r"(?:sure|certainly|absolutely|of course|okay|ok|gladly|great question)[\s*_]*[!,.:;\-—]"
    r"|sure thing\b|here\s+(?:is|are)\b|here['’]s\b|i['’]d\s+be\s+(?:happy|glad|delighted)\b"
    r"|i\s+would\s+be\s+(?:happy|glad)\b|i['’]m\s+happy\s+to\b|as\s+an\s+ai\b"
    r")",
    re.IGNORECASE,
)


def has_preamble(text: str) -> bool:
    """True when the output opens chattily ("Sure!", "Here is", "Certainly,", "As an AI", ...)."""
    return bool(_PREAMBLE.match(text))


def ends_in_loop(text: str, min_repeats: int = 3, max_period: int = 12) -> bool:
    """True when the output ends with a run of words repeating with some period 1..max_period
    at least `min_repeats` times in a row (a trailing partial cycle counts too)."""
    toks = text.split()
    for n in range(1, max_period + 1):
        if len(toks) < min_repeats * n:
            break
        j = len(toks) - 1
        while j - n >= 0 and toks[j] == toks[j - n]:
            j -= 1
        if (len(toks) - 1 - j) + n >= min_repeats * n:
            return True
    return False


def never_stops(text: str, finish_reason: str) -> bool:
    """Hit the token cap, or (even if it stopped) ended in a repetition loop."""
    return finish_reason == "length" or ends_in_loop(text)


# ---- model metrics --------------------------------------------------------------------------


def reference_nll(model, tokenizer, examples, max_length: int, *, batch_size: int = 4,
                  description: str | None = None) -> list[tuple[float, int]]:
    """(summed NLL in nats, number of answer tokens) of each example's reference answer.

    Teacher forcing with the training label masks (tailorkit.template.encode_example), so the
    score covers exactly what training optimises: every assistant turn and its terminator.
    Memory: full-vocabulary logits are the largest tensor here (rows x length x vocab floats, 0.4 GB for
    8 rows of 281 tokens on a 49k vocabulary), so logits are asked for only at positions that predict
    an answer token (`logits_to_keep`, where the model takes it) and scored one row at a time.
    """
    import torch

    from ..progress import progress
    from ..template import encode_example

    encoded = [encode_example(ex, tokenizer, max_length) for ex in examples]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    keep_ok = _takes_logits_to_keep(model)
    out: list[tuple[float, int]] = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), progress() as bar:
            task = bar.add_task(description or "scoring references", total=len(encoded))
            for start in range(0, len(encoded), batch_size):
                chunk = encoded[start:start + batch_size]
                width = max(len(e["input_ids"]) for e in chunk)
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                labels = torch.full((len(chunk), width), -100, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, e in enumerate(chunk):
                    n = len(e["input_ids"])
                    ids[row, :n] = torch.tensor(e["input_ids"])
                    labels[row, :n] = torch.tensor(e["labels"])
                    mask[row, :n] = 1
                # Position t predicts token t+1.
                shift_labels = labels[:, 1:].to(device)
                counts = (shift_labels != -100).sum(dim=1)
                for row in range(len(chunk)):
                    if int(counts[row]) == 0:
                        raise TrainError("an example has no answer tokens to score",
                                         where=str(examples[start + row].meta.get("source", "test split")),
                                         fix="check that every test row has a non-empty assistant answer")
                inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
                if keep_ok:
                    positions = (shift_labels != -100).any(dim=0).nonzero().squeeze(-1)
                    logits = model(**inputs, logits_to_keep=positions).logits
                    shift_labels = shift_labels[:, positions]
                else:
                    logits = model(**inputs).logits[:, :-1]
                for row in range(len(chunk)):
                    loss = _cross_entropy_sum(logits[row], shift_labels[row])
                    out.append((loss, int(counts[row])))
                del logits
                bar.advance(task, len(chunk))
    finally:
        model.train(was_training)
    return out


def _takes_logits_to_keep(model) -> bool:
    """Whether the (possibly PEFT-wrapped) causal LM's forward accepts `logits_to_keep`."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):
        return False


def _cross_entropy_sum(logits, targets) -> float:
    """Summed NLL of one row's targets (-100 = not scored), in fp32."""
    import torch.nn.functional as F

    return float(F.cross_entropy(logits.float(), targets, ignore_index=-100, reduction="sum"))


def embedding_similarity(outputs: Sequence[str], references: Sequence[str], embedder: str) -> list[float]:
    """Cosine similarity of each output to its reference with a sentence-transformers embedder."""
    from ..embedders import load_sentence_transformer

    if not outputs:
        return []
    st = load_sentence_transformer(embedder)
    a = st.encode(list(outputs), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    b = st.encode(list(references), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return [float(x) for x in (a * b).sum(axis=1)]


# ---- rows and aggregates --------------------------------------------------------------------


def score_row(output: str, finish_reason: str, n_tokens: int, reference: str, nll: tuple[float, int],
              embed_sim: float) -> dict:
    """Every per-row figure for one model's answer to one test row."""
    nll_sum, n_ref_tokens = nll
    return {
        "nll": nll_sum / n_ref_tokens,
        "nll_sum": nll_sum,
        "ref_tokens": n_ref_tokens,
        "rouge_l": rouge_l(output, reference),
        "chrf": chrf(output, reference),
        "embed_sim": embed_sim,
        "preamble": has_preamble(output),
        "never_stops": never_stops(output, finish_reason),
        "loop": ends_in_loop(output),
        "finish_reason": finish_reason,
        "n_tokens": n_tokens,
        "words": len(output.split()),
    }


def aggregate(rows: Sequence[dict]) -> dict:
    """One figure per metric. Perplexity = exp(total NLL / total reference tokens)."""
    if not rows:
        return {}
    n = len(rows)
    total_nll = sum(r["nll_sum"] for r in rows)
    total_tokens = sum(r["ref_tokens"] for r in rows)
    mean_nll = total_nll / total_tokens
    return {
        "nll": mean_nll,
        "perplexity": math.exp(min(mean_nll, 700.0)),
        "rouge_l": sum(r["rouge_l"] for r in rows) / n,
        "chrf": sum(r["chrf"] for r in rows) / n,
        "embed_sim": sum(r["embed_sim"] for r in rows) / n,
        "preamble_rate": sum(r["preamble"] for r in rows) / n,
        "never_stops_rate": sum(r["never_stops"] for r in rows) / n,
        "length_cap_rate": sum(r["finish_reason"] == "length" for r in rows) / n,
        "loop_rate": sum(r["loop"] for r in rows) / n,
        "median_words": float(statistics.median(r["words"] for r in rows)),
        "median_tokens": float(statistics.median(r["n_tokens"] for r in rows)),
    }


def median_words(texts: Sequence[str]) -> float:
    """Median whitespace-separated word count (the reference side of the length metric)."""
    return float(statistics.median(len(t.split()) for t in texts)) if texts else 0.0
