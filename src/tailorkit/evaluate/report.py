"""report.html for `tailor compare`: one self-contained page (no external assets, no scripts).

A headline table, one bar chart per metric (inline SVG), the training loss curve (run_dir/loss.png
embedded as base64, or drawn from metrics.jsonl), and side-by-side examples. Every piece of text
from data or models is HTML-escaped.
"""
from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path
from typing import Any

from ..scoreboard import fmt

BASE_COLOR = "#9aa5b1"
TUNED_COLOR = "#2f6fd0"
CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1f2933;max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #e4e7eb;padding-bottom:4px}
.meta{color:#52606d;font-size:13px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#f5f7fa;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.win{color:#127a3e;font-weight:600}.lose{color:#b42318}.charts{display:flex;flex-wrap:wrap;gap:14px}
.chart{border:1px solid #e4e7eb;border-radius:6px;padding:8px 10px;width:330px}
.chart h3{font-size:13px;margin:0 0 4px;font-weight:600}.legend span{display:inline-block;margin-right:14px;font-size:13px}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.ex{border:1px solid #e4e7eb;border-radius:6px;margin:0 0 14px;overflow:hidden}
.ex .req{background:#f5f7fa;padding:8px 12px;font-weight:600}.ex .grid{display:grid;grid-template-columns:1fr 1fr 1fr}
.ex .cell{padding:8px 12px;border-left:1px solid #e4e7eb;white-space:pre-wrap;word-break:break-word;font-size:14px}
.ex .cell:first-child{border-left:none}.lbl{font-size:12px;color:#52606d;text-transform:uppercase;letter-spacing:.04em;display:block;margin-bottom:3px}
.tag{font-size:11px;border-radius:3px;padding:0 4px;margin-left:6px;background:#fde8e8;color:#b42318;text-transform:none;letter-spacing:0}
img{max-width:100%}.warn{color:#8a6d00;font-weight:600}.bad{color:#b42318}
.verdict{font-size:18px;font-weight:600;margin:6px 0}.ci{position:relative;height:18px;background:#f5f7fa;border-radius:3px;width:420px;margin:6px 0 2px}
.ci .band{position:absolute;top:3px;height:12px;background:#9fc0ef;border-radius:2px}.ci .pt{position:absolute;top:0;width:3px;height:18px;background:#2f6fd0}
.ci .half{position:absolute;top:0;width:1px;height:18px;background:#1f2933}
"""


def _headline(doc: dict[str, Any]) -> str:
    rows = []
    for m in doc["metrics"]:
        key, win = m["key"], doc["better"].get(m["key"])
        base_cls = "win" if win == "base" else ""
        tuned_cls = "win" if win == "tuned" else ("lose" if win == "base" else "")
        note = {"higher": "higher is better", "lower": "lower is better",
                "closer": f"closer to the references' {fmt(key, doc['reference'].get(key))} is better"}[m["better"]]
        rows.append(f"<tr><td>{escape(m['label'])}<div class=meta>{escape(note)}</div></td>"
                    f"<td class='num {base_cls}'>{fmt(key, doc['base'].get(key))}</td>"
                    f"<td class='num {tuned_cls}'>{fmt(key, doc['tuned'].get(key))}</td>"
                    f"<td>{escape(win or '–')}</td></tr>")
    return ("<table><tr><th>metric</th><th style='text-align:right'>base</th><th style='text-align:right'>tuned</th>"
            "<th>better</th></tr>" + "".join(rows) + "</table>")


def _bar_chart(label: str, key: str, base: float, tuned: float, reference: float | None) -> str:
    """Two horizontal bars on a shared zero-based scale (rates on 0-100%)."""
    width, left, bar_h = 310, 52, 22
    top = max(base, tuned, reference or 0.0)
    scale_max = 1.0 if key.endswith("_rate") else (top * 1.1 if top > 0 else 1.0)
    usable = width - left - 60
    parts = []
    for i, (name, value, color) in enumerate((("base", base, BASE_COLOR), ("tuned", tuned, TUNED_COLOR))):
        y = 8 + i * (bar_h + 8)
        w = max(1.0, usable * max(value, 0.0) / scale_max)
        parts.append(f"<text x='0' y='{y + 15}' font-size='12' fill='#52606d'>{name}</text>"
                     f"<rect x='{left}' y='{y}' width='{w:.1f}' height='{bar_h}' rx='3' fill='{color}'/>"
                     f"<text x='{left + w + 5:.1f}' y='{y + 15}' font-size='12' fill='#1f2933'>{fmt(key, value)}</text>")
    if reference is not None:
        x = left + usable * reference / scale_max
        parts.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='2' y2='68' stroke='#e0a800' stroke-width='2' "
                     f"stroke-dasharray='4 3'/><text x='{x + 3:.1f}' y='78' font-size='11' fill='#8a6d00'>"
                     f"references {fmt(key, reference)}</text>")
    height = 84 if reference is not None else 70
    return (f"<div class=chart><h3>{escape(label)}</h3><svg width='{width}' height='{height}' "
            f"xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{escape(label)}'>{''.join(parts)}</svg></div>")


def metric_charts(doc: dict[str, Any]) -> str:
    """One inline-SVG bar chart per metric (base vs tuned), as the report and the studio show them."""
    out = []
    for m in doc["metrics"]:
        key = m["key"]
        if key in doc["base"] and key in doc["tuned"]:
            ref = doc["reference"].get(key) if m["better"] == "closer" else None
            out.append(_bar_chart(m["label"], key, doc["base"][key], doc["tuned"][key], ref))
    legend = (f"<p class=legend><span><i class=sw style='background:{BASE_COLOR}'></i>base</span>"
              f"<span><i class=sw style='background:{TUNED_COLOR}'></i>tuned</span></p>")
    return legend + "<div class=charts>" + "".join(out) + "</div>"


def _loss_svg(points: dict[str, list[tuple[float, float]]]) -> str:
    width, height, pad = 700, 300, 44
    allp = [p for series in points.values() for p in series]
    x0, x1 = min(p[0] for p in allp), max(p[0] for p in allp)
    y0, y1 = min(p[1] for p in allp), max(p[1] for p in allp)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def xy(p):
        return (pad + (p[0] - x0) / (x1 - x0) * (width - 2 * pad),
                height - pad - (p[1] - y0) / (y1 - y0) * (height - 2 * pad))

    body = [f"<line x1='{pad}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' stroke='#cbd2d9'/>",
            f"<line x1='{pad}' y1='{pad}' x2='{pad}' y2='{height - pad}' stroke='#cbd2d9'/>",
            f"<text x='{pad}' y='{height - 12}' font-size='12'>step {x0:g}</text>",
            f"<text x='{width - pad}' y='{height - 12}' font-size='12' text-anchor='end'>step {x1:g}</text>",
            f"<text x='4' y='{pad + 4}' font-size='12'>{y1:.2f}</text>",
            f"<text x='4' y='{height - pad}' font-size='12'>{y0:.2f}</text>"]
    colors = {"train loss": "#4c72b0", "validation loss": "#dd8452"}
    for i, (name, series) in enumerate(points.items()):
        if not series:
            continue
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, series))
        body.append(f"<polyline fill='none' stroke='{colors[name]}' stroke-width='1.6' points='{coords}'/>")
        if name == "validation loss":  # few points (one per epoch): mark each, a single one has no line
            body.extend(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3.5' fill='{colors[name]}'/>" for x, y in map(xy, series))
        body.append(f"<text x='{width - pad}' y='{pad + 14 * i}' font-size='12' text-anchor='end' "
                    f"fill='{colors[name]}'>{name}</text>")
    return f"<svg width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg'>{''.join(body)}</svg>"


def _loss_curve(run_dir: Path) -> str:
    png = run_dir / "loss.png"
    if png.exists():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        return f"<img alt='training and validation loss' src='data:image/png;base64,{data}'>"
    points: dict[str, list[tuple[float, float]]] = {"train loss": [], "validation loss": []}
    metrics = run_dir / "metrics.jsonl"
    if metrics.exists():
        for line in metrics.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a killed run
            if r.get("kind") == "train" and "loss" in r:
                points["train loss"].append((r.get("step", 0), r["loss"]))
            elif r.get("kind") == "val" and "val_loss" in r:
                points["validation loss"].append((r.get("step", 0), r["val_loss"]))
    if not any(points.values()):
        return "<p class=meta>No training metrics found (run_dir/loss.png or metrics.jsonl).</p>"
    return _loss_svg(points)


def _cell(label: str, text: str, row: dict[str, Any] | None = None) -> str:
    tags = ""
    if row is not None:
        if row.get("preamble"):
            tags += "<span class=tag>chatty preamble</span>"
        if row.get("never_stops"):
            tags += "<span class=tag>never stops</span>" if row.get("finish_reason") == "length" else \
                "<span class=tag>repetition loop</span>"
        for label in row.get("checks_failed", []):
            tags += f"<span class=tag>fails: {escape(label)}</span>"
        tags += f"<span class=meta style='margin-left:6px'>ROUGE-L {row.get('rouge_l', 0):.2f}</span>"
    return f"<div class=cell><span class=lbl>{escape(label)}{tags}</span>{escape(text) or '<i>(empty)</i>'}</div>"


def _examples(doc: dict[str, Any], n: int) -> str:
    out = []
    for row in doc["rows"][:n]:
        system = f"<div class=meta>system: {escape(row['system'])}</div>" if row.get("system") else ""
        out.append(f"<div class=ex><div class=req>{escape(row['request'])}{system}</div><div class=grid>"
                   f"{_cell('reference', row['reference'])}{_cell('base', row['base']['text'], row['base'])}"
                   f"{_cell('tuned', row['tuned']['text'], row['tuned'])}</div></div>")
    return "".join(out) or "<p class=meta>No examples requested (compare.n_examples = 0).</p>"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def checks_section(checks: dict[str, Any] | None) -> str:
    """Pass rate per check for base, tuned and the references; checks the references fail are flagged."""
    if not checks:
        return "<p class=meta>No task checks configured (compare.checks).</p>"
    rows = []
    for c in checks["checks"]:
        base, tuned = c["pass_rate"].get("base"), c["pass_rate"].get("tuned")
        win = "tuned" if tuned is not None and base is not None and tuned > base else (
            "base" if tuned is not None and base is not None and base > tuned else "")
        flag = "<span class=warn> likely wrong check: the references fail it</span>" if c["likely_wrong"] else ""
        rows.append(f"<tr><td>{escape(c['label'])}<div class=meta>{escape(c['type'])}</div></td>"
                    f"<td class='num {'win' if win == 'base' else ''}'>{_pct(base)}</td>"
                    f"<td class='num {'win' if win == 'tuned' else ('lose' if win == 'base' else '')}'>{_pct(tuned)}</td>"
                    f"<td class=num>{_pct(c['reference_pass_rate'])}</td><td>{flag}</td></tr>")
    allp = checks.get("all_pass_rate", {})
    rows.append(f"<tr><td><b>all checks</b></td><td class=num><b>{_pct(allp.get('base'))}</b></td>"
                f"<td class=num><b>{_pct(allp.get('tuned'))}</b></td><td class=num><b>{_pct(allp.get('reference'))}"
                "</b></td><td></td></tr>")
    return ("<table><tr><th>check</th><th style='text-align:right'>base</th><th style='text-align:right'>tuned</th>"
            "<th style='text-align:right'>references</th><th></th></tr>" + "".join(rows) + "</table>")


def _interval_bar(rate: float, lo: float, hi: float) -> str:
    w = 420
    return (f"<div class=ci title='95% interval'><div class=band style='left:{lo * w:.0f}px;width:{max(2, (hi - lo) * w):.0f}px'>"
            f"</div><div class=half style='left:{w / 2:.0f}px'></div><div class=pt style='left:{rate * w - 1:.0f}px'></div></div>"
            "<div class=meta style='width:420px;display:flex;justify-content:space-between'><span>0%</span>"
            "<span>50%</span><span>100%</span></div>")


def judge_section(judge: dict[str, Any] | None, rows: list[dict[str, Any]], n_rows: int = 20) -> str:
    """Win rate with its interval, the length-controlled win rate, and per-row verdicts with reasons."""
    if not judge or not judge.get("enabled"):
        return ("<p class=meta>The judge is off: set compare.judge.base_url (or pass <code>--judge URL</code>) "
                "for a position-swapped pairwise judgement.</p>")
    warn = f"<p class=warn>{escape(judge['warning'])}</p>" if judge.get("warning") else ""
    if judge["win_rate"] is None:
        body = "<p class=bad>No row could be judged.</p>"
    else:
        lo, hi = judge["interval"]
        body = (f"<p class=verdict>{escape(judge['verdict'])}</p>"
                f"<p>tuned win rate <b>{_pct(judge['win_rate'])}</b> (95% bootstrap interval {_pct(lo)} – {_pct(hi)}); "
                f"length-controlled <b>{_pct(judge['length_controlled'])}</b></p>{_interval_bar(judge['win_rate'], lo, hi)}")
    body += (f"<p class=meta>judge {escape(judge['judge'])} · {judge['judged']} of {judge['n_rows']} rows judged in both "
             f"orders: tuned won {judge['wins']}, base won {judge['losses']}, ties {judge['ties']} "
             f"({judge['inconsistent']} of them because the two orders disagreed) · "
             f"<span class={'bad' if judge['parse_failures'] else ''}>{judge['parse_failures']} parse failures</span>, "
             f"{judge['errors']} errors (left out, never scored as losses) · {judge['requests_sent']} requests sent, "
             f"{judge['cache_hits']} from the cache</p>")
    table = []
    for row in rows[:n_rows]:
        v = row.get("judge") or {}
        outcome = v.get("outcome", "–")
        orders = " / ".join(str(o) for o in v.get("orders", [])) or "–"
        reasons = " | ".join(escape(r or "") for r in v.get("reasons", []) if r) or escape(v.get("raw", "") or v.get("reason", ""))
        cls = {"tuned": "win", "base": "lose", "parse_failure": "bad"}.get(outcome, "")
        table.append(f"<tr><td>{escape(row['request'][:90])}</td><td class={cls}>{escape(outcome)}</td>"
                     f"<td>{escape(orders)}</td><td style='font-size:13px'>{reasons}</td></tr>")
    more = f"<p class=meta>first {n_rows} of {len(rows)} rows; all in compare.json</p>" if len(rows) > n_rows else ""
    return (warn + body + "<table><tr><th>request</th><th>verdict</th><th>order 1 / order 2</th><th>reasons</th></tr>"
            + "".join(table) + "</table>" + more)


def render_report(doc: dict[str, Any], run_dir: Path, n_examples: int = 10) -> str:
    """The whole page from the compare.json document."""
    gen = ", ".join(f"{k}={v}" for k, v in doc["generation"].items())
    engines = doc.get("engines") or {}
    answered = (f" · answered by the {escape(engines.get('base', '?'))} engine (base) and the "
                f"{escape(engines.get('tuned', '?'))} engine (tuned)") if engines else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>tailorkit compare: {escape(run_dir.name)}</title><style>{CSS}</style></head><body>
<h1>Base vs tuned: {escape(run_dir.name)}</h1>
<p class=meta>{doc['n_rows']} held-out test rows · base <b>{escape(str(doc['models']['base']))}</b> ·
tuned <b>{escape(str(doc['models']['tuned']))}</b><br>identical generation settings for both: {escape(gen)}{answered}</p>
<h2>Headline</h2>{_headline(doc)}
<p class=meta>NLL and perplexity score the reference answers under each model (teacher forcing, answer tokens
and terminator only). "Never stops" = hit max_new_tokens or ended in a repetition loop. Lengths are
whitespace-separated words.</p>
<h2>Task checks</h2>{checks_section(doc.get('checks'))}
<h2>Pairwise judge</h2>{judge_section(doc.get('judge'), doc['rows'])}
<h2>Metrics</h2>{metric_charts(doc)}
<h2>Training loss</h2>{_loss_curve(run_dir)}
<h2>Examples ({min(n_examples, len(doc['rows']))} of {doc['n_rows']})</h2>{_examples(doc, n_examples)}
</body></html>
"""
