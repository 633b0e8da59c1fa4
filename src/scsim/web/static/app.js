// The scsim workbench page. Plain JavaScript over the JSON API (/docs lists it); the
// form is built from the fields the server derives from the regime schema, and the
// live charts grow with Plotly.extendTraces as server-sent events bring each day.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  source: null,        // {regime: name} or {text, filename}
  fields: [],          // the form's fields, from the schema
  watched: null,       // the job whose charts are shown
  stream: null,        // its EventSource
  names: [],           // its metric names
  series: [],          // per replicate: {x: [], y: [[per metric]]}
  stats: {extends: 0, points: 0},  // for tests and benchmarks: how charts grew
  pending: [],         // days received and not yet on the charts
  timer: null,
};
const FLUSH_MS = 250;
window.scsim = state;

const CHARTS = [
  {title: "Mean score", families: ["mean_score"], y: "points", free: true},
  {title: "People listed or sanctioned", families: ["blacklisted", "sanctioned"], y: "people"},
  {title: "Errors: false records and the wrongly sanctioned",
   families: ["false_attributions", "wrongfully_sanctioned"], y: "people or events"},
];
const PLOT = {responsive: true, displaylogo: false};
// plotly.js (4.8 MB) loads while the form is built: nothing waits for it but charts.
const plotlyLoaded = new Promise((resolve) => {
  if (window.Plotly) resolve();
  else document.getElementById("plotly-js").addEventListener("load", () => resolve());
}).then(() => { document.body.dataset.charts = "true"; });

// ------------------------------------------------------------------------ helpers

async function api(method, url, body) {
  const opts = {method, headers: {}};
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, opts);
  } catch (e) {
    throw new Error("the workbench server does not answer (is `scsim serve` still running?)");
  }
  const data = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) {
    const err = new Error(data.error || `HTTP ${response.status}`);
    err.line = data.line;
    throw err;
  }
  return data;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

