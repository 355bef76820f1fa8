"""Export checks itself: the run's test prompts answered by the tuned HF model and by the exported GGUF
(llama.cpp), greedy (temperature 0) with the project's repetition penalty and no-repeat n-gram size (the
decoding compare and the Modelfile use; both backends apply them by the same formula over the generated
tokens, so a faithful GGUF still answers token for token alike), token by token. Pure greedy without
penalties makes a small model loop until max_new_tokens on most prompts, so "does it stop by itself"
would say little about the export; `penalties=False` checks that way.

Reported (export/gguf_check.json): how many answers are token-identical, how many stop by themselves on
each side, the first divergence of each mismatch (position and the two tokens), and whether llama.cpp
tokenises each rendered prompt TEXT as the training tokenizer does (what Ollama users send). With a
LoRA adapter GGUF and a base GGUF to put it on (the bundled model), the adapter is loaded and checked
the same way. With the project's task checks (compare.checks) both sides' answers are also checked, so a
4-bit GGUF that no longer does the job shows as pass rates that fall (token identity alone says little
there: a 4-bit small model rarely answers token for token alike). An export whose answers stop on one
side but not on the other has lost its stop token or template: the check fails and says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config.generation import GenerationConfig

MAX_ROWS = 20


@dataclass
class SideBySide:
    """HF vs one GGUF setup on the same prompts."""

    label: str
    n: int = 0
    identical: int = 0
    hf_stopped: int = 0
    gguf_stopped: int = 0
    stop_disagreements: int = 0
    mismatches: list[dict] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # the GGUF's answers, for the task checks

    def to_dict(self) -> dict:
        return {"label": self.label, "prompts": self.n, "token_identical": self.identical,
                "hf_self_stopped": self.hf_stopped, "gguf_self_stopped": self.gguf_stopped,
                "stop_disagreements": self.stop_disagreements, "mismatches": self.mismatches}

    def line(self) -> str:
        return (f"{self.label}: {self.identical}/{self.n} token-identical to HF; stopped by themselves: "
                f"HF {self.hf_stopped}/{self.n}, GGUF {self.gguf_stopped}/{self.n}")


def hf_token_ids(model, tok, prompt_conv: list[dict], gen: GenerationConfig) -> list[int]:
    """Greedy ids from the HF model (the terminator included when it comes), via the HF engine's generate."""
    from ..infer.hf_generate import generate

    ids: list[int] = []
    generate(model, tok, [prompt_conv], gen, batch_size=1, show_progress=False, on_token=ids.append)
    return ids


def _compare(side: SideBySide, index: int, hf_ids: list[int], lc_ids: list[int], hf_stops: set[int],
             lc_stops: set[int], tok) -> None:
    side.n += 1
    hf_stop = bool(hf_ids) and hf_ids[-1] in hf_stops
    lc_stop = bool(lc_ids) and lc_ids[-1] in lc_stops
    side.hf_stopped += hf_stop
    side.gguf_stopped += lc_stop
    side.stop_disagreements += hf_stop != lc_stop
    if hf_ids == lc_ids:
        side.identical += 1
        return
    at = next((i for i, (a, b) in enumerate(zip(hf_ids, lc_ids)) if a != b), min(len(hf_ids), len(lc_ids)))
    piece = lambda ids: tok.decode(ids[at:at + 1]) if at < len(ids) else "<end>"  # noqa: E731
    side.mismatches.append({"row": index, "first_divergence": at, "hf_token": piece(hf_ids),
                            "gguf_token": piece(lc_ids), "context": tok.decode(hf_ids[max(0, at - 8):at]),
                            "hf_stopped": hf_stop, "gguf_stopped": lc_stop,
                            "hf_tokens": len(hf_ids), "gguf_tokens": len(lc_ids)})


def _text(tok, ids: list[int], stops: set[int]) -> str:
    """The answer text as compare sees it: the terminator cut, special tokens skipped, stripped."""
    kept = ids[:-1] if ids and ids[-1] in stops else ids
    return tok.decode(kept, skip_special_tokens=True).strip()


