// finetuner dashboard: a small single-page app over the same /v1 API and API keys as every client.
// No framework and no network beyond this service: views are built with DOM calls (never innerHTML
// with data), the loss chart is plain SVG, and live updates come from /v1/jobs/{id}/stream read with
// fetch() (EventSource cannot send the Authorization header).
"use strict";

const KEY_SLOT = "finetuner.apiKey"; // sessionStorage: the key lives as long as the browser tab
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const STATUSES = ["pending", "uploading", "submitting", "validating_files", "queued", "running", "paused",
  "cancelling", "succeeded", "failed", "cancelled"];
const CHART_POINTS = 500;
let leaveView = () => {}; // stops the current view's timers and streams

// --- small helpers -------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  return node;
}

const when = (text) => (text ? text.replace("T", " ").replace("Z", " UTC") : "–");
const statusBadge = (status) => h("span", { class: `status ${status}`, "data-status": status }, status);
const money = (value) => (value === null || value === undefined ? "–" : `$${Number(value).toFixed(4)}`);

function show(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

function apiKey() { return sessionStorage.getItem(KEY_SLOT); }

async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) if (value !== undefined) url.searchParams.set(name, value);
  const response = await fetch(url, { headers: { Authorization: `Bearer ${apiKey()}` } });
  const body = await response.json().catch(() => null);
  if (response.status === 401) { signOut("That key was refused; sign in again."); throw new ApiError(401, body); }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

async function all(path, limit) {
  const items = [];
  let after;
  for (;;) {
    const page = await api(path, { limit, after });
    items.push(...page.data);
    if (!page.has_more || !page.data.length) return items;
    after = page.data[page.data.length - 1].id;
  }
}

