// tailor studio: the little script behind the pages (no framework, no build step, works offline).
"use strict";
const $ = (sel, el) => (el || document).querySelector(sel);
const $$ = (sel, el) => Array.from((el || document).querySelectorAll(sel));
const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

function showMessage(text, kind) {
  const box = $("#message");
  box.className = "msg " + (kind || "error");
  box.textContent = text;
  box.style.display = text ? "block" : "none";
  if (text) box.scrollIntoView({block: "nearest"});
}

async function api(path, body, raw) {
  const opts = body === undefined ? {} : (raw ? {method: "POST", body: body} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  let resp;
  try { resp = await fetch(path, opts); } catch (e) { showMessage("the studio server does not answer: " + e); throw e; }
  let data = null;
  try { data = await resp.json(); } catch (e) { data = {error: "unexpected answer from the server (HTTP " + resp.status + ")"}; }
  if (!resp.ok || (data && data.error && !data.job)) { showMessage(data.error || ("HTTP " + resp.status)); throw new Error(data.error); }
  return data;
}

// ---- the job banner: every page shows the running (or last) job ----------------------------------
let lastJob = null;
function describeProgress(p) {
  if (!p || !p.tasks || !p.tasks.length) return {text: "starting…", frac: null};
  const t = p.tasks[p.tasks.length - 1];
  if (!t.total) return {text: t.description, frac: null};
  return {text: `${t.description}: ${Math.round(t.completed)}/${Math.round(t.total)}`, frac: t.completed / t.total};
}
function renderJob(job) {
  const box = $("#job");
  if (!job) { box.className = "msg info"; return; }
  box.dataset.job = job.id; box.dataset.state = job.running ? "running" : job.state;
  const run = job.run_name ? ` (run ${esc(job.run_name)})` : "";
  if (job.running) {
    const p = describeProgress(job.progress);
    box.className = "msg info show";
    box.innerHTML = `<b>${esc(job.label)}${run}</b> <span>${esc(p.text)}</span>` +
      (p.frac != null ? `<span class="bar"><i style="width:${(100 * p.frac).toFixed(1)}%"></i></span>` : "") +
      `<span class="muted">${job.seconds.toFixed(0)} s</span>` +
      (job.stopping ? `<span>stopping after the current step…</span>` : `<button class="danger" id="job-stop">Stop</button>`);
    const stop = $("#job-stop");
    if (stop) stop.onclick = () => api("/api/job/stop", {}).then((d) => renderJob(d.job));
  } else {
    const ok = job.state === "done", stopped = job.state === "stopped";
    box.className = "msg show " + (ok ? "ok" : stopped ? "info" : "error");
    let text = ok ? "finished" : stopped ? "stopped" : "failed";
    if (job.error) text += ": " + job.error;
    else if (job.kind === "prepare" && job.result) { const s = job.result.split_sizes; text += `: ${job.result.kept} of ${job.result.rows_read} rows kept; train / validation / test = ${s.train} / ${s.val} / ${s.test}`; }
    else if (job.kind === "train" && job.result) text += `: ${job.result.steps}/${job.result.total_steps} steps` + (job.result.best_val_loss != null ? `, best validation loss ${job.result.best_val_loss.toFixed(3)}` : "") + (stopped ? " — a checkpoint is saved; Resume continues from it" : "");
    else if (job.kind === "compare" && job.result) text += ": " + job.result.summary.split("; report:")[0];
    else if (job.kind === "kb_add" && job.result) text += `: ${job.result.added.length} added, ${job.result.updated.length} updated, ${job.result.unchanged.length} unchanged; the knowledge base holds ${job.result.documents} documents`;
    box.innerHTML = `<b>${esc(job.label)}${run}</b> <span class="job-result">${esc(text)}</span>`;
  }
}
async function pollJob() {
  try {
    const data = await (await fetch("/api/job")).json();
    const job = data.job;
    const wasRunning = lastJob && lastJob.running;
    renderJob(job);
    if (job && window.onJobUpdate) window.onJobUpdate(job);
    if (wasRunning && job && !job.running && window.onJobDone) window.onJobDone(job);
    lastJob = job;
  } catch (e) { /* the server restarts: try again next tick */ }
  setTimeout(pollJob, 1000);
}

// ---- loss chart: inline SVG, drawn from the first logged point -----------------------------------
function niceTicks(lo, hi) {  // round tick values (1, 2 or 5 times a power of ten) inside [lo, hi]
  const raw = (hi - lo) / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}
function drawLoss(svg, points) {
  const W = 900, H = 300, L = 56, R = 16, T = 16, B = 36;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const all = points.train.concat(points.val);
  if (!all.length) { svg.innerHTML = `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#7b8794">no loss logged yet: the first point appears after the first logged step</text>`; return; }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let x0 = Math.min(0, ...xs), x1 = Math.max(...xs, 1), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad;
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R), sy = (y) => T + (y1 - y) / (y1 - y0) * (H - T - B);
  let g = "";
  for (const y of niceTicks(y0, y1)) g += `<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eef1f4"/><text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end" font-size="12" fill="#52606d">${+y.toFixed(4)}</text>`;
  for (const x of niceTicks(x0, x1)) g += `<text x="${sx(x)}" y="${H - B + 18}" text-anchor="middle" font-size="12" fill="#52606d">${+x.toFixed(4)}</text>`;
  g += `<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle" font-size="12" fill="#52606d">optimizer step</text>`;
  const line = (pts, color, cls) => {
    if (!pts.length) return "";
    const d = pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    return `<polyline points="${d}" fill="none" stroke="${color}" stroke-width="2"/>` +
      pts.map((p) => `<circle class="${cls}" cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3.5" fill="${color}"><title>step ${p[0]}: ${p[1].toFixed(4)}</title></circle>`).join("");
  };
  svg.innerHTML = g + line(points.train, "#2f6fd0", "pt-train") + line(points.val, "#e8590c", "pt-val");
}

