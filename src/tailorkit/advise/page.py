"""advise.html: the recommendation, a table of every route's figures, bars of the deciding figure,
and a few rows answered by every route. Self-contained (no scripts, no external assets); every
text from data or models is HTML-escaped."""
from __future__ import annotations

from html import escape
from typing import Any

from ..evaluate.report import CSS
from .routes import LABELS, ROUTES

COLORS = {"base": "#9aa5b1", "base+retrieval": "#e0a800", "tuned": "#2f6fd0", "tuned+retrieval": "#127a3e"}
PAGE_CSS = CSS + """
.rec{border:2px solid #2f6fd0;border-radius:8px;padding:12px 16px;margin:14px 0;background:#f3f7fd}
.rec .h{font-size:18px;font-weight:600;margin-bottom:6px}tr.pick td{background:#f3f7fd;font-weight:600}
.ex .grid4{display:grid;grid-template-columns:repeat(5,1fr)}
"""


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f}%"


def _table(doc: dict[str, Any]) -> str:
    routes, pick = doc["routes"], doc["recommendation"]["route"]
    checks = doc.get("checks") or []
    head = ["route"] + (["all checks"] + checks if checks else []) + [
        "judge win rate vs base", "similarity", "ROUGE-L", "reference NLL", "prompt tokens / request",
        "latency / answer", "extractive answers"]
    rows = []
    for name in ROUTES:
        r = routes[name]
        cells = [escape(LABELS[name])]
        if checks:
            cells += [_pct(r.get("checks_all"))] + [_pct(r["checks"].get(c)) for c in checks]
        cells += [_pct(r.get("judge_win_rate")) if name != "base" else "(reference)", f"{r['similarity']:.3f}",
                  f"{r['rouge_l']:.3f}", f"{r['nll']:.2f}", f"{r['prompt_tokens']:.0f}", f"{r['latency_s']:.2f} s",
                  _pct(r["extractive_rate"])]
        cls = " class=pick" if name == pick else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td{' class=num' if i else ''}>{c}</td>" for i, c in enumerate(cells))
                    + "</tr>")
    return ("<div style='overflow-x:auto'><table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
            + "".join(rows) + "</table></div>")


def _bars(doc: dict[str, Any]) -> str:
    rec = doc["recommendation"]
    key = rec["metric"]
    values = {n: doc["routes"][n].get(key) for n in ROUTES}
    if key == "judge_win_rate":
        values["base"] = 0.5
    top = max((v for v in values.values() if v is not None), default=1.0) or 1.0
    scale = 1.0 if key in ("checks_all", "judge_win_rate") else top * 1.1  # NLL: the shortest bar is the best
    parts = []
    for i, name in enumerate(ROUTES):
        v = values[name] or 0.0
        w = max(1.0, 520 * v / scale)
        y = 6 + i * 30
        label = _pct(v) if key in ("checks_all", "judge_win_rate") else f"{v:.3f}"
        parts.append(f"<text x='0' y='{y + 16}' font-size='12' fill='#52606d'>{escape(LABELS[name])}</text>"
                     f"<rect x='200' y='{y}' width='{w:.1f}' height='22' rx='3' fill='{COLORS[name]}'/>"
                     f"<text x='{205 + w:.1f}' y='{y + 16}' font-size='12'>{label}</text>")
    return (f"<h3 style='font-size:14px'>{escape(rec['metric_label'])}</h3><svg width='800' height='{12 + 30 * len(ROUTES)}' "
            f"xmlns='http://www.w3.org/2000/svg' role='img'>{''.join(parts)}</svg>")


def _examples(doc: dict[str, Any], n: int = 4) -> str:
    out = []
    for i, req in enumerate(doc["requests"][:n]):
        cells = [f"<div class=cell><span class=lbl>reference</span>{escape(req['reference'])}</div>"]
        for name in ROUTES:
            row = doc["routes"][name]["rows"][i]
            tag = "<span class=tag>extractive</span>" if row["mode"] == "extractive" else ""
            cells.append(f"<div class=cell><span class=lbl>{escape(LABELS[name])}{tag}</span>"
                         f"{escape(row['text']) or '<i>(empty)</i>'}</div>")
        out.append(f"<div class=ex><div class=req>{escape(req['request'])}</div><div class=grid4>{''.join(cells)}</div></div>")
    return "".join(out)


def render_page(doc: dict[str, Any]) -> str:
    rec, tr = doc["recommendation"], doc["train"]
    judge = ("judge off: set compare.judge.base_url for a pairwise judgement of each route against the base model"
             if not doc["judge"].get("enabled") else "pairwise judge on (each route vs the base model, both orders)")
    docs = f"documents: {escape(doc['docs'])}" if doc.get("docs") else "no documents (retrieval = demonstrations only)"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>tailorkit advise</title><style>{PAGE_CSS}</style></head><body>
<h1>Fine-tune, retrieve, or both?</h1>
<p class=meta>{doc['n_test_rows']} held-out rows answered by every route · model <b>{escape(str(doc['model']))}</b> ·
{doc['n_train_rows']} training rows · {doc['demos']} nearest training rows as demonstrations · {docs} ·
pilot LoRA {tr['steps']} steps in {tr['seconds']:.0f} s · whole pilot {doc['seconds'] / 60:.1f} of {doc['minutes']:g} minutes ·
{escape(judge)}</p>
<div class=rec><div class=h>Recommendation: {escape(rec['headline'])}</div>{escape(rec['reason'])}</div>
<h2>Routes</h2>{_table(doc)}
<p class=meta>Reference NLL: mean negative log-likelihood per token of the reference answers given each route's
prompt (lower is better). Prompt tokens: what each request costs before the answer. Extractive answers: rows
where the generated answer was not grounded in the retrieved passages and their best sentences answered instead.</p>
{_bars(doc)}
<h2>Examples</h2>{_examples(doc)}
</body></html>
"""
