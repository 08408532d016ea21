// The Locust web UI: polls the JSON API, fills the tables, draws the charts, and drives the
// test through /swarm, /stop and /stats/reset. Plain JavaScript, no dependencies.
"use strict";

const $ = (selector) => document.querySelector(selector);
const body = document.body;
const stepLoad = body.dataset.stepLoad === "true";
const isMaster = body.dataset.master === "true";
// A load shape in the locustfile decides the users: the form asks only for the host.
const shape = body.dataset.shape || "";
const POLL_MS = 2000;
const MAX_POINTS = 300;

const history = { time: [], rps: [], fails: [], median: [], p95: [], users: [] };
let lastState = null;

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

function cell(row, value, numeric) {
  const td = document.createElement("td");
  td.textContent = text(value);
  if (numeric) td.className = "number";
  row.appendChild(td);
  return td;
}

function round(value, digits) {
  const factor = 10 ** digits;
  return Math.round((Number(value) || 0) * factor) / factor;
}

function fillTable(tbody, rows, build) {
  const fragment = document.createDocumentFragment();
  for (const item of rows) {
    const tr = document.createElement("tr");
    build(tr, item);
    fragment.appendChild(tr);
  }
  tbody.replaceChildren(fragment);
}

function renderStats(report) {
  $("#state").textContent = report.state;
  $("#users").textContent = report.user_count;
  $("#rps").textContent = round(report.total_rps, 1);
  $("#fail-ratio").textContent = `${Math.round((report.fail_ratio || 0) * 100)}%`;
  fillTable($("#stats-rows"), report.stats, (tr, s) => {
    if (s.name === "Aggregated") tr.className = "total";
    cell(tr, s.method);
    cell(tr, s.name);
    cell(tr, s.num_requests, true);
    cell(tr, s.num_failures, true);
    cell(tr, Math.round(s.median_response_time), true);
    cell(tr, Math.round(s.ninetieth_response_time), true);
    cell(tr, Math.round(s.avg_response_time), true);
    cell(tr, Math.round(s.min_response_time), true);
    cell(tr, Math.round(s.max_response_time), true);
    cell(tr, Math.round(s.avg_content_length), true);
    cell(tr, round(s.current_rps, 1), true);
    cell(tr, round(s.current_fail_per_sec, 1), true);
  });
  fillTable($("#failure-rows"), report.errors, (tr, e) => {
    cell(tr, e.occurrences, true);
    cell(tr, e.method);
    cell(tr, e.name);
    cell(tr, e.error);
  });
  if (isMaster) {
    fillTable($("#worker-rows"), report.workers || [], (tr, w) => {
      cell(tr, w.id);
      cell(tr, w.state);
      cell(tr, w.user_count, true);
      cell(tr, `${round(w.cpu_usage, 1)}%`, true);
    });
  }
  const running = report.state === "hatching" || report.state === "running";
  $("#stop").hidden = !running;
  $("#edit").hidden = !running || shape !== "";
  if (running) {
    const total = report.stats.find((s) => s.name === "Aggregated") || {};
    record(new Date(), report.total_rps, total.current_fail_per_sec,
      report.current_response_time_percentile_50, report.current_response_time_percentile_95,
      report.user_count);
  }
  if (report.state !== lastState && (report.state === "stopped" || report.state === "ready")) {
    openStart(false);
  }
  lastState = report.state;
}

function renderExceptions(report) {
  fillTable($("#exception-rows"), report.exceptions, (tr, e) => {
    cell(tr, e.count, true);
    cell(tr, e.msg);
    cell(tr, e.traceback).className = "traceback";
    cell(tr, (e.nodes || []).join(", "));
  });
}

function tagText(tags) {
  return Object.entries(tags || {}).map(([name, value]) => `${name}:${value}`).join(", ");
}

function metricValues(m) {
  const unit = m.is_time ? " ms" : "";
  const n = (value) => `${round(value, 2)}${unit}`;
  switch (m.type) {
    case "counter": return `count=${round(m.sum, 3)} rate=${round(m.rate, 2)}/s`;
    case "gauge": return `value=${n(m.value)} min=${n(m.min)} max=${n(m.max)}`;
    case "rate": return `rate=${round(m.rate * 100, 2)}% (${m.passes} of ${m.count})`;
    default: return `avg=${n(m.avg)} min=${n(m.min)} med=${n(m.med)} max=${n(m.max)} p(90)=${n(m["p(90)"])} p(95)=${n(m["p(95)"])}`;
  }
}

function renderMetrics(report) {
  const series = report.metrics || [];
  document.querySelector('[data-tab="metrics"]').hidden = series.length === 0;
  const checks = series.filter((m) => m.metric === "checks");
  fillTable($("#check-rows"), checks, (tr, m) => {
    const group = (m.tags && m.tags.group) || "";
    cell(tr, group ? `${group}::${m.tags.check}` : (m.tags || {}).check);
    cell(tr, m.passes, true);
    cell(tr, m.fails, true);
    cell(tr, `${round(m.rate * 100, 2)}%`, true);
  });
  fillTable($("#metric-rows"), series.filter((m) => m.metric !== "checks"), (tr, m) => {
    cell(tr, m.metric);
    cell(tr, tagText(m.tags));
    cell(tr, m.type);
    cell(tr, m.count, true);
    cell(tr, metricValues(m));
  });
}