// Reads /v1/jobs/{id}/stream; calls onMessage(event, data) and reconnects with Last-Event-ID until "end".
function follow(jobId, onMessage) {
  const controller = new AbortController();
  let lastId = null;
  let stopped = false;
  (async () => {
    while (!stopped) {
      try {
        const headers = { Authorization: `Bearer ${apiKey()}`, Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/stream`,
          { headers, signal: controller.signal });
        if (!response.ok) throw new ApiError(response.status, null);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const message = { event: "message", data: [] };
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) continue;
              const at = line.indexOf(":");
              const field = at < 0 ? line : line.slice(0, at);
              const text = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
              if (field === "event") message.event = text;
              else if (field === "data") message.data.push(text);
              else if (field === "id") lastId = text;
            }
            if (!message.data.length) continue;
            onMessage(message.event, JSON.parse(message.data.join("\n")));
            if (message.event === "end") { stopped = true; return; }
          }
        }
      } catch (error) {
        if (stopped || error.name === "AbortError") return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  })();
  return () => { stopped = true; controller.abort(); };
}

// --- sign in -------------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(KEY_SLOT);
  location.hash = "#/login";
  if (message) setTimeout(() => renderLogin(message), 0);
}

function renderLogin(message) {
  document.getElementById("sign-out").hidden = true;
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true,
    placeholder: "ftk_…", "aria-describedby": "key-help" });
  const form = h("form", { onsubmit: async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_SLOT, input.value.trim());
    try { await api("/v1/jobs", { limit: 1 }); location.hash = "#/jobs"; route(); }
    catch (error) { if (error.status !== 401) renderLogin(error.message); }
  } },
  h("label", { for: "api-key" }, "API key", input),
  h("p", { id: "key-help", class: "muted" },
    "Kept in this browser tab only (session storage). `make run` prints one and keeps it in var/dev-api-key."),
  h("button", { type: "submit" }, "Sign in"));
  show(h("section", { class: "card login" }, h("h1", {}, "Sign in"),
    message ? h("p", { class: "error", role: "alert" }, message) : null, form));
  input.focus();
}

// --- jobs ----------------------------------------------------------------------------------------

async function renderJobs() {
  const status = h("select", { id: "status-filter" }, h("option", { value: "" }, "any status"),
    STATUSES.map((s) => h("option", { value: s }, s)));
  const search = h("input", { id: "search", type: "search", placeholder: "id, model, suffix…" });
  const body = h("tbody", { id: "jobs-body" });
  const table = h("table", { id: "jobs" }, h("thead", {}, h("tr", {}, ["Job", "Status", "Model", "Suffix",
    "Fine-tuned model", "Cost", "Created"].map((t) => h("th", { scope: "col" }, t)))), body);
  const count = h("p", { class: "muted", "aria-live": "polite", id: "jobs-count" });
  show(h("h1", {}, "Jobs"), h("div", { class: "filters" }, h("label", {}, "Status", status),
    h("label", {}, "Search", search)), h("section", { class: "card" }, count, table));
  let jobs = [];
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = jobs.filter((job) => !needle || [job.id, job.model, job.suffix, job.fine_tuned_model]
      .some((text) => text && text.toLowerCase().includes(needle)));
    body.replaceChildren(...shown.map((job) => h("tr", { "data-job-id": job.id },
      h("td", {}, h("a", { href: `#/jobs/${job.id}`, class: "mono" }, job.id)), h("td", {}, statusBadge(job.status)),
      h("td", {}, job.model), h("td", {}, job.suffix || ""), h("td", { class: "mono" }, job.fine_tuned_model || ""),
      h("td", { class: "num" }, money(job.estimated_cost_usd)), h("td", {}, when(job.created_at)))));
    count.textContent = `${shown.length} of ${jobs.length} job(s)`;
  };
  const load = async () => {
    const page = await api("/v1/jobs", { limit: 100, status: status.value || undefined });
    jobs = page.data;
    draw();
  };
  status.addEventListener("change", load);
  search.addEventListener("input", draw);
  await load();
  const timer = setInterval(() => load().catch(() => {}), 5000);
  leaveView = () => clearInterval(timer);
}

function facts(rows) {
  return h("dl", { class: "facts" }, rows.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
}

function lossChart(series) {
  // series: {train_loss: {steps, values}, valid_loss: {...}}; drawn as one SVG polyline each.
  const width = 720, height = 300, left = 52, right = 12, top = 12, bottom = 32;
  const names = ["train_loss", "valid_loss"].filter((name) => series[name] && series[name].steps.length);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", id: "loss-chart",
    "aria-label": "Loss over steps: " + (names.join(" and ") || "no points yet") });
  const figure = h("figure", { class: "chart", style: "margin:0" }, root,
    h("figcaption", { class: "legend" }, h("span", { class: "train" }, "train loss"),
      h("span", { class: "valid" }, "validation loss")));
  if (!names.length) { root.append(svgText(left, height / 2, "no metrics yet")); return figure; }
  const steps = names.flatMap((n) => series[n].steps), values = names.flatMap((n) => series[n].values);
  const x0 = Math.min(...steps), x1 = Math.max(...steps, x0 + 1);
  const y0 = Math.min(...values), y1 = Math.max(...values, y0 + 1e-9);
  const x = (step) => left + (step - x0) / (x1 - x0) * (width - left - right);
  const y = (value) => top + (y1 - value) / (y1 - y0) * (height - top - bottom);
  for (let i = 0; i <= 4; i++) {
    const value = y0 + (y1 - y0) * i / 4;
    root.append(svg("line", { class: "gridline", x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    root.append(svgText(4, y(value) + 4, value.toFixed(3)));
  }
  root.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }));
  root.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom }));
  root.append(svgText(left, height - 10, `step ${x0}`), svgText(width - right - 70, height - 10, `step ${x1}`));
  for (const name of names) {
    const { steps: s, values: v } = series[name];
    root.append(svg("polyline", { class: name, "data-series": name,
      points: s.map((step, i) => `${x(step).toFixed(2)},${y(v[i]).toFixed(2)}`).join(" ") }));
  }
  return figure;
}

function svgText(x, y, text) {
  const node = svg("text", { x, y });
  node.textContent = text;
  return node;
}

