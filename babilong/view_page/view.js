"use strict";
// The babilong run viewer. Data: window.BABILONG_VIEW (runs, cell counts, depth maps) and the
// samples of each (run, task, length) cell, inline in window.BABILONG_CELLS or, for a large view,
// in a script file per cell (VIEW.files/r{run}-{task}-{length}.js calling babilongCell) loaded
// when the cell is first needed. Text from the data is only ever set as textContent.
(function () {
  const VIEW = window.BABILONG_VIEW;
  const INLINE = window.BABILONG_CELLS || {};
  const PAGE_ROWS = 100;
  const loaded = {};
  const waiting = {};
  const state = { scorer: VIEW.default_scorer, cells: [], scanned: 0, shown: 0, wanted: 0, busy: null, current: null };

  // ---- small helpers ----
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else if (name === "title") node.title = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }
  function options(select, values, labels) {
    select.replaceChildren(...values.map((value, i) => el("option", { value: value }, labels ? labels[i] : value)));
  }
  function colour(accuracy) { return `hsl(${(accuracy * 1.2).toFixed(0)}, 70%, 62%)`; }
  function pct(x) { return x === null || x === undefined ? "—" : x.toFixed(1); }
  function runOf(id) { return VIEW.runs[Number(id)]; }

  // ---- cells, loaded on demand ----
  window.babilongCell = function (id, samples) {
    loaded[id] = samples;
    for (const waiter of waiting[id] || []) waiter.resolve(samples);
    delete waiting[id];
  };
  function cellFile(id) { return VIEW.files + "/r" + id.split("/").join("-") + ".js"; }
  function loadCell(id) {
    if (loaded[id]) return Promise.resolve(loaded[id]);
    if (INLINE[id]) { loaded[id] = INLINE[id]; return Promise.resolve(loaded[id]); }
    if (!VIEW.files) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const first = !waiting[id];
      (waiting[id] = waiting[id] || []).push({ resolve, reject });
      if (!first) return;
      const script = el("script", { src: cellFile(id) });
      script.onerror = () => {
        const waiters = waiting[id] || [];
        delete waiting[id];
        const problem = new Error(`cannot load ${cellFile(id)}: keep the ${VIEW.files} folder beside the page`);
        for (const waiter of waiters) waiter.reject(problem);
      };
      document.head.appendChild(script);
    });
  }

  // ---- header ----
  function renderHeader() {
    options($("scorer"), VIEW.scorers);
    $("scorer").value = state.scorer;
    $("scorer").addEventListener("change", () => { state.scorer = $("scorer").value; renderHeatmaps(); renderDepth(); refreshList(); });
    $("runs").replaceChildren(...VIEW.runs.map(run => el("li", {}, el("b", {}, run.title), " — ", run.notes.join(" "))));
  }

  // ---- accuracy heatmaps, one per run, side by side ----
  function cellTitle(run, task, length, cell) {
    const [correct, accuracy, low, high] = cell.scores[state.scorer];
    const lines = [`${run.title}`, `${task} at ${length}, scorer ${state.scorer}`];
    lines.push(accuracy === null ? "nothing scored" : `${pct(accuracy)}% (95% interval ${pct(low)}-${pct(high)}), ${correct}/${cell.scored} right`);
    if (cell.too_long) lines.push(`${cell.too_long} too long (not scored)`);
    if (cell.errors) lines.push(`${cell.errors} errors (not scored)`);
    if (cell.disagree) lines.push(`${cell.disagree} where the scorers disagree`);
    return lines.join("\n");
  }
  function renderHeatmaps() {
    $("heatmaps").replaceChildren(...VIEW.runs.map(run => {
      const head = el("tr", {}, el("th", {}, "task"), ...run.lengths.map(length => el("th", {}, length)));
      const rows = run.tasks.map(task => el("tr", {}, el("th", {}, task), ...run.lengths.map(length => {
        const cell = run.cells[`${task}/${length}`];
        if (!cell) return el("td", {});
        const accuracy = cell.scores[state.scorer][1];
        const td = el("td", { class: "value", title: cellTitle(run, task, length, cell), "data-cell": `${run.id}/${task}/${length}`,
          onclick: () => browseCell(run.id, task, length) },
          accuracy === null ? (cell.too_long ? "long" : "err") : accuracy.toFixed(0));
        if (accuracy !== null) td.style.background = colour(accuracy);
        return td;
      })));
      if (run.means) rows.push(meanRow(run));
      return el("table", { class: "map heatmap" }, el("caption", {}, run.title), el("thead", {}, head), el("tbody", {}, ...rows));
    }));
  }

  function meanRow(run) {
    return el("tr", { class: "mean" }, el("th", {}, run.mean_row), ...run.lengths.map(length => {
      const mean = run.means[state.scorer][length];
      if (!mean) return el("td", { title: "not every one of qa1-qa5 was scored at this length" }, "—");
      const td = el("td", { class: "mean-value", title: `${run.title}\n${run.mean_row} at ${length}, scorer ${state.scorer}\n` +
        `${pct(mean[0])}% (95% interval ${pct(mean[1])}-${pct(mean[2])})` }, mean[0].toFixed(0));
      td.style.background = colour(mean[0]);
      return td;
    }));
  }

  // ---- depth x length maps of our runs ----
  function renderDepthControls() {
    const runs = VIEW.runs.filter(run => run.depth);
    if (!runs.length) {
      $("depth-hint").textContent = "No source here knows where its facts sat: published predictions hold no inputs, " +
        "and runs written before fact depths were stored lack them.";
      for (const id of ["depth-run", "depth-task", "depth-mode"]) $(id).disabled = true;
      return;
    }
    options($("depth-run"), runs.map(run => String(run.id)), runs.map(run => run.title));
    options($("depth-mode"), VIEW.depth.modes);
    const tasks = () => {
      const run = runOf($("depth-run").value);
      options($("depth-task"), run.tasks.filter(task => run.depth[state.scorer][task]));
    };
    tasks();
    $("depth-run").addEventListener("change", () => { tasks(); renderDepth(); });
    for (const id of ["depth-task", "depth-mode"]) $(id).addEventListener("change", renderDepth);
    $("depth-hint").textContent = `Bins of ${100 / VIEW.depth.bins} points of depth (token offset of the fact in the context). ` +
      "n per bin is shown; 10 samples in a bin give an interval of about ±30 points. " +
      `Random placement covers bins unevenly: ${VIEW.depth.hint}.`;
  }
  function renderDepth() {
    const run = runOf($("depth-run").value);
    if (!run || !run.depth) return;
    const task = $("depth-task").value, mode = $("depth-mode").value;
    const found = (run.depth[state.scorer][task] || {})[mode] || [];
    const byCell = {};
    for (const [bin, length, correct, n, low, high] of found) byCell[`${bin}/${length}`] = { correct, n, low, high };
    const width = 100 / VIEW.depth.bins;
    const head = el("tr", {}, el("th", {}, "depth"), ...run.lengths.map(length => el("th", {}, length)));
    const rows = [];
    for (let bin = 0; bin < VIEW.depth.bins; bin++) {
      rows.push(el("tr", {}, el("th", {}, `${bin * width}-${(bin + 1) * width}%`), ...run.lengths.map(length => {
        const cell = byCell[`${bin}/${length}`];
        if (!cell) return el("td", { title: "no samples" });
        const accuracy = 100 * cell.correct / cell.n;
        const td = el("td", { class: "depth-cell", title: `${task} at ${length}, ${mode} fact ${bin * width}-${(bin + 1) * width}% deep\n` +
          `${pct(accuracy)}% (95% interval ${pct(cell.low)}-${pct(cell.high)}), ${cell.correct}/${cell.n} right` },
          accuracy.toFixed(0), el("small", {}, `n=${cell.n}`));
        td.style.background = colour(accuracy);
        return td;
      })));
    }
    $("depth-map").replaceChildren(el("table", { class: "map" },
      el("caption", {}, `${run.title}: ${task}, depth of the ${mode} supporting fact, scorer ${state.scorer}`),
      el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  // ---- sample browser ----
  function renderFilterControls() {
    options($("f-run"), VIEW.runs.map(run => String(run.id)), VIEW.runs.map(run => run.title));
    const fill = () => {
      const run = runOf($("f-run").value);
      options($("f-task"), ["", ...run.tasks], ["all", ...run.tasks]);
      options($("f-length"), ["", ...run.lengths], ["all", ...run.lengths]);
    };
    fill();
    $("f-run").addEventListener("change", () => { fill(); refreshList(); });
    for (const id of ["f-task", "f-length", "f-verdict", "f-status", "f-disagree"]) $(id).addEventListener("change", refreshList);
    $("more").addEventListener("click", () => showMore());
  }
  function browseCell(runId, task, length) {
    $("f-run").value = String(runId);
    $("f-run").dispatchEvent(new Event("change"));
    $("f-task").value = task;
    $("f-length").value = length;
    refreshList();
    $("samples").scrollIntoView();
  }
  function filters() {
    return { run: runOf($("f-run").value), task: $("f-task").value, length: $("f-length").value, verdict: $("f-verdict").value,
      status: $("f-status").value, disagree: $("f-disagree").checked };
  }
  function cellsToScan(f) {
    const ids = [];
    for (const task of f.run.tasks) {
      for (const length of f.run.lengths) {
        const cell = f.run.cells[`${task}/${length}`];
        if (!cell || (f.task && f.task !== task) || (f.length && f.length !== length)) continue;
        if (f.status === "too_long" && !cell.too_long) continue;  // counts say the cell has none: not loaded
        if (f.status === "error" && !cell.errors) continue;
        if (f.disagree && !cell.disagree) continue;
        ids.push(`${f.run.id}/${task}/${length}`);
      }
    }
    return ids;
  }
  function matches(sample, f) {
    if (f.status && sample.status !== f.status) return false;
    const verdicts = sample.verdicts || {};
    if (f.verdict) {
      if (sample.status !== "ok") return false;
      if (Boolean(verdicts[state.scorer]) !== (f.verdict === "right")) return false;
    }
    if (f.disagree && new Set(Object.values(verdicts).map(Boolean)).size < 2) return false;
    return true;
  }
  function refreshList() {
    state.filters = filters();
    state.cells = cellsToScan(state.filters);
    state.scanned = 0;
    state.shown = 0;
    state.pending = [];
    state.wanted = 0;
    document.querySelector("#sample-list tbody").replaceChildren();
    showMore();
  }
  async function showMore() {
    state.wanted += PAGE_ROWS;
    const generation = state.cells;  // a new array whenever the filters change
    if (state.busy === generation) return;  // the loop for these filters is running and will show the rows
    state.busy = generation;
    const f = state.filters;
    try {
      while (state.shown < state.wanted && (state.pending.length || state.scanned < state.cells.length)) {
        if (!state.pending.length) {
          const id = state.cells[state.scanned];
          $("list-status").textContent = `reading ${id} ...`;
          const samples = await loadCell(id);
          if (generation !== state.cells) return;  // the filters changed meanwhile
          state.scanned += 1;
          state.pending = samples.filter(sample => matches(sample, f)).map(sample => [id, sample]);
          continue;
        }
        const [id, sample] = state.pending.shift();
        document.querySelector("#sample-list tbody").appendChild(sampleRow(id, sample));
        state.shown += 1;
      }
    } catch (problem) {
      $("list-status").textContent = String(problem.message || problem);
      throw problem;
    } finally {
      if (state.busy === generation) state.busy = null;
    }
    const more = state.pending.length || state.scanned < state.cells.length;
    $("more").hidden = !more;
    $("list-status").textContent = `${state.shown} samples shown` + (more ? ` (cells read: ${state.scanned} of ${state.cells.length}; more below)` : "") +
      (state.cells.length ? "" : " — no cell matches these filters");
  }
  function verdictText(sample) {
    if (sample.status !== "ok") return el("span", { class: "unscored" }, sample.status === "too_long" ? "too long" : "error");
    return el("span", {}, ...VIEW.scorers.map((name, i) => el("span", { class: sample.verdicts[name] ? "right" : "wrong",
      title: `${name}: ${sample.verdicts[name] ? "right" : "wrong"}` }, (i ? " " : "") + (sample.verdicts[name] ? "✓" : "✗"))));
  }
  function statementOf(sample, scorer) {
    const why = (sample.why || {})[scorer];
    if (!why || !why.span) return "";
    return why.statement !== undefined ? why.statement : sample.output.slice(why.span[0], why.span[1]);
  }
  function sampleRow(id, sample) {
    const answer = sample.status === "ok" ? (statementOf(sample, VIEW.default_scorer) || `(${sample.why[VIEW.default_scorer].rule})`) : (sample.error || "");
    const row = el("tr", { class: "sample-row", "data-key": sample.key, onclick: () => { selectRow(row); renderDetail(id, sample); } },
      el("td", {}, sample.key), el("td", {}, sample.status), el("td", {}, verdictText(sample)),
      el("td", {}, answer.length > 70 ? answer.slice(0, 70) + "…" : answer));
    return row;
  }
  function selectRow(row) {
    for (const other of document.querySelectorAll("#sample-list tr.current")) other.classList.remove("current");
    row.classList.add("current");
  }

  // ---- one sample ----
  function renderDetail(id, sample) {
    const run = runOf(id.split("/")[0]);
    const facts = sample.supporting_facts || [];
    const depths = sample.depths || [];
    const fields = [["run", run.title], ["question", sample.question], ["target", String(sample.target)], ["status", sample.status]];
    if (depths.length) fields.push(["fact depths", `${depths.map(d => d.toFixed(1) + "%").join(", ")} (earliest ${Math.min(...depths).toFixed(1)}%, latest ${Math.max(...depths).toFixed(1)}%)`]);
    if (sample.prompt_tokens !== undefined) fields.push(["prompt tokens", String(sample.prompt_tokens)]);
    if (sample.error) fields.push(["error", sample.error]);
    const parts = [el("h3", {}, sample.key), el("dl", {}, ...fields.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]))];
    if (sample.why) parts.push(el("h3", {}, "Verdicts"), ...VIEW.scorers.map(name => scorerBlock(name, sample.why[name], (sample.verdicts || {})[name])));
    if (sample.output !== undefined) {
      parts.push(el("h3", {}, "Raw output" + (sample.why ? " (the answer statement the default scorer read is highlighted)" : "")), outputBlock(sample));
      if (sample.output_chars) parts.push(el("p", { class: "hint" }, `first ${sample.output.length} of ${sample.output_chars} characters shown`));
    }
    parts.push(el("h3", {}, "Supporting facts in the haystack"));
    if (!facts.length) parts.push(el("p", { class: "hint" }, "Not stored for this sample (published predictions hold no inputs)."));
    for (const fact of facts) {
      parts.push(el("div", { class: "fact" }, el("div", {}, `${fact.depth.toFixed(1)}% deep, at character ${fact.char}`),
        el("pre", { class: "excerpt" }, "…" + fact.before, el("mark", { class: "fact" }, fact.fact), fact.after + "…")));
    }
    $("detail").replaceChildren(...parts);
    state.current = sample.key;
    $("detail").setAttribute("data-key", sample.key);
  }
  function scorerBlock(name, why, verdict) {
    if (!why && typeof verdict === "boolean") return el("div", { class: "scorer" }, el("b", {}, name + ": "),
      el("span", { class: verdict ? "right" : "wrong" }, verdict ? "right" : "wrong"), " (this scorer gives no reasons)");
    if (!why) return el("div", { class: "scorer" }, `${name}: not scored`);
    return el("div", { class: "scorer", "data-scorer": name },
      el("div", {}, el("b", {}, name + ": "), el("span", { class: why.correct ? "right" : "wrong" }, why.correct ? "right" : "wrong"),
        ` — rule ${why.rule}: ${VIEW.rules[why.rule] || ""}`),
      el("div", {}, `labels read: ${why.labels.length ? why.labels.join(", ") : "none"}`),
      why.notes.length ? el("ul", {}, ...why.notes.map(note => el("li", {}, note))) : null);
  }
  function outputBlock(sample) {
    const why = (sample.why || {})[VIEW.default_scorer];
    const text = sample.output;
    if (!why || !why.span || why.span[0] > text.length) return el("pre", { class: "output" }, text);
    const [start, end] = why.span;
    return el("pre", { class: "output" }, text.slice(0, start), el("mark", { class: "statement" }, text.slice(start, end)), text.slice(end));
  }

  // ---- start ----
  function start() {
    renderHeader();
    renderHeatmaps();
    renderDepthControls();
    renderDepth();
    renderFilterControls();
    refreshList();
    document.documentElement.setAttribute("data-ready", "1");
  }
  window.babilongViewer = { loadCell, browseCell, state };
  start();
})();