// ---- Data screen ----------------------------------------------------------------------------------
async function setOverride(where, action, user, assistant) {
  await api("/api/data/override", {where, action, user, assistant});
  location.reload();
}
function initData() {
  $$("[data-exclude]").forEach((b) => b.onclick = () => setOverride(b.dataset.exclude, "exclude"));
  $$("[data-restore]").forEach((b) => b.onclick = () => setOverride(b.dataset.restore, null));
  $$("[data-save]").forEach((b) => b.onclick = () => {
    const box = b.closest("td");
    setOverride(b.dataset.save, "edit", $("textarea[name=user]", box).value, $("textarea[name=assistant]", box).value);
  });
  const prep = $("#prepare");
  if (prep) prep.onclick = () => api("/api/prepare", {run_name: $("#prepare-run").value}).then((d) => renderJob(d.job));
}

// ---- Train screen ---------------------------------------------------------------------------------
function changedFields() {
  const out = {};
  $$("[data-field]").forEach((el) => {
    const value = el.type === "checkbox" ? String(el.checked) : el.value;
    if (value !== el.dataset.initial) out[el.dataset.field] = value;
  });
  return out;
}
let chartTimer = null;
async function refreshChart() {
  const run = $("#run-name").value.trim();
  if (!run) return;
  try {
    const data = await (await fetch(`/api/runs/${encodeURIComponent(run)}/metrics`)).json();
    drawLoss($("#loss"), data.points);
    $("#run-status").textContent = data.info ? data.info.status : "not prepared yet";
    $("#chart-count").textContent = `${data.points.train.length} training-loss points, ${data.points.val.length} validation-loss points`;
  } catch (e) { /* keep the last chart */ }
}
function initTrain() {
  const start = (resume) => {
    showMessage("");
    const changes = changedFields();
    api("/api/train", {run_name: $("#run-name").value.trim(), changes, resume}).then((d) => renderJob(d.job));
  };
  $("#train-start").onclick = () => start(false);
  $("#train-resume").onclick = () => start(true);
  $("#run-name").onchange = refreshChart;
  refreshChart();
  chartTimer = setInterval(refreshChart, 1000);
}