// One evaluation: per model (target key) the metric it is ranked by, its parse rate and its counts,
// so "did fine-tuning beat the base model and the baseline" reads off one table.
function evaluationCard(evaluation) {
  const metric = evaluation.spec.rank_by;
  const pct = (value) => (value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)} %`);
  const rows = Object.entries(evaluation.results || {}).map(([key, result]) => {
    const value = result.metrics[metric];
    return h("tr", { "data-target": key }, h("td", { class: "mono" }, key),
      h("td", { class: "num", "data-metric": metric, "data-value": value ?? "" },
        value === null || value === undefined ? "–" : Number(value).toFixed(4)),
      h("td", { class: "num", "data-parse-rate": result.parse_rate ?? "" }, pct(result.parse_rate)),
      h("td", { class: "num" }, `${result.answered}/${result.total}`));
  });
  const best = evaluation.best && evaluation.best.key ? ` · best: ${evaluation.best.key}` : "";
  return h("div", { class: "evaluation", "data-evaluation-id": evaluation.id },
    h("p", {}, h("span", { class: "mono" }, evaluation.id), ` · ${evaluation.task} · `, statusBadge(evaluation.status),
      ` · ${evaluation.progress.completed}/${evaluation.progress.total} answered · ${money(evaluation.actual_cost_usd)}${best}`),
    rows.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Model"), h("th", {}, metric),
      h("th", {}, "Parsed"), h("th", {}, "Answered"))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "no results yet"));
}

async function renderJob(jobId) {
  const [job, transitions, sampled, checkpoints, evaluations] = await Promise.all([
    api(`/v1/jobs/${encodeURIComponent(jobId)}`), all(`/v1/jobs/${encodeURIComponent(jobId)}/transitions`, 1000),
    api(`/v1/jobs/${encodeURIComponent(jobId)}/metrics`, { max_points: CHART_POINTS }),
    all(`/v1/jobs/${encodeURIComponent(jobId)}/checkpoints`, 100),
    all(`/v1/jobs/${encodeURIComponent(jobId)}/evaluations`, 100)]);
  const series = {};
  for (const [name, s] of Object.entries(sampled.series)) series[name] = { steps: [...s.steps], values: [...s.values] };
  const head = h("div", { id: "job-head" });
  const about = h("div", { id: "job-facts" });
  const timeline = h("ol", { class: "timeline", id: "timeline" });
  const events = h("ul", { id: "events", "aria-live": "polite", "aria-label": "Events" });
  const chartSlot = h("div", { id: "chart" });
  const checkpointBody = h("tbody", {}, checkpoints.map((c) => h("tr", {}, h("td", { class: "num" }, c.step),
    h("td", { class: "mono" }, c.fine_tuned_model_checkpoint),
    h("td", { class: "num" }, c.metrics.train_loss !== undefined ? Number(c.metrics.train_loss).toFixed(4) : "–"))));
  const drawJob = (current) => {
    head.replaceChildren(h("h1", {}, "Job ", h("span", { class: "mono" }, current.id), " ", statusBadge(current.status)));
    about.replaceChildren(facts([
      ["model", current.model], ["fine-tuned model", current.fine_tuned_model],
      ["how to call it", current.serving ? `${current.serving.mode}: ${current.serving.how}` : null],
      ["provider", current.provider], ["provider job", current.provider_job_id],
      ["training data", h("a", { href: `#/datasets/${current.training_dataset_id}` }, current.training_dataset_id)],
      ["validation data", current.validation_dataset_id ? h("a", { href: `#/datasets/${current.validation_dataset_id}` },
        current.validation_dataset_id) : null],
      ["hyperparameters", h("code", {}, JSON.stringify(current.hyperparameters))],
      ["resolved", current.resolved_hyperparameters ? h("code", {}, JSON.stringify(current.resolved_hyperparameters)) : null],
      ["estimated cost", money(current.estimated_cost_usd)], ["trained tokens", current.trained_tokens],
      ["W&B", current.wandb ? h("code", {}, JSON.stringify(current.wandb)) : null],
      ["error", current.error ? `${current.error.code || ""} ${current.error.message}` : null],
      ["created", when(current.created_at)], ["finished", current.finished_at ? when(current.finished_at) : null]]));
  };
  const addTransition = (t) => timeline.append(h("li", { "data-to": t.to_status },
    h("strong", {}, t.to_status), " ", h("span", { class: "muted" }, `${when(t.at)} · ${t.actor}: ${t.reason}`)));
  const addEvent = (e) => events.append(h("li", { "data-event-id": e.id, class: e.level },
    h("span", { class: "muted mono" }, when(e.created_at).slice(11, 19)), " ", e.message));
  let redraw = null;
  const drawChart = () => { redraw = null; chartSlot.replaceChildren(lossChart(series)); };
  drawJob(job);
  transitions.forEach(addTransition);
  drawChart();
  show(head, h("div", { class: "grid" },
    h("section", { class: "card", "aria-labelledby": "h-chart" }, h("h2", { id: "h-chart" }, "Loss"), chartSlot),
    h("section", { class: "card", "aria-labelledby": "h-facts" }, h("h2", { id: "h-facts" }, "Details"), about)),
  h("div", { class: "grid" },
    h("section", { class: "card", "aria-labelledby": "h-timeline" }, h("h2", { id: "h-timeline" }, "Timeline"), timeline),
    h("section", { class: "card", "aria-labelledby": "h-events" }, h("h2", { id: "h-events" }, "Events"), events)),
  h("section", { class: "card", "aria-labelledby": "h-ckpt" }, h("h2", { id: "h-ckpt" }, "Checkpoints"),
    checkpoints.length ? h("table", { id: "checkpoints" }, h("thead", {}, h("tr", {}, h("th", {}, "Step"),
      h("th", {}, "Model"), h("th", {}, "Train loss"))), checkpointBody) : h("p", { class: "muted" }, "none yet")),
  h("section", { class: "card", "aria-labelledby": "h-evals", id: "evaluations" },
    h("h2", { id: "h-evals" }, "Evaluations"),
    evaluations.length ? evaluations.map(evaluationCard) : h("p", { class: "muted" }, "No evaluations of this job.")));
  // The stream replays transitions, events and metrics from the start: skip what the page already drew.
  const seenTransitions = new Set(transitions.map((t) => t.id));
  const lastSampledStep = Math.max(0, ...Object.values(series).map((s) => s.steps[s.steps.length - 1] || 0));
  leaveView = follow(jobId, (event, data) => {
    if (event === "job" || event === "end") drawJob(data);
    else if (event === "transition" && !seenTransitions.has(data.id)) { seenTransitions.add(data.id); addTransition(data); }
    else if (event === "event") addEvent(data);
    else if (event === "metric" && data.step > lastSampledStep) {
      for (const name of ["train_loss", "valid_loss"]) {
        if (data[name] === null || data[name] === undefined) continue;
        series[name] = series[name] || { steps: [], values: [] };
        series[name].steps.push(data.step);
        series[name].values.push(data[name]);
      }
      if (!redraw) redraw = setTimeout(drawChart, 250); // a burst of points redraws once
    }
  });
}