def _task_checks(checker, hf_texts: list[str], sides: list[SideBySide]) -> dict:
    """compare.checks' pass rates on the HF answers and on each GGUF side's answers."""
    from ..checks import run_checks

    answers = {"HF": hf_texts} | {side.label: side.texts for side in sides}
    rep = run_checks(checker, answers)
    rates = {c.label: c.pass_rate for c in rep.checks}
    worse = [f"{label} {100 * r['HF']:.0f}% -> {100 * r[sides[0].label]:.0f}%" for label, r in rates.items()
             if r[sides[0].label] < r["HF"]]
    line = ("task checks, all passing: " + ", ".join(f"{name} {100 * v:.0f}%" for name, v in rep.all_pass_rate.items())
            + (f"; lower on the merged GGUF: {'; '.join(worse)}" if worse else "; no check lower on the merged GGUF"))
    return {"pass_rate": rates, "all_pass_rate": rep.all_pass_rate, "line": line}


def check_gguf(adapter_dir: Path, test_file: Path, gguf_path: Path, *, generation: GenerationConfig,
               penalties: bool = True, lora: Path | None = None, lora_base: Path | None = None,
               max_rows: int = MAX_ROWS, show_progress: bool = True, checker=None) -> dict:
    """Run the check with `generation`'s max_new_tokens and (unless penalties=False) its repetition
    penalty and no-repeat n-gram size, at temperature 0; returns the report (passed, sides, prompt
    tokenisation, and with a `checker` (tailorkit.checks.Checker) each side's task-check pass rates)
    for gguf_check.json."""
    from ..data.example import read_examples
    from ..infer.llamacpp import LlamaCppEngine
    from ..infer.loading import load_tuned
    from ..progress import progress
    from ..infer.hf_generate import render_prompt, terminator_ids

    update = {"temperature": 0.0, "seed": 0}
    if not penalties:
        update |= {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0}
    gen = generation.model_copy(update=update)
    decoding = (f"greedy, repetition_penalty {gen.repetition_penalty}, no_repeat_ngram_size "
                f"{gen.no_repeat_ngram_size}" + (", penalize_prompt" if gen.penalize_prompt else ""))
    convs = [ex.prompt_messages() for ex in read_examples(test_file)][:max_rows]
    model, tok = load_tuned(adapter_dir, device="cpu")
    setups = [("merged GGUF", gguf_path, None)]
    if lora is not None and lora_base is not None:
        setups.append(("LoRA GGUF on the base GGUF", lora_base, lora))
    # only the GGUF's own end tokens: what llama.cpp and Ollama users get
    engines = [(label, LlamaCppEngine(path, tok, lora_path=adapter, stop_ids=[], label=label))
               for label, path, adapter in setups]
    hf_stops = set(terminator_ids(model, tok))
    sides = [SideBySide(label) for label, _ in engines]
    text_ok = 0
    hf_texts: list[str] = []
    try:
        with progress(enabled=show_progress) as bar:
            task = bar.add_task("checking the GGUF against the tuned model", total=len(convs))
            for i, conv in enumerate(convs):
                prompt = render_prompt(tok, conv, i)
                hf_ids = hf_token_ids(model, tok, conv, gen)
                hf_texts.append(_text(tok, hf_ids, hf_stops))
                for side, (_, engine) in zip(sides, engines):
                    lc_ids = engine.answer_ids(prompt, gen)
                    _compare(side, i, hf_ids, lc_ids, hf_stops, set(engine.stop_ids), tok)
                    side.texts.append(_text(tok, lc_ids, set(engine.stop_ids)))
                text = tok.decode(prompt, skip_special_tokens=False)
                text_ok += engines[0][1].llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) == prompt
                bar.advance(task)
    finally:
        for _, engine in engines:
            engine.close()
    bad = sides[0].stop_disagreements
    report = {"passed": bad == 0, "rows": len(convs), "max_new_tokens": gen.max_new_tokens, "decoding": decoding,
              "prompt_text_tokenizes_identically": text_ok, "sides": [s.to_dict() for s in sides],
              "summary": [s.line() for s in sides]}
    if checker is not None:
        report["checks"] = _task_checks(checker, hf_texts, sides)
        report["summary"].append(report["checks"]["line"])
    if bad:
        report["message"] = (f"the GGUF export failed its check: on {bad} of {len(convs)} test prompts one of "
                             "the tuned model and the GGUF stopped by itself and the other did not (a lost stop "
                             "token or chat template)")
    return report