function guarded(fn) {
  return async (...args) => {
    try {
      showError("");
      await fn(...args);
    } catch (e) {
      showError(e.message);
    }
  };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const fmt = (v) => (typeof v === "number" ? v.toLocaleString("en") : String(v));

// --------------------------------------------------------------------- regimes

async function loadRegimes() {
  const list = await api("GET", "/api/regimes");
  const select = $("#regime-select");
  select.innerHTML = "";
  for (const kind of ["regime", "world"]) {
    const group = el("optgroup", {label: kind === "regime" ? "Regimes" : "Worlds (several regimes)"});
    for (const r of list.filter((r) => r.kind === kind)) {
      group.append(el("option", {value: r.name, title: r.description}, r.name));
    }
    select.append(group);
  }
  select.value = list.some((r) => r.name === "rongcheng") ? "rongcheng" : list[0].name;
  await pickBuiltin();
}

async function pickBuiltin() {
  const name = $("#regime-select").value;
  const regime = await api("GET", `/api/regimes/${encodeURIComponent(name)}`);
  $("#upload").value = "";
  $("#upload-error").hidden = true;
  state.source = {regime: name};
  setRegime(regime);
}

async function upload() {
  const file = $("#upload").files[0];
  if (!file) return;
  const text = await file.text();
  const box = $("#upload-error");
  box.hidden = true;
  try {
    const regime = await api("POST", "/api/regimes/check", {text, filename: file.name});
    state.source = {text, filename: file.name};
    setRegime(regime);
  } catch (e) {
    showUploadError(text, e.message, e.line);
    throw new Error(`${file.name} is not a valid regime file; see the marked line`);
  }
}

function showUploadError(text, message, line) {
  // The message goes right under the line it is about, amid its neighbours.
  const box = $("#upload-error");
  box.innerHTML = "";
  const lines = text.split("\n");
  const at = line || 1;
  const from = Math.max(1, at - 3), to = Math.min(lines.length, at + 3);
  for (let n = from; n <= to; n++) {
    box.append(el("div", {class: n === at ? "line bad" : "line"}, `${String(n).padStart(4)}  ${lines[n - 1]}`));
    if (n === at) box.append(el("div", {class: "message"}, message));
  }
  if (!line) box.append(el("div", {class: "message"}, message));
  box.hidden = false;
}

function setRegime(regime) {
  $("#regime-description").textContent = `${regime.name} (${regime.kind}): ${regime.description}`;
  state.fields = regime.fields;
  buildForm();
}

// ------------------------------------------------------------------------ form

function buildForm() {
  const form = $("#form");
  form.innerHTML = "";
  const sections = new Map();
  for (const f of state.fields) {
    if (!sections.has(f.section)) {
      const details = el("details", {}, el("summary", {}, f.section));
      sections.set(f.section, details);
      form.append(details);
    }
    sections.get(f.section).append(fieldNode(f));
  }
  const first = form.querySelector("details");
  if (first) first.open = true;
  countChanged();
}

function fieldNode(f) {
  const box = el("div", {class: "field", "data-path": f.path});
  box.append(el("div", {class: "name", title: f.path}, f.label));
  const controls = el("div", {class: "controls"});
  let input;
  if (f.kind === "boolean") {
    input = el("input", {type: "checkbox", "data-path": f.path});
    input.checked = !!f.value;
    controls.append(input);
  } else if (f.kind === "choice") {
    input = el("select", {"data-path": f.path});
    for (const c of f.choices) input.append(el("option", {value: c}, c));
    input.value = f.value;
    controls.append(input);
  } else {
    const [lo, hi] = f.slider;
    const slider = el("input", {type: "range", min: lo, max: hi, step: f.step, "aria-label": f.path});
    input = el("input", {type: "number", "data-path": f.path, step: "any",
                         min: f.min ?? undefined, max: f.max ?? undefined,
                         placeholder: f.nullable ? "none" : ""});
    input.value = f.value ?? "";
    slider.value = f.value ?? lo;
    slider.addEventListener("input", () => { input.value = slider.value; countChanged(); });
    input.addEventListener("input", () => { if (input.value !== "") slider.value = input.value; });
    controls.append(slider, input);
  }
  input.addEventListener("input", countChanged);
  input.addEventListener("change", countChanged);
  box.append(controls);
  const bounds = f.kind === "number" || f.kind === "integer"
    ? ` Allowed: ${f.min ?? "−∞"} to ${f.max ?? "∞"}${f.nullable ? ", or empty for none" : ""}.` : "";
  box.append(el("div", {class: "doc"}, (f.description || "") + bounds));
  return box;
}

function currentValue(f) {
  const input = document.querySelector(`#form [data-path="${CSS.escape(f.path)}"]:not(.field)`);
  if (f.kind === "boolean") return input.checked;
  if (f.kind === "choice") return input.value;
  if (input.value === "") return null;
  return Number(input.value);
}

function overrides() {
  const out = [];
  for (const f of state.fields) {
    const v = currentValue(f);
    const same = f.kind === "number" || f.kind === "integer"
      ? (v === null ? f.value === null : f.value !== null && Math.abs(v - f.value) <= 1e-12 * Math.max(1, Math.abs(f.value)))
      : v === f.value;
    document.querySelector(`.field[data-path="${CSS.escape(f.path)}"]`).classList.toggle("changed", !same);
    if (!same) out.push(`${f.path}=${v === null ? "null" : v}`);
  }
  return out;
}

function countChanged() {
  const n = overrides().length;
  $("#changed-count").textContent = n ? `${n} key${n > 1 ? "s" : ""} changed` : "";
}

// ------------------------------------------------------------------------ runs

async function run() {
  const body = {
    ...state.source,
    overrides: overrides(),
    population: Number($("#population").value),
    days: Number($("#days").value),
    seed: Number($("#seed").value),
    replicates: Number($("#replicates").value),
  };
  const job = await api("POST", "/api/jobs", body);
  await refreshJobs();
  watch(job.id);
}

async function refreshJobs() {
  const jobs = await api("GET", "/api/jobs");
  const list = $("#jobs");
  list.innerHTML = "";
  for (const job of jobs.slice().reverse()) {
    const live = ["queued", "running", "cancelling"].includes(job.state);
    const cancel = el("button", {type: "button", class: "small cancel", onclick: guarded(async (e) => {
      e.stopPropagation();
      await api("POST", `/api/jobs/${job.id}/cancel`);
      await refreshJobs();
    })}, "cancel");
    cancel.disabled = !live;
    const bar = el("progress", {max: 1, value: job.progress});
    const label = job.state === "failed" ? `failed: ${job.error}` : job.state;
    list.append(el("li", {class: job.id === state.watched ? "watched" : "", "data-job": job.id,
                          "data-state": job.state, onclick: () => watch(job.id)},
      el("div", {}, el("div", {}, job.label), el("div", {class: `state ${job.state}`}, label)),
      bar, cancel));
  }
  return jobs;
}

async function watch(jobId) {
  if (state.stream) state.stream.close();
  state.watched = jobId;
  await plotlyLoaded;
  if (state.watched !== jobId) return;  // another run was picked meanwhile
  state.names = [];
  state.series = [];
  state.pending = [];
  state.stats = {extends: 0, points: 0};
  for (let c = 0; c < 4; c++) Plotly.purge(`chart-${c}`);
  for (const li of document.querySelectorAll("#jobs li")) li.classList.toggle("watched", li.dataset.job === jobId);
  $("#watch-title").textContent = "Waiting for the first day…";
  const stream = new EventSource(`/api/jobs/${jobId}/events`);
  state.stream = stream;
  stream.addEventListener("names", (e) => onNames(JSON.parse(e.data)));
  stream.addEventListener("days", (e) => onDays(JSON.parse(e.data)));
  stream.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
  stream.addEventListener("end", (e) => {
    stream.close();
    onStatus(JSON.parse(e.data));
    refreshJobs();
    refreshRuns();
    health();
  });
  stream.onerror = () => { if (stream.readyState === EventSource.CLOSED) showError("lost the live stream"); };
}

function pick(names, families) {
  const hits = [];
  names.forEach((n, i) => {
    const parts = n.split(".");
    if (families.some((f) => parts[0] === f || parts[1] === f)) hits.push(i);
  });
  return hits;
}

function chartMetrics() {
  const chosen = CHARTS.map((c) => pick(state.names, c.families));
  const any = $("#metric-select").value;
  chosen.push([Math.max(0, state.names.indexOf(any))]);
  return chosen;
}

function onNames(msg) {
  if (msg.replicate === 0 || state.names.length === 0) {
    state.names = msg.names;
    const select = $("#metric-select");
    const previous = select.value;
    select.innerHTML = "";
    for (const n of msg.names) select.append(el("option", {value: n}, n));
    select.value = msg.names.includes(previous) ? previous : (msg.names.find((n) => n.includes("score_gini")) || msg.names[0]);
    state.series = [];
    drawCharts();
  }
  if (!state.series[msg.replicate]) {
    state.series[msg.replicate] = {x: [], y: state.names.map(() => [])};
    if (msg.replicate > 0) addReplicateTraces(msg.replicate);
  }
}

function traceName(metric, replicate) {
  return replicate > 0 ? `${metric} (seed +${replicate})` : metric;
}

function drawCharts() {
  state.pending = [];  // drawn from the series, which hold every day received
  const all = chartMetrics();
  all.forEach((metrics, c) => {
    const spec = CHARTS[c] || {title: state.names[metrics[0]] || "metric", y: "value"};
    const traces = [];
    state.series.forEach((s, r) => {
      for (const m of metrics) traces.push({x: s.x.slice(), y: s.y[m].slice(), name: traceName(state.names[m], r), mode: "lines"});
    });
    if (!traces.length) for (const m of metrics) traces.push({x: [], y: [], name: state.names[m], mode: "lines"});
    Plotly.react(`chart-${c}`, traces, {
      title: {text: spec.title, x: 0.01, font: {size: 14}},
      margin: {l: 60, r: 10, t: 40, b: 40},
      xaxis: {title: {text: "day"}},
      yaxis: {title: {text: spec.y}, rangemode: spec.free ? "normal" : "tozero"},
      legend: {orientation: "h", y: -0.25},
      template: "plotly_white",
    }, PLOT);
  });
}

function addReplicateTraces(replicate) {
  chartMetrics().forEach((metrics, c) => {
    Plotly.addTraces(`chart-${c}`, metrics.map((m) => ({x: [], y: [], name: traceName(state.names[m], replicate), mode: "lines"})));
  });
}

function onDays(msg) {
  const s = state.series[msg.replicate];
  if (!s) return;
  const xs = msg.rows.map((_, i) => msg.first + i + 1);
  s.x.push(...xs);
  msg.rows.forEach((row) => row.forEach((v, m) => s.y[m].push(v)));
  state.pending.push({replicate: msg.replicate, xs, rows: msg.rows});
  // extendTraces re-renders a chart: at most one per chart every FLUSH_MS, however
  // fast the days come, so the page keeps up with a run of tiny days.
  if (!state.timer) state.timer = setTimeout(flushDays, FLUSH_MS);
  $("#watch-title").textContent = `Day ${msg.first + msg.rows.length}`;
}

function flushDays() {
  state.timer = null;
  // One update per replicate (extendTraces takes each trace once).
  const pending = [];
  for (const p of state.pending) {
    const same = pending.find((q) => q.replicate === p.replicate);
    if (same) {
      same.xs = same.xs.concat(p.xs);
      same.rows = same.rows.concat(p.rows);
    } else pending.push({...p});
  }
  state.pending = [];
  if (!pending.length) return;
  // Append to the traces only: the charts are never redrawn from the start.
  chartMetrics().forEach((metrics, c) => {
    const update = {x: [], y: []}, indices = [];
    for (const {replicate, xs, rows} of pending) {
      metrics.forEach((m, k) => {
        update.x.push(xs);
        update.y.push(rows.map((row) => row[m]));
        indices.push(replicate * metrics.length + k);
      });
    }
    if (indices.length) Plotly.extendTraces(`chart-${c}`, update, indices);
  });
  state.stats.extends += 1;
  state.stats.points += pending.reduce((n, p) => n + p.xs.length, 0);
}

function onStatus(job) {
  const what = `${job.label}: ${job.state}`;
  const days = `day ${fmt(job.days_done)} of ${fmt(job.days * job.replicates)}`;
  $("#watch-title").textContent = job.state === "failed" ? `${what}: ${job.error}` : `${what}, ${days}`;
  const li = document.querySelector(`#jobs li[data-job="${job.id}"]`);
  if (li) {
    li.dataset.state = job.state;
    li.querySelector("progress").value = job.progress;
    li.querySelector(".state").textContent = job.state === "failed" ? `failed: ${job.error}` : job.state;
    li.querySelector(".cancel").disabled = !["queued", "running", "cancelling"].includes(job.state);
  }
  if (job.state === "failed") showError(job.error);
}

// ----------------------------------------------------------------- stored runs

async function refreshRuns() {
  const runs = await api("GET", "/api/runs");
  const body = $("#runs-table tbody");
  body.innerHTML = "";
  const explainRun = $("#explain-run");
  const keep = explainRun.value;
  explainRun.innerHTML = "";
  runs.forEach((r, i) => {
    const links = el("span", {},
      el("a", {href: `/api/runs/${r.id}/report.html`, download: `${r.id}.html`, class: "report-link"}, "report"), " · ",
      el("a", {href: `/api/runs/${r.id}/figures.zip`, download: ""}, "PNG"), " · ",
      el("a", {href: `/api/runs/${r.id}/parquet.zip`, download: ""}, "Parquet"));
    const explain = el("button", {type: "button", class: "small", onclick: () => {
      explainRun.value = r.id;
      showTab("explain");
      suggest();
    }}, "explain");
    body.append(el("tr", {"data-run": r.id},
      el("td", {}, el("input", {type: "radio", name: "run-a", value: r.id, ...(i === 1 ? {checked: ""} : {})})),
      el("td", {}, el("input", {type: "radio", name: "run-b", value: r.id, ...(i === 0 ? {checked: ""} : {})})),
      el("td", {}, r.id), el("td", {}, r.regime), el("td", {class: "num"}, fmt(r.population)),
      el("td", {class: "num"}, fmt(r.days)), el("td", {class: "num"}, r.seed), el("td", {}, links), el("td", {}, explain)));
    explainRun.append(el("option", {value: r.id}, `${r.id} (${r.regime})`));
  });
  if (runs.some((r) => r.id === keep)) explainRun.value = keep;
}

async function compareRuns() {
  const a = document.querySelector("input[name=run-a]:checked");
  const b = document.querySelector("input[name=run-b]:checked");
  if (!a || !b) throw new Error("choose a run A and a run B first");
  const view = $("#compare-view");
  view.innerHTML = "<p class='muted'>comparing…</p>";
  const [result] = await Promise.all([api("POST", "/api/compare", {a: a.value, b: b.value}), plotlyLoaded]);
  view.innerHTML = "";
  view.append(el("h2", {}, `A: ${result.a.run_id} (${result.a.regime})  vs  B: ${result.b.run_id} (${result.b.regime})`));
  view.append(el("p", {class: "muted"}, `paired on ${fmt(result.a.population)} people, ${fmt(result.a.days)} days, seed ${result.a.seed}; ${result.pairs} replicate pair(s)`));
  view.append(table("The regimes, key by key (what differs)", ["key", "A", "B"],
    result.regime_diff.map((d) => [d.key, JSON.stringify(d.a), JSON.stringify(d.b)]), "regime-diff"));
  if (result.sanctions.length) {
    const cols = Object.keys(result.sanctions[0]);
    view.append(table("Under each sanction on the last day, agent by agent", cols, result.sanctions.map((r) => cols.map((c) => r[c]))));
  }
  if (result.scores.length) {
    const cols = Object.keys(result.scores[0]);
    view.append(table("Scores, B minus A", cols, result.scores.map((r) => cols.map((c) => r[c]))));
  }
  const changed = Object.entries(result.metrics).filter(([, m]) => m.diff !== 0);
  view.append(table("Metrics that differ, B minus A", ["metric", "A", "B", "B − A", "95% interval"],
    changed.map(([name, m]) => [name, m.a, m.b, m.diff, m.ci ? `${fmt(m.ci[0])} to ${fmt(m.ci[1])}` : ""])));
  for (const note of result.notes) view.append(el("p", {class: "muted"}, `note: ${note}`));
  let k = 0;
  for (const section of result.sections) {
    view.append(el("h2", {}, section.title));
    for (const p of section.paragraphs) view.append(el("p", {}, p));
    for (const t of section.tables) view.append(table(t.title, t.columns, t.rows));
    for (const chart of section.charts) {
      const div = el("div", {class: "chart", id: `compare-chart-${k++}`});
      view.append(div, el("p", {class: "muted"}, chart.reading));
      Plotly.newPlot(div, chart.figure.data, chart.figure.layout, PLOT);
    }
  }
}

function table(title, columns, rows, id) {
  const t = el("table", id ? {id} : {}, el("caption", {}, title));
  t.append(el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", {}, c)))));
  const body = el("tbody");
  for (const row of rows) {
    body.append(el("tr", {}, ...row.map((v) => el("td", {class: typeof v === "number" ? "num" : ""},
      typeof v === "number" ? fmt(Math.round(v * 1e4) / 1e4) : (v ?? "n/a")))));
  }
  t.append(body);
  return t;
}

// ----------------------------------------------------------------- experiments

async function refreshExperiments() {
  const list = await api("GET", "/api/experiments");
  const body = $("#experiments-table tbody");
  body.innerHTML = "";
  for (const e of list) {
    const show = el("button", {type: "button", class: "small", onclick: guarded(() => showExperiment(e.id))}, "charts");
    body.append(el("tr", {"data-experiment": e.id},
      el("td", {}, e.id), el("td", {}, e.regime), el("td", {}, e.design), el("td", {class: "num"}, fmt(e.runs)),
      el("td", {class: "num"}, fmt(e.done)), el("td", {class: "num"}, fmt(e.failed)), el("td", {}, show)));
  }
}

async function showExperiment(id) {
  const view = $("#experiment-view");
  view.innerHTML = "<p class='muted'>loading…</p>";
  const [result] = await Promise.all([api("GET", `/api/experiments/${encodeURIComponent(id)}`), plotlyLoaded]);
  view.innerHTML = "";
  const spec = result.spec;
  view.append(el("h2", {}, `${result.id} (${spec.regime})`));
  view.append(el("p", {class: "muted"}, `${spec.design.kind} design: ${fmt(result.design.length)} points x ${spec.replicates} replicates, ${fmt(spec.population)} people, ${fmt(spec.days)} days; ${fmt(result.runs)} runs stored, ${fmt(result.failed)} failed`));
  const shown = result.design.slice(0, 200);  // a Sobol design can have thousands
  const caption = shown.length < result.design.length ? `The design's first ${shown.length} points` : "The design's points";
  view.append(table(caption, ["point", ...result.columns], shown.map((row, i) => [i, ...row])));
  let k = 0;
  for (const chart of result.charts) {
    const div = el("div", {class: "chart", id: `experiment-chart-${k++}`});
    view.append(div, el("p", {class: "muted"}, chart.reading));
    Plotly.newPlot(div, chart.figure.data, chart.figure.layout, PLOT);
  }
}

// --------------------------------------------------------------------- explain

async function suggest() {
  const runId = $("#explain-run").value;
  const box = $("#explain-suggestions");
  box.innerHTML = "";
  if (!runId) return;
  const kinds = await api("GET", `/api/runs/${runId}/agents`);
  const titles = {wrongly_sanctioned: "wrongly sanctioned", sanctioned: "sanctioned", falsely_recorded: "falsely recorded"};
  for (const [kind, ids] of Object.entries(kinds)) {
    if (!ids.length) continue;
    box.append(el("span", {class: "muted"}, `${titles[kind] || kind}: `));
    for (const id of ids) {
      box.append(el("button", {type: "button", class: "small", "data-agent": id, onclick: guarded(async () => {
        $("#explain-agent").value = id;
        await explain();
      })}, id));
    }
  }
}

async function explain() {
  const runId = $("#explain-run").value;
  if (!runId) throw new Error("no stored run yet: run something first");
  const agent = $("#explain-agent").value;
  const out = await api("GET", `/api/runs/${runId}/explain?agent=${encodeURIComponent(agent)}`);
  $("#explain-text").textContent = out.text;
}

// ------------------------------------------------------------------------ page

function showTab(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === name);
  for (const p of document.querySelectorAll(".tab-panel")) p.hidden = p.id !== `tab-${name}`;
  if (name === "experiments") guarded(refreshExperiments)();
  if (name === "live" && window.Plotly) for (let c = 0; c < 4; c++) Plotly.Plots.resize(`chart-${c}`);
}

async function health() {
  try {
    const h = await api("GET", "/api/health");
    $("#health").textContent = `${h.running} running, ${h.queued} queued (at most ${h.slots} at once)`;
  } catch (e) {
    $("#health").textContent = "server not answering";
  }
}

function init() {
  $("#regime-select").addEventListener("change", guarded(pickBuiltin));
  $("#upload").addEventListener("change", guarded(upload));
  $("#run-button").addEventListener("click", guarded(run));
  $("#reset-button").addEventListener("click", () => buildForm());
  $("#compare-button").addEventListener("click", guarded(compareRuns));
  $("#explain-button").addEventListener("click", guarded(explain));
  $("#explain-run").addEventListener("change", guarded(suggest));
  $("#metric-select").addEventListener("change", () => drawCharts());
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  guarded(async () => {
    await Promise.all([loadRegimes(), refreshRuns(), refreshJobs(), health()]);
    document.body.dataset.ready = "true";
  })();
  setInterval(health, 2000);
  setInterval(() => refreshJobs().catch(() => {}), 1500);
}

document.addEventListener("DOMContentLoaded", init);