// --- datasets ------------------------------------------------------------------------------------

async function renderDatasets() {
  const page = await api("/v1/datasets", { limit: 100 });
  show(h("h1", {}, "Datasets"), h("section", { class: "card" }, h("table", { id: "datasets" },
    h("thead", {}, h("tr", {}, ["Dataset", "Name", "Status", "Format", "Examples", "Created"]
      .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, page.data.map((d) => h("tr", { "data-dataset-id": d.id },
      h("td", {}, h("a", { href: `#/datasets/${d.id}`, class: "mono" }, d.id)), h("td", {}, d.name),
      h("td", {}, statusBadge(d.status)), h("td", {}, d.format), h("td", { class: "num" }, d.num_examples),
      h("td", {}, when(d.created_at))))))));
}

async function renderDataset(datasetId) {
  const d = await api(`/v1/datasets/${encodeURIComponent(datasetId)}`);
  const report = d.report || {};
  const errors = report.errors || [];
  const warnings = report.warnings || [];
  show(h("h1", {}, "Dataset ", h("span", { class: "mono" }, d.id), " ", statusBadge(d.status)),
    h("div", { class: "grid" }, h("section", { class: "card" }, h("h2", {}, "Summary"), facts([
      ["name", d.name], ["format", d.format], ["examples", d.num_examples], ["bytes", d.bytes],
      ["encoding", report.encoding], ["billed tokens", report.billed_tokens], ["epochs", report.n_epochs],
      ["estimated cost", report.estimated_cost_usd !== undefined ? money(report.estimated_cost_usd) : null],
      ["sha256", h("code", {}, d.sha256)], ["created", when(d.created_at)]])),
    h("section", { class: "card" }, h("h2", {}, "Warnings"), warnings.length
      ? h("ul", {}, warnings.map((w) => h("li", {}, w.message))) : h("p", { class: "muted" }, "none"))),
    h("section", { class: "card", "aria-labelledby": "h-errors" }, h("h2", { id: "h-errors" }, `Errors (${errors.length})`),
      errors.length ? h("table", { id: "dataset-errors" }, h("thead", {}, h("tr", {}, h("th", {}, "Line"),
        h("th", {}, "Kind"), h("th", {}, "Message"))), h("tbody", {}, errors.map((e) => h("tr", { "data-line": e.line ?? "" },
        h("td", { class: "num" }, e.line ?? "–"), h("td", {}, h("code", {}, e.code)), h("td", {}, e.message)))))
        : h("p", { class: "muted" }, "No errors: this dataset can be used for a job.")));
}

// --- routing -------------------------------------------------------------------------------------

async function route() {
  leaveView();
  leaveView = () => {};
  if (!apiKey()) return renderLogin();
  document.getElementById("sign-out").hidden = false;
  const [, section, id] = (location.hash || "#/jobs").slice(1).split("/");
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  try {
    if (section === "jobs" && id) await renderJob(decodeURIComponent(id));
    else if (section === "datasets" && id) await renderDataset(decodeURIComponent(id));
    else if (section === "datasets") await renderDatasets();
    else if (section === "login") renderLogin();
    else await renderJobs();
    document.getElementById("main").focus({ preventScroll: true });
  } catch (error) {
    if (error.status !== 401) show(h("p", { class: "error", role: "alert" }, error.message));
  }
}

document.getElementById("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);
route();