// ---- Chat screen ----------------------------------------------------------------------------------
async function streamInto(pane, which, message, settings) {
  const out = $(".answer", pane), meta = $(".meta", pane);
  out.textContent = ""; meta.textContent = "waiting for the model (the first message loads it)…";
  const t0 = performance.now();
  const resp = await fetch("/api/chat", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({which, message, settings})});
  if (!resp.ok) { const d = await resp.json().catch(() => ({})); meta.textContent = ""; showMessage(d.error || ("HTTP " + resp.status)); return; }
  const reader = resp.body.getReader(), dec = new TextDecoder();
  let buf = "", n = 0;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += dec.decode(value, {stream: true});
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      if (!line.trim()) continue;
      const ev = JSON.parse(line);
      if (ev.error) { meta.textContent = ""; showMessage(ev.error); return; }
      if (ev.text) { out.textContent += ev.text; n++; meta.textContent = "streaming…"; pane.dataset.pieces = n; }
      if (ev.done) meta.textContent = `${ev.n_tokens} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` + (ev.finish_reason === "length" ? "stopped at the token limit" : "finished");
    }
  }
}
function initChat() {
  $("#chat-form").onsubmit = (e) => {
    e.preventDefault();
    showMessage("");
    const message = $("#chat-message").value;
    const settings = {max_new_tokens: $("#max-new-tokens").value, temperature: $("#temperature").value};
    const run = $("#chat-run").value;
    streamInto($("#pane-base"), "base", message, settings);
    if (run) streamInto($("#pane-tuned"), run, message, settings);
    else $("#pane-tuned .meta").textContent = "no trained run yet: train one on the Train screen";
  };
}

// ---- Knowledge base screen ------------------------------------------------------------------------
const passageLink = (c, label) => `<a class="cite" href="/kb/passage?doc=${encodeURIComponent(c.doc_id)}&start=${c.line_start || 0}&end=${c.line_end || 0}&page=${c.page || 0}&snippet=${encodeURIComponent(c.snippet || "")}">${esc(label)}</a>`;
const score = (v) => v == null ? "–" : v.toFixed(3);
function initKB() {
  $("#kb-upload").onclick = async () => {
    showMessage("");
    const f = $("#kb-file").files[0];
    if (!f) { showMessage("choose a file first"); return; }
    const d = await api(`/api/kb/upload?name=${encodeURIComponent(f.name)}`, f, true);
    renderJob(d.job);
  };
  $("#kb-search-form").onsubmit = async (e) => {
    e.preventDefault(); showMessage("");
    const d = await api("/api/kb/search", {query: $("#kb-query").value, k: 5});
    $("#kb-hits").innerHTML = d.hits.length ? `<table><tr><th>#</th><th>source</th><th>passage</th><th class="num" title="the fused ranking score of both retrievers">hybrid</th><th class="num" title="cosine similarity of the embeddings (meaning)">dense</th><th class="num" title="BM25 keyword score">BM25</th></tr>` +
      d.hits.map((h, i) => `<tr class="hit-row"><td>${i + 1}</td><td>${passageLink({...h, snippet: h.text.slice(0, 240)}, h.where)}</td><td class="text">${esc(h.text.slice(0, 300))}</td><td class="num">${score(h.score)}</td><td class="num">${score(h.dense)}</td><td class="num">${score(h.bm25)}</td></tr>`).join("") + "</table>"
      : `<div class="empty">no passage matches</div>`;
  };
  $("#kb-ask-form").onsubmit = async (e) => {
    e.preventDefault(); showMessage("");
    $("#kb-answer").innerHTML = `<p class="muted">retrieving sources and writing the answer…</p>`;
    const d = await api("/api/kb/ask", {question: $("#kb-question").value}).catch(() => null);
    if (!d) { $("#kb-answer").innerHTML = ""; return; }
    const byN = {}; d.sources.forEach((c) => byN[c.n] = c);
    const text = esc(d.text).replace(/\[(\d+)\]/g, (m, n) => byN[n] ? passageLink(byN[n], `[${n}]`) : m);
    $("#kb-answer").innerHTML = `<div class="card"><div class="answer" id="answer-text">${text}</div>` +
      (d.note ? `<p class="muted">${esc(d.note)}</p>` : "") +
      (d.citations.length ? `<h3 class="small">Cited sources</h3><ol class="citations">` + d.citations.map((c) => `<li>${passageLink(c, c.where)} <span class="muted">similarity ${score(c.score)}</span><br><span class="small">${esc(c.snippet)}</span></li>`).join("") + "</ol>" : "") + `</div>`;
  };
  window.onJobDone = (job) => { if (job.kind === "kb_add" && job.state === "done") setTimeout(() => location.reload(), 1500); };
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  ({data: initData, train: initTrain, chat: initChat, kb: initKB}[page] || (() => {}))();
  if (page === "compare") { const b = $("#compare-start"); if (b) b.onclick = () => api("/api/compare", {run_name: b.dataset.run}).then((d) => renderJob(d.job)); window.onJobDone = (j) => { if (j.kind === "compare") location.reload(); }; }
  if (page === "runs") window.onJobDone = () => location.reload();
  pollJob();
});