function record(time, rps, fails, median, p95, users) {
  const series = [[history.time, time], [history.rps, rps], [history.fails, fails],
    [history.median, median], [history.p95, p95], [history.users, users]];
  for (const [list, value] of series) {
    list.push(value === null || value === undefined ? 0 : value);
    if (list.length > MAX_POINTS) list.shift();
  }
  drawCharts();
}

function drawChart(canvas, lines) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  const pad = { left: 56, right: 16, top: 14, bottom: 28 };
  ctx.clearRect(0, 0, width, height);
  const points = history.time.length;
  const max = Math.max(1, ...lines.flatMap((line) => line.values));
  const x = (i) => pad.left + (points <= 1 ? 0 : (i / (points - 1)) * (width - pad.left - pad.right));
  const y = (v) => height - pad.bottom - (v / max) * (height - pad.top - pad.bottom);
  ctx.strokeStyle = "#dde3e8";
  ctx.fillStyle = "#6b7682";
  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  for (let step = 0; step <= 4; step += 1) {
    const value = (max * step) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.left, y(value));
    ctx.lineTo(width - pad.right, y(value));
    ctx.stroke();
    ctx.fillText(String(round(value, value < 10 ? 1 : 0)), 6, y(value) + 4);
  }
  if (points > 0) {
    const first = history.time[0].toLocaleTimeString();
    const last = history.time[points - 1].toLocaleTimeString();
    ctx.fillText(first, pad.left, height - 8);
    ctx.fillText(last, width - pad.right - ctx.measureText(last).width, height - 8);
  }
  lines.forEach((line, index) => {
    ctx.strokeStyle = line.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    line.values.forEach((value, i) => (i === 0 ? ctx.moveTo(x(i), y(value)) : ctx.lineTo(x(i), y(value))));
    ctx.stroke();
    ctx.fillStyle = line.color;
    ctx.fillText(line.label, pad.left + 8 + index * 120, pad.top + 4);
  });
  canvas.dataset.points = String(points);
}

function drawCharts() {
  drawChart($("#chart-rps"), [
    { label: "RPS", color: "#2f7d4f", values: history.rps },
    { label: "Failures/s", color: "#b4372f", values: history.fails },
  ]);
  drawChart($("#chart-times"), [
    { label: "Median", color: "#2f6f9f", values: history.median },
    { label: "95th percentile", color: "#c98a1b", values: history.p95 },
  ]);
  drawChart($("#chart-users"), [{ label: "Users", color: "#6a4c93", values: history.users }]);
}

async function poll() {
  try {
    const [stats, exceptions, metrics] = await Promise.all([
      fetch("./stats/requests").then((r) => r.json()),
      fetch("./exceptions").then((r) => r.json()),
      fetch("./stats/metrics").then((r) => r.json()),
    ]);
    renderStats(stats);
    renderExceptions(exceptions);
    renderMetrics(metrics);
  } catch (error) {
    $("#state").textContent = "unreachable";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function openStart(editing) {
  const dialog = $("#start-dialog");
  $("#start-title").textContent = editing ? "Edit running load test" : "Start new load test";
  for (const label of document.querySelectorAll("label.step")) label.hidden = !stepLoad || shape !== "";
  for (const label of document.querySelectorAll("label.load")) {
    label.hidden = shape !== "";
    label.querySelector("input").required = shape === "";
  }
  $("#shape-note").hidden = shape === "";
  $("#shape-note").textContent = `The load shape ${shape} decides the number of users and the spawn rate.`;
  document.querySelector("label.host").hidden = editing;
  $("#start-error").hidden = true;
  if (!dialog.open) dialog.showModal();
}

$("#start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch("./swarm", { method: "POST", body: new URLSearchParams(form) });
  const answer = await response.json().catch(() => ({ success: false, message: response.statusText }));
  if (answer.success) {
    if (answer.host) $("#host").textContent = answer.host;
    $("#start-dialog").close();
    history.time.length = 0;
    for (const key of ["rps", "fails", "median", "p95", "users"]) history[key].length = 0;
  } else {
    $("#start-error").textContent = answer.message;
    $("#start-error").hidden = false;
  }
});

$("#stop").addEventListener("click", () => fetch("./stop"));
$("#reset").addEventListener("click", () => fetch("./stats/reset"));
$("#edit").addEventListener("click", () => openStart(true));
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) other.classList.toggle("active", other === tab);
    for (const panel of document.querySelectorAll(".panel")) panel.classList.toggle("active", panel.id === tab.dataset.tab);
    if (tab.dataset.tab === "charts") drawCharts();
  });
}
if (isMaster) document.querySelector('[data-tab="workers"]').hidden = false;
$("#host").textContent = body.dataset.host || "–";
document.querySelector('input[name="host"]').value = body.dataset.host || "";
poll(); // the first report opens the start form unless a test is already running
