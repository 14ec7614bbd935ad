// nas dashboard: a live jobs list and interactive Pareto plots, talking to the /v1 REST API.
//
// Plain browser JavaScript, no build step. Every piece of server data reaches the page through
// textContent / attributes (never innerHTML), and through escapePlotly() for plotly's hover labels,
// which understand a little HTML.
"use strict";

(() => {
  const POLL_MS = 1500;
  const JOBS_SHOWN = 100;
  const PAGE_SIZE = 1000; // the largest page GET /v1/jobs/{id}/trials serves
  const MAX_POINTS = 20000; // per job: beyond this the browser slows down and the cloud adds nothing
  const KEY_STORAGE = "nas.apiKey";
  const ALL_TRIALS = "accuracy>=-1e300"; // a constraint every trial meets: the unconstrained front
  const SPREAD = "accuracy_std"; // an ensemble predictor's uncertainty: error bars on the front
  const PALETTE = ["#4f46e5", "#e11d48", "#059669", "#d97706", "#0891b2", "#9333ea", "#65a30d", "#db2777"];
  const CLOUD_GREY = "#9aa3b2";
  const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

  const state = {
    apiKey: readStoredKey(),
    jobs: new Map(), // id -> latest JobView
    rows: new Map(), // id -> <tr> with its cell references
    selected: [], // job ids in selection order; the order picks each job's colour
    data: new Map(), // id -> loaded trials and front, see entryFor()
    xMetric: "macs",
    withinBudget: true,
    detail: null, // {jobId, trial} shown in the details panel
    downloadUrl: null,
    pollTimer: null,
    polling: false,
    waitingForKey: false,
    plotBusy: false,
    plotDirty: false,
    plotReady: false,
  };

  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers -------------------------------------------------------------------

  /** Create an element; ``props`` become properties (className, textContent, title, ...). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props);
    for (const child of children) node.append(child);
    return node;
  }

  /** Plotly renders <br>, <b> and entities in hover text, so data must be entity-escaped. */
  function escapePlotly(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // ---- formatting --------------------------------------------------------------------------

  function si(value) {
    for (const [suffix, scale] of [["G", 1e9], ["M", 1e6], ["k", 1e3]]) {
      if (Math.abs(value) >= scale) return `${(value / scale).toFixed(1)}${suffix}`;
    }
    return Number.isInteger(value) ? String(value) : value.toPrecision(3);
  }

  function formatMetric(name, value) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "–";
    if (name === "accuracy") return value <= 1 ? `${(value * 100).toFixed(2)}%` : value.toFixed(2);
    if (name === SPREAD) return `± ${(value * 100).toFixed(2)} pp`;
    if (name.startsWith("latency")) return `${value.toFixed(2)} ms`;
    return si(value);
  }

  function metricLabel(name) {
    return { macs: "MACs", params: "parameters", accuracy: "accuracy", [SPREAD]: "predictor spread" }[name] || name;
  }

  function shortId(id) {
    return String(id).slice(0, 8);
  }

  // Timestamps are stored in UTC; SQLite hands them back without a zone, so assume UTC then.
  function formatWhen(iso) {
    if (!iso) return "";
    const zoned = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`;
    const date = new Date(zoned);
    if (Number.isNaN(date.getTime())) return String(iso);
    return date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  /** OFA archs are {ks:[20], e:[20], d:[5], r}; one line like "ks 3573 5737 … · d 23423 · r 224". */
  function compactArch(arch) {
    if (!arch || typeof arch !== "object" || Array.isArray(arch)) return truncate(JSON.stringify(arch), 160);
    const parts = Object.entries(arch).map(([key, value]) => `${key} ${compactValue(value)}`);
    return truncate(parts.join(" · "), 160);
  }

  function compactValue(value) {
    if (!Array.isArray(value)) return typeof value === "object" ? JSON.stringify(value) : String(value);
    const items = value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v)));
    if (!items.every((s) => s.length === 1)) return items.join(",");
    // per-layer lists come in stages of 4 layers: grouping keeps 20 digits readable
    const groups = [];
    const size = items.length > 4 && items.length % 4 === 0 ? 4 : items.length;
    for (let i = 0; i < items.length; i += size) groups.push(items.slice(i, i + size).join(""));
    return groups.join(" ");
  }

  function truncate(text, length) {
    return text.length > length ? `${text.slice(0, length - 1)}…` : text;
  }

  /** JSON with arrays of plain values kept on one line, so an OFA arch fits the panel. */
  function prettyJson(value) {
    return JSON.stringify(value, null, 2).replace(/\[\s+([^[\]{}]*?)\s+\]/g,
      (_, inner) => `[${inner.replace(/,\s+/g, ", ")}]`);
  }

  // ---- budgets -----------------------------------------------------------------------------

  const BUDGET = /^\s*([+-]?[0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmg]?)\s*-\s*([a-z]+)\s*$/i;
  const LATENCY_BUDGET = /^\s*([0-9]*\.?[0-9]+)\s*ms\s*-\s*(latency@[\w.-]+)\s*$/i;
  const SCALES = { "": 1, k: 1e3, m: 1e6, g: 1e9 };
  const UNITS = { macs: "macs", flops: "macs", params: "params" };

  /** "600M-MACs" -> {metric: "macs", limit: 6e8}; "25ms-latency@note10" -> latency; else null. */
  function parseBudget(text) {
    const latency = LATENCY_BUDGET.exec(String(text));
    if (latency) return { metric: latency[2].toLowerCase(), limit: Number(latency[1]), text: String(text) };
    const match = BUDGET.exec(String(text));
    const metric = match && UNITS[match[3].toLowerCase()];
    if (!metric) return null;
    return { metric, limit: Number(match[1]) * SCALES[match[2].toLowerCase()], text: String(text) };
  }

  function jobBudgets(job) {
    const budgets = (job && job.request && job.request.budgets) || [];
    return budgets.map(parseBudget).filter((b) => b && Number.isFinite(b.limit));
  }

  // ---- API access and the key --------------------------------------------------------------

  class AuthError extends Error {}

  function readStoredKey() {
    try {
      return localStorage.getItem(KEY_STORAGE) || "";
    } catch {
      return ""; // storage disabled: the key lives in memory for this page only
    }
  }

  function storeKey(key) {
    state.apiKey = key;
    try {
      localStorage.setItem(KEY_STORAGE, key);
    } catch {
      /* memory only */
    }
  }

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (state.apiKey) headers["X-API-Key"] = state.apiKey;
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) throw new AuthError(await errorDetail(response));
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await errorDetail(response)}`);
    return response.json();
  }

  async function errorDetail(response) {
    try {
      const body = await response.json();
      return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch {
      return response.statusText;
    }
  }

  /** Show the key form; after a 401 ("rejected") polling pauses until a key is entered. */
  function askForKey(reason) {
    if (reason !== "change") {
      state.waitingForKey = true;
      clearTimeout(state.pollTimer);
      setConnection("API key needed", true);
    }
    const rejected = reason === "rejected" && Boolean(state.apiKey);
    const message = $("key-message");
    message.textContent = rejected ? "The API key was rejected. Enter a valid key."
      : reason === "change" ? "Enter the API key to use from now on."
        : "This server requires an API key (header X-API-Key).";
    message.classList.toggle("error", rejected);
    $("key-panel").hidden = false;
    $("forget-key").hidden = true;
    $("api-key").focus();
  }

  function onKeySubmit(event) {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    storeKey(key);
    $("api-key").value = "";
    $("key-panel").hidden = true;
    state.waitingForKey = false;
    poll();
    requestPlot();
  }

  function setConnection(text, isError = false) {
    const node = $("connection");
    node.textContent = text;
    node.classList.toggle("error", isError);
  }

  /** Route an error to the key form (401) or the connection indicator; returns true for 401. */
  function reportError(error, where) {
    if (error instanceof AuthError) {
      askForKey("rejected");
      return true;
    }
    setConnection(`${where}: ${error.message}`, true);
    return false;
  }

  // ---- jobs list ---------------------------------------------------------------------------

  function schedulePoll(delay) {
    clearTimeout(state.pollTimer);
    if (!state.waitingForKey) state.pollTimer = setTimeout(poll, delay);
  }

  async function poll() {
    if (state.polling) return;
    state.polling = true;
    try {
      const page = await api(`/v1/jobs?limit=${JOBS_SHOWN}`);
      renderJobs(page);
      $("forget-key").hidden = !state.apiKey;
      setConnection(`Live · updated ${new Date().toLocaleTimeString()}`);
      if (state.selected.some(isStale)) requestPlot();
    } catch (error) {
      reportError(error, "Cannot reach the API, retrying");
    } finally {
      state.polling = false;
    }
    // poll slower while the tab is hidden: nobody is watching, but keep the data fresh-ish
    schedulePoll(document.hidden ? POLL_MS * 10 : POLL_MS);
  }

  function renderJobs(page) {
    const body = $("jobs").tBodies[0];
    const seen = new Set();
    page.items.forEach((job, index) => {
      seen.add(job.id);
      state.jobs.set(job.id, job);
      const row = state.rows.get(job.id) || createRow(job.id);
      updateRow(row, job);
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    });
    for (const [id, row] of state.rows) {
      if (!seen.has(id)) {
        row.remove();
        state.rows.delete(id);
      }
    }
    $("jobs-empty").hidden = page.total > 0;
    $("jobs-summary").textContent = page.total > page.items.length
      ? `newest ${page.items.length} of ${page.total}` : `${page.total} job${page.total === 1 ? "" : "s"}`;
    markSelectedRows();
  }

  /** A row is built once and then updated in place, so polling never steals a click or focus. */
  function createRow(jobId) {
    const cells = {
      check: el("input", { type: "checkbox", title: "Overlay this job's front" }),
      id: el("div", { className: "job-id", textContent: shortId(jobId), title: jobId }),
      when: el("div", { className: "job-when" }),
      error: el("div", { className: "job-error" }),
      badge: el("span", { className: "badge" }),
      space: el("td"),
      budgets: el("td"),
      evaluated: el("td", { className: "num" }),
      best: el("td", { className: "num" }),
      fill: el("span"),
      pct: el("span", { className: "pct" }),
      cancel: el("button", { type: "button", className: "danger", textContent: "Cancel", title: "Cancel this job" }),
    };
    cells.bar = el("div", { className: "bar" }, cells.fill);
    cells.check.dataset.testid = "job-check";
    cells.cancel.dataset.testid = "job-cancel";
    const row = el("tr", {},
      el("td", { className: "col-check" }, cells.check),
      el("td", {}, cells.id, cells.when, cells.error),
      el("td", {}, cells.badge),
      cells.space, cells.budgets, cells.evaluated, cells.best,
      el("td", {}, el("div", { className: "progress" }, cells.bar, cells.pct)),
      el("td", { className: "col-actions" }, cells.cancel));
    row.dataset.jobId = jobId;
    row.dataset.testid = "job-row";
    row.cells_ = cells;
    cells.check.addEventListener("change", () => toggleSelected(jobId, cells.check.checked));
    cells.cancel.addEventListener("click", () => cancelJob(jobId, cells.cancel));
    row.addEventListener("click", (event) => {
      if (event.target.closest("input, button")) return; // those have their own handlers
      selectOnly(jobId);
    });
    state.rows.set(jobId, row);
    return row;
  }

  function updateRow(row, job) {
    const c = row.cells_;
    const request = job.request || {};
    const progress = job.progress || {};
    row.dataset.status = job.status;
    const how = job.kind === "collect" ? "measured with a supernet" : request.strategy || "?";
    c.when.textContent = `${formatWhen(job.created_at)} · ${how}`;
    c.error.textContent = job.error || "";
    c.error.hidden = !job.error;
    c.badge.textContent = job.cancel_requested && !FINISHED.has(job.status) ? "cancelling" : job.status;
    c.badge.className = `badge ${job.status}`;
    c.badge.dataset.testid = "job-status";
    c.space.textContent = request.space || "";
    c.budgets.replaceChildren(...(request.budgets || []).map((b) => el("span", { className: "budget", textContent: b })));
    c.evaluated.textContent = (progress.evaluated ?? 0).toLocaleString();
    c.best.textContent = formatMetric("accuracy", progress.best_accuracy);
    const fraction = Math.max(0, Math.min(1, Number(progress.fraction) || 0));
    c.fill.style.width = `${(fraction * 100).toFixed(1)}%`;
    c.bar.className = `bar ${job.status}`;
    c.pct.textContent = `${Math.round(fraction * 100)}%`;
    c.cancel.hidden = FINISHED.has(job.status) || job.cancel_requested;
  }

  async function cancelJob(jobId, button) {
    button.disabled = true;
    try {
      const job = await api(`/v1/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" });
      state.jobs.set(job.id, job);
      updateRow(state.rows.get(job.id), job);
    } catch (error) {
      reportError(error, "Cancel failed");
    } finally {
      button.disabled = false;
    }
  }

  // ---- selection ---------------------------------------------------------------------------

  function selectOnly(jobId) {
    state.selected = [jobId];
    selectionChanged();
  }

  function toggleSelected(jobId, on) {
    state.selected = state.selected.filter((id) => id !== jobId);
    if (on) state.selected.push(jobId);
    selectionChanged();
  }

  function selectionChanged() {
    markSelectedRows();
    // the URL remembers the selection, so a reload or a shared link shows the same plot
    history.replaceState(null, "", state.selected.length ? `#jobs=${state.selected.join(",")}` : "#");
    requestPlot();
  }

  function markSelectedRows() {
    for (const [id, row] of state.rows) {
      const index = state.selected.indexOf(id);
      row.classList.toggle("selected", index >= 0);
      row.cells_.check.checked = index >= 0;
      row.style.setProperty("--job-color", index >= 0 ? colorOf(index) : "");
    }
  }

  function colorOf(index) {
    return PALETTE[index % PALETTE.length];
  }

  function selectionFromUrl() {
    const match = /^#jobs=([\w,]+)$/.exec(location.hash);
    return match ? match[1].split(",").filter(Boolean).slice(0, PALETTE.length) : [];
  }

  // ---- trials and fronts -------------------------------------------------------------------

  function entryFor(jobId) {
    if (!state.data.has(jobId)) {
      state.data.set(jobId, { trials: [], ids: new Set(), total: 0, version: null, front: null, frontKey: null,
        constraints: [] });
    }
    return state.data.get(jobId);
  }

  function frontKey() {
    return `${state.xMetric}|${state.withinBudget}`;
  }

  /** Stale when the job changed since its trials were loaded (new generation, new status). */
  function isStale(jobId) {
    const job = state.jobs.get(jobId);
    const entry = state.data.get(jobId);
    return !entry || (job && entry.version !== job.updated_at);
  }

  async function loadJobData(jobId) {
    const entry = entryFor(jobId);
    const job = state.jobs.get(jobId) || await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
    state.jobs.set(jobId, job);
    if (entry.version !== job.updated_at) {
      await loadNewTrials(jobId, entry);
      entry.version = job.updated_at;
      entry.frontKey = null; // new trials may move the front
    }
    if (entry.frontKey !== frontKey()) {
      const front = await api(paretoPath(jobId));
      entry.front = front.items;
      entry.constraints = state.withinBudget ? front.constraints : [];
      entry.frontKey = frontKey();
    }
    return entry;
  }

  function paretoPath(jobId) {
    const metrics = encodeURIComponent(`accuracy,${state.xMetric}`);
    const constraint = state.withinBudget ? "" : `&constraint=${encodeURIComponent(ALL_TRIALS)}`;
    return `/v1/jobs/${encodeURIComponent(jobId)}/pareto?metrics=${metrics}${constraint}`;
  }

  /** Trials come oldest first, so the next page starts where the loaded ones end. */
  async function loadNewTrials(jobId, entry) {
    if (entry.trials.length >= MAX_POINTS) { // capped: only the count can still change
      entry.total = (await api(`/v1/jobs/${encodeURIComponent(jobId)}/trials?limit=1`)).total;
      return;
    }
    while (entry.trials.length < MAX_POINTS) {
      const limit = Math.min(PAGE_SIZE, MAX_POINTS - entry.trials.length);
      const page = await api(`/v1/jobs/${encodeURIComponent(jobId)}/trials?limit=${limit}` +
        `&offset=${entry.trials.length}&sort=id&order=asc`);
      entry.total = page.total;
      for (const trial of page.items) {
        if (!entry.ids.has(trial.id)) {
          entry.ids.add(trial.id);
          entry.trials.push(trial);
        }
      }
      if (page.items.length < limit || entry.trials.length >= page.total) break;
      setPlotNote(`Loading trials… ${entry.trials.length.toLocaleString()} of ${page.total.toLocaleString()}`);
    }
  }

  // ---- the plot ----------------------------------------------------------------------------

  /** Coalesce redraw requests: one load-and-draw at a time, and one more if asked meanwhile. */
  async function requestPlot() {
    state.plotDirty = true;
    if (state.plotBusy) return;
    state.plotBusy = true;
    try {
      while (state.plotDirty && !state.waitingForKey) {
        state.plotDirty = false;
        await updatePlot();
      }
    } finally {
      state.plotBusy = false;
    }
  }

  async function updatePlot() {
    const ids = [...state.selected];
    if (!ids.length) {
      showPlotEmpty("Select a job above to plot its trials.");
      return;
    }
    const entries = [];
    try {
      for (const id of ids) entries.push(await loadJobData(id));
    } catch (error) {
      if (!reportError(error, "Loading trials failed")) showPlotEmpty(`Could not load trials: ${error.message}`);
      return;
    }
    if (ids.join() !== state.selected.join()) return; // selection moved on while loading; redraw follows
    refreshMetricOptions(entries);
    draw(ids, entries);
  }

  function showPlotEmpty(message) {
    if (state.plotReady) Plotly.purge($("pareto-plot"));
    state.plotReady = false;
    $("pareto-plot").hidden = true;
    $("plot-empty").hidden = false;
    $("plot-empty").textContent = message;
    setPlotNote("");
  }

  function setPlotNote(text) {
    $("plot-note").textContent = text;
  }

  /** The x-axis choices: every cost metric found in the loaded trials (macs, params, latency@...). */
  function refreshMetricOptions(entries) {
    const names = new Set(["macs", "params"]);
    for (const entry of entries) {
      for (const trial of entry.trials.slice(-200)) {
        for (const name of Object.keys(trial.metrics || {})) if (name !== "accuracy" && name !== SPREAD) names.add(name);
      }
    }
    const select = $("x-metric");
    const current = [...select.options].map((o) => o.value);
    const wanted = [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    if (current.join() === wanted.join()) return;
    select.replaceChildren(...wanted.map((name) => el("option", { value: name, textContent: metricLabel(name) })));
    select.value = state.xMetric;
  }

  function rank(name) {
    return { macs: 0, params: 1 }[name] ?? 2;
  }

  function draw(ids, entries) {
    const jobs = ids.map((id) => state.jobs.get(id));
    const traces = [];
    ids.forEach((id, i) => traces.push(...jobTraces(id, jobs[i], entries[i], i, ids.length > 1)));
    const highlight = selectedPointTrace(ids);
    if (highlight) traces.push(highlight);
    const pointCount = entries.reduce((n, e) => n + e.trials.length, 0);
    if (!pointCount) {
      const failed = jobs.find((job) => job && job.status === "failed");
      showPlotEmpty(failed ? `Job ${shortId(failed.id)} failed: ${failed.error || "no error message"}`
        : "No trials yet — the plot fills in as the search runs.");
      return;
    }
    $("plot-empty").hidden = true;
    const plot = $("pareto-plot");
    plot.hidden = false;
    Plotly.react(plot, traces, plotLayout(jobs, entries), {
      responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"],
    });
    if (!state.plotReady) plot.on("plotly_click", onPointClick);
    state.plotReady = true;
    setPlotNote(plotNote(jobs, entries));
  }

  function jobTraces(jobId, job, entry, index, overlay) {
    const x = state.xMetric;
    const color = colorOf(index);
    const label = overlay ? ` · ${shortId(jobId)}` : "";
    const points = entry.trials.filter((t) => hasMetrics(t, x));
    const front = (entry.front || []).filter((t) => hasMetrics(t, x));
    const dense = points.length > 5000;
    return [
      {
        type: traceType(), mode: "markers", name: `trials${label}`, meta: { role: "trials", job: jobId },
        x: points.map((t) => t.metrics[x]), y: points.map((t) => t.metrics.accuracy),
        customdata: points.map((t) => t.id), text: points.map(hoverText), hovertemplate: "%{text}<extra></extra>",
        marker: { size: dense ? 4 : 5, color: overlay ? color : CLOUD_GREY, opacity: (overlay ? 0.25 : 0.45) / (dense ? 1.5 : 1) },
      },
      {
        // the staircase (shape "hv") is the best accuracy reachable at each cost
        type: traceType(), mode: "lines+markers", name: `Pareto front${label}`, meta: { role: "front", job: jobId },
        x: front.map((t) => t.metrics[x]), y: front.map((t) => t.metrics.accuracy),
        customdata: front.map((t) => t.id), text: front.map(hoverText), hovertemplate: "%{text}<extra></extra>",
        line: { color, width: 2, shape: "hv" },
        marker: { size: 8, color, line: { color: "#fff", width: 1.5 } },
        error_y: {
          type: "data", array: front.map((t) => t.metrics[SPREAD] ?? 0), color, thickness: 1, width: 3,
          visible: front.some((t) => Number.isFinite(t.metrics[SPREAD])),
        },
      },
    ];
  }

  function hasMetrics(trial, x) {
    const m = trial.metrics || {};
    return Number.isFinite(m[x]) && Number.isFinite(m.accuracy);
  }

  function hoverText(trial) {
    const metrics = Object.entries(trial.metrics || {}).map(([k, v]) => `${metricLabel(k)} ${formatMetric(k, v)}`).join(" · ");
    return `<b>trial ${trial.id}</b><br>${escapePlotly(compactArch(trial.arch))}<br>${escapePlotly(metrics)}`;
  }

  /** WebGL keeps tens of thousands of points smooth, SVG is crisper for fewer. All traces share
   * one kind because plotly paints WebGL above SVG: an SVG front would hide under a WebGL cloud. */
  function traceType() {
    const points = state.selected.reduce((n, id) => n + ((state.data.get(id) || {}).trials || []).length, 0);
    return points > 5000 && webglAvailable() ? "scattergl" : "scatter";
  }

  function webglAvailable() {
    try {
      return Boolean(document.createElement("canvas").getContext("webgl"));
    } catch {
      return false;
    }
  }

  /** A ring around the point shown in the details panel. */
  function selectedPointTrace(ids) {
    const detail = state.detail;
    if (!detail || !ids.includes(detail.jobId) || !hasMetrics(detail.trial, state.xMetric)) return null;
    return {
      type: traceType(), mode: "markers", name: "selected", showlegend: false, hoverinfo: "skip",
      meta: { role: "selected", job: detail.jobId }, customdata: [detail.trial.id],
      x: [detail.trial.metrics[state.xMetric]], y: [detail.trial.metrics.accuracy],
      marker: { size: 18, color: "rgba(0,0,0,0)", line: { color: "#111827", width: 2 } },
    };
  }

  function plotLayout(jobs, entries) {
    const x = state.xMetric;
    const accuracies = entries.flatMap((e) => e.trials.map((t) => t.metrics.accuracy));
    const fractional = accuracies.length > 0 && accuracies.every((a) => a <= 1);
    const { shapes, annotations } = budgetLines(jobs, x);
    return {
      // uirevision keeps the user's zoom across live updates until the selection or axis changes
      uirevision: `${state.selected.join()}|${x}`,
      margin: { l: 64, r: 20, t: 40, b: 52 },
      font: { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 12, color: "#1c2230" },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff", hovermode: "closest",
      hoverlabel: { bgcolor: "#fff", bordercolor: "#98a2b3", font: { size: 12, color: "#1c2230" } },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      xaxis: { title: { text: metricLabel(x) }, gridcolor: "#eef0f3", zeroline: false,
        ticksuffix: x.startsWith("latency") ? " ms" : "" },
      yaxis: { title: { text: "accuracy (predicted)" }, gridcolor: "#eef0f3", zeroline: false,
        tickformat: fractional ? ".1%" : "" },
      shapes, annotations,
    };
  }

  /** A dashed vertical line at every budget on the x metric, labelled with the budget's text. */
  function budgetLines(jobs, x) {
    const seen = new Map();
    for (const job of jobs) for (const b of jobBudgets(job)) if (b.metric === x) seen.set(b.limit, b.text);
    const shapes = [];
    const annotations = [];
    [...seen].forEach(([limit, text], i) => {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: limit, x1: limit, y0: 0, y1: 1,
        line: { color: "#c0262d", width: 1.5, dash: "dash" } });
      // labels of nearby budgets would overprint each other: step each one down a line
      annotations.push({ xref: "x", yref: "paper", x: limit, y: 1, yshift: -16 * i, text: escapePlotly(`budget ${text}`),
        showarrow: false, xanchor: "right", yanchor: "top", xshift: -4, bgcolor: "rgba(255,255,255,0.85)",
        font: { color: "#c0262d", size: 11 } });
    });
    return { shapes, annotations };
  }

  function plotNote(jobs, entries) {
    const parts = entries.map((entry, i) => {
      const job = jobs[i];
      const name = jobs.length > 1 ? `${shortId(job.id)}: ` : "";
      const capped = entry.total > entry.trials.length
        ? `first ${entry.trials.length.toLocaleString()} of ${entry.total.toLocaleString()} trials plotted`
        : `${entry.trials.length.toLocaleString()} trials`;
      const within = entry.constraints.length ? ` within ${entry.constraints.map(formatConstraint).join(", ")}`
        : " over all trials";
      const failed = job.status === "failed" ? ` · failed: ${job.error || "no error message"}` : "";
      return `${name}${capped} · front of ${(entry.front || []).length}${within}${failed}`;
    });
    const bars = entries.some((e) => (e.front || []).some((t) => Number.isFinite(t.metrics[SPREAD])))
      ? "  ·  error bars: the predictor ensemble's spread (1 std)" : "";
    return `${parts.join("  |  ")}${bars}  ·  click a point for its architecture`;
  }

  /** "macs<=6e+08" (as the API states it) -> "MACs ≤ 600.0M". */
  function formatConstraint(text) {
    const match = /^(.+?)(<=|>=)(.+)$/.exec(text);
    if (!match) return text;
    return `${metricLabel(match[1])} ${match[2] === "<=" ? "≤" : "≥"} ${formatMetric(match[1], Number(match[3]))}`;
  }

  // ---- details panel -----------------------------------------------------------------------

  function onPointClick(event) {
    const point = event && event.points && event.points[0];
    if (!point) return;
    const meta = (point.data && point.data.meta) || (point.fullData && point.fullData.meta) || {};
    const entry = state.data.get(meta.job);
    const trialId = point.customdata;
    const trial = entry && (entry.trials.find((t) => t.id === trialId) ||
      (entry.front || []).find((t) => t.id === trialId));
    if (trial) showDetails(meta.job, trial);
  }

  function showDetails(jobId, trial) {
    state.detail = { jobId, trial };
    $("details-empty").hidden = true;
    $("details-body").hidden = false;
    $("details-title").replaceChildren(`Trial ${trial.id} `,
      el("span", { className: "muted", textContent: `· job ${shortId(jobId)} · generation ${trial.generation}` }));
    $("details-metrics").replaceChildren(...Object.entries(trial.metrics || {}).flatMap(([name, value]) => [
      el("dt", { textContent: metricLabel(name) }),
      el("dd", { textContent: formatMetric(name, value), title: String(value) }),
    ]));
    $("details-arch").textContent = prettyJson(trial.arch);
    setDownload(jobId, trial);
    requestPlot(); // redraw the ring around the chosen point
  }

  function setDownload(jobId, trial) {
    if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
    const body = JSON.stringify({ arch: trial.arch, metrics: trial.metrics }, null, 2);
    state.downloadUrl = URL.createObjectURL(new Blob([body], { type: "application/json" }));
    const link = $("download");
    link.href = state.downloadUrl;
    link.download = `nas-${shortId(jobId)}-trial-${trial.id}.json`;
    link.hidden = false;
  }

  // ---- start -------------------------------------------------------------------------------

  function start() {
    $("key-form").addEventListener("submit", onKeySubmit);
    $("forget-key").addEventListener("click", () => askForKey("change"));
    $("x-metric").addEventListener("change", (event) => {
      state.xMetric = event.target.value;
      requestPlot();
    });
    $("within-budget").addEventListener("change", (event) => {
      state.withinBudget = event.target.checked;
      requestPlot();
    });
    window.addEventListener("hashchange", () => {
      const wanted = selectionFromUrl();
      if (wanted.join() !== state.selected.join()) {
        state.selected = wanted;
        selectionChanged();
      }
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) schedulePoll(0);
    });
    state.selected = selectionFromUrl();
    if (typeof Plotly === "undefined") setConnection("plotly.js did not load from /vendor/plotly.min.js", true);
    poll(); // also loads the plot of a selection restored from the URL
  }

  start();
})();
