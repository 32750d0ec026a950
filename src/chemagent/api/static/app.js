// ChemAgent query page: one EventSource per question, rendered with DOM calls only (no
// HTML parsing of data: every text from the server goes through textContent).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $("ask-form"),
    query: $("query"),
    ask: $("ask"),
    run: $("run"),
    progress: $("progress"),
    progressText: $("progress-text"),
    steps: $("steps"),
    error: $("error"),
    answerSection: $("answer-section"),
    answer: $("answer"),
    problems: $("problems"),
    resultsSection: $("results-section"),
    results: $("results"),
    about: $("about"),
  };

  const SESSION_KEY = "chemagent.session";
  const EVENT_TYPES = ["parsing", "planning", "step_start", "step_complete", "result", "error"];
  const LIST_KEYS = ["ranking", "hits", "records", "matches", "suggestions", "results"];
  const LEAD_COLUMNS = ["chembl_id", "pref_name", "similarity", "value", "score", "match"];
  const HIDDEN_COLUMNS = new Set([
    "molecule_structures", "molecule_properties", "canonical_smiles", "parent_smiles",
    "smiles", "svg",
  ]);
  const DEFAULT_LIST_PROPERTIES = ["mw_freebase", "alogp", "psa", "hba", "hbd", "qed_weighted"];
  const MAX_EXTRA_COLUMNS = 6;
  const FIELD_VALUED = new Set(["property", "rank_by", "field"]); // values are panel fields
  const QUIET_KEYS = new Set(["properties"]); // the asked fields: already highlighted
  const MAX_IMAGES = 50; // each image is one depiction request to the service
  const LABELS = {
    chembl_id: "ChEMBL ID",
    pref_name: "Name",
    full_mwt: "Molecular weight, full (g/mol)",
    full_molformula: "Formula",
    mw_freebase: "Molecular weight (g/mol)",
    mw_monoisotopic: "Monoisotopic mass (Da)",
    alogp: "ALogP",
    psa: "Polar surface area (Å²)",
    hba: "H-bond acceptors",
    hbd: "H-bond donors",
    hba_lipinski: "H-bond acceptors (Lipinski)",
    hbd_lipinski: "H-bond donors (Lipinski)",
    rtb: "Rotatable bonds",
    aromatic_rings: "Aromatic rings",
    aliphatic_rings: "Aliphatic rings",
    num_rings: "Rings",
    heavy_atoms: "Heavy atoms",
    qed_weighted: "QED",
    num_ro5_violations: "Ro5 violations",
    num_lipinski_ro5_violations: "Ro5 violations (Lipinski)",
    fraction_csp3: "Fraction Csp3",
    ro3_pass: "Rule of three",
    canonical_smiles: "SMILES",
    standard_inchi: "InChI",
    standard_inchi_key: "InChIKey",
    parent_inchi_key: "Parent InChIKey",
    similarity: "Similarity",
    value: "Value",
  };

  let source = null; // the open EventSource, if any
  let finished = true;
  const stepItems = new Map(); // plan node id -> <li>

  // ---- small DOM helpers ------------------------------------------------------------

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function label(key) {
    if (LABELS[key]) return LABELS[key];
    const words = String(key).replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function isScalar(value) {
    return value === null || typeof value !== "object";
  }

  function formatValue(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "number") {
      return Number.isInteger(value) ? String(value) : String(Math.round(value * 1e4) / 1e4);
    }
    if (Array.isArray(value) && value.every(isScalar)) return value.map(formatValue).join(", ");
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  // A cell's content: long or multi-line text (molblocks, InChIs) folds away.
  function valueNode(value, key) {
    let text = formatValue(value);
    if (FIELD_VALUED.has(key) && typeof value === "string") text = label(value);
    if (key === "similarity" && typeof value === "number") text = value.toFixed(2);
    if (text.length <= 120 && !text.includes("\n")) return document.createTextNode(text);
    const details = el("details");
    details.appendChild(el("summary", text.split("\n")[0].slice(0, 60) + "…"));
    details.appendChild(el("pre", text));
    return details;
  }

  // ---- structures -------------------------------------------------------------------

  function smilesOf(record) {
    const structures = isObject(record.molecule_structures) ? record.molecule_structures : {};
    return record.canonical_smiles || structures.canonical_smiles || record.smiles ||
      record.parent_smiles || record.standardized_smiles || null;
  }

  function imageUrl(record, size) {
    const dims = `width=${size}&height=${size}`;
    if (typeof record.chembl_id === "string" && record.chembl_id) {
      return `/v1/compounds/${encodeURIComponent(record.chembl_id)}/image.svg?${dims}`;
    }
    const smiles = smilesOf(record);
    return smiles ? `/v1/depict?smiles=${encodeURIComponent(smiles)}&${dims}` : null;
  }

  function structureImage(record, size) {
    const url = imageUrl(record, size);
    if (!url) return null;
    const img = el("img", null, "structure");
    img.src = url;
    img.width = size;
    img.height = size;
    img.loading = "lazy";
    img.alt = `Structure of ${record.pref_name || record.chembl_id || smilesOf(record)}`;
    return img;
  }

  // ---- results ------------------------------------------------------------------------

  function isRecord(value) {
    return isObject(value) &&
      ("chembl_id" in value || "molecule_properties" in value || "molecule_structures" in value);
  }

  function keyValueTable(rows, caption, asked) {
    const table = el("table", null, "kv");
    if (caption) table.appendChild(el("caption", caption));
    const body = el("tbody");
    for (const [key, value] of rows) {
      const tr = el("tr");
      if (asked && asked.has(key)) tr.className = "asked";
      const th = el("th", label(key));
      th.scope = "row";
      th.title = key;
      const td = el("td");
      td.appendChild(valueNode(value, key));
      tr.append(th, td);
      body.appendChild(tr);
    }
    table.appendChild(body);
    return table;
  }

  function renderRecord(container, record, ctx) {
    const card = el("article", null, "record");
    const image = structureImage(record, 300);
    if (image) card.appendChild(image);
    const identity = Object.entries(record).filter(
      ([key, value]) => key !== "molecule_properties" && key !== "molecule_structures" && isScalar(value),
    );
    const structures = isObject(record.molecule_structures) ? record.molecule_structures : {};
    for (const key of ["canonical_smiles", "standard_inchi_key"]) {
      if (structures[key]) identity.push([key, structures[key]]);
    }
    const tables = el("div", null, "tables");
    const title = record.pref_name || record.chembl_id;
    if (identity.length) tables.appendChild(keyValueTable(identity, title ? String(title) : "Compound"));
    if (isObject(record.molecule_properties)) {
      const panel = Object.entries(record.molecule_properties);
      // The properties the question asked for come first, highlighted.
      panel.sort(([a], [b]) => Number(ctx.asked.has(b)) - Number(ctx.asked.has(a)));
      tables.appendChild(keyValueTable(panel, "Properties", ctx.asked));
    }
    card.appendChild(tables);
    container.appendChild(card);
  }

  function listColumns(rows, ctx) {
    const keys = new Set();
    for (const row of rows.slice(0, 50)) {
      for (const [key, value] of Object.entries(row)) {
        if (isScalar(value) && !HIDDEN_COLUMNS.has(key)) keys.add(key);
      }
    }
    const lead = LEAD_COLUMNS.filter((key) => keys.has(key));
    const extra = [...keys].filter((key) => !LEAD_COLUMNS.includes(key)).slice(0, MAX_EXTRA_COLUMNS);
    let panel = [];
    if (rows.some((row) => isObject(row.molecule_properties))) {
      panel = ctx.asked.size ? [...ctx.asked] : DEFAULT_LIST_PROPERTIES;
      panel = panel.filter((key) => !keys.has(key));
    }
    return { scalar: [...lead, ...extra], panel };
  }

  function renderList(container, name, rows, ctx) {
    if (!rows.length) {
      container.appendChild(el("p", `No ${name ? label(name) : "results"}.`, "empty"));
      return;
    }
    const { scalar, panel } = listColumns(rows, ctx);
    const withImages = rows.some((row) => imageUrl(row, 120));
    const table = el("table", null, "list");
    table.appendChild(el("caption", `${name ? label(name) : "Results"} (${rows.length})`));
    const head = el("tr");
    if (withImages) head.appendChild(el("th", "Structure"));
    for (const key of [...scalar, ...panel]) {
      // A ranking's "value" is the compared property's.
      const th = el("th", key === "value" && ctx.valueField ? label(ctx.valueField) : label(key));
      th.scope = "col";
      th.title = key;
      head.appendChild(th);
    }
    const thead = el("thead");
    thead.appendChild(head);
    const body = el("tbody");
    rows.forEach((row, index) => {
      const tr = el("tr");
      if (withImages) {
        const cell = el("td", null, "structure-cell");
        const image = index < MAX_IMAGES ? structureImage(row, 120) : null;
        if (image) cell.appendChild(image);
        tr.appendChild(cell);
      }
      for (const key of scalar) {
        const td = el("td");
        td.appendChild(valueNode(row[key], key));
        tr.appendChild(td);
      }
      const props = isObject(row.molecule_properties) ? row.molecule_properties : {};
      for (const key of panel) tr.appendChild(el("td", formatValue(props[key])));
      body.appendChild(tr);
    });
    table.append(thead, body);
    container.appendChild(table);
  }

  function renderResult(container, result, ctx, name, depth) {
    if (result === null || result === undefined) return;
    if (Array.isArray(result)) {
      if (result.every(isObject)) renderList(container, name, result, ctx);
      else container.appendChild(keyValueTable([[name || "result", result]]));
      return;
    }
    if (!isObject(result)) {
      container.appendChild(keyValueTable([[name || "result", result]]));
      return;
    }
    if (isRecord(result)) {
      renderRecord(container, result, ctx);
      return;
    }
    const scalars = [];
    const nested = el("div");
    const entries = Object.entries(result);
    // Lists named like hits/records/ranking first: they are the answer.
    entries.sort(([a], [b]) => Number(LIST_KEYS.includes(b)) - Number(LIST_KEYS.includes(a)));
    for (const [key, value] of entries) {
      if (value === null || QUIET_KEYS.has(key)) {
        continue; // nothing to show, or shown elsewhere
      } else if (isScalar(value) || (Array.isArray(value) && value.every(isScalar))) {
        scalars.push([key, value]);
      } else if (Array.isArray(value)) {
        const rows = value.filter(isObject);
        if (rows.length === 1 && isRecord(rows[0])) renderRecord(nested, rows[0], ctx);
        else renderList(nested, key, rows, ctx);
      } else if (key === "best" && Array.isArray(result.ranking)) {
        continue; // the first row of the ranking
      } else if (depth < 3) {
        const section = el("section", null, "nested");
        if (!isRecord(value)) section.appendChild(el("h3", label(key)));
        renderResult(section, value, ctx, key, depth + 1);
        nested.appendChild(section);
      }
    }
    if (scalars.length) container.appendChild(keyValueTable(scalars, name ? label(name) : "Summary"));
    container.appendChild(nested);
  }

  function askedProperties(response) {
    const intent = isObject(response.intent) ? response.intent : {};
    const asked = new Set(Array.isArray(intent.properties) ? intent.properties : []);
    if (intent.rank_by) asked.add(intent.rank_by);
    if (isObject(response.result) && typeof response.result.property === "string") {
      asked.add(response.result.property);
    }
    return asked;
  }

  // ---- progress and steps -----------------------------------------------------------

  function setProgress(value) {
    if (typeof value !== "number" || Number.isNaN(value)) return;
    const clamped = Math.min(1, Math.max(Number(ui.progress.value) || 0, value));
    ui.progress.value = clamped;
    ui.progressText.textContent = `${Math.round(clamped * 100)}%`;
  }

  function stepItem(node, text) {
    let item = stepItems.get(node);
    if (!item) {
      item = el("li", null, "step");
      item.dataset.node = node;
      item.dataset.status = "pending";
      item.append(el("span", text || node, "step-label"), el("span", "waiting", "step-status"),
        el("span", "", "step-time"));
      stepItems.set(node, item);
      ui.steps.appendChild(item);
    } else if (text) {
      item.querySelector(".step-label").textContent = text;
    }
    return item;
  }

  function setStep(node, status, seconds) {
    const item = stepItem(node);
    item.dataset.status = status;
    item.querySelector(".step-status").textContent = status;
    if (typeof seconds === "number") {
      item.querySelector(".step-time").textContent = seconds < 1
        ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(2)} s`;
    }
  }

  // ---- the event stream -------------------------------------------------------------

  function onEvent(type, data) {
    if (isObject(data) && "progress" in data) setProgress(data.progress);
    switch (type) {
      case "planning": {
        const nodes = isObject(data.plan) && Array.isArray(data.plan.nodes) ? data.plan.nodes : [];
        for (const node of nodes) stepItem(String(node.id), node.label || node.kind);
        break;
      }
      case "step_start":
        stepItem(String(data.node), data.label || data.kind);
        setStep(String(data.node), "running");
        break;
      case "step_complete":
        setStep(String(data.node), data.status || "ok", data.seconds);
        break;
      case "result":
        finish();
        showResponse(isObject(data.response) ? data.response : {});
        break;
      case "error": {
        finish();
        const response = isObject(data.response) ? data.response : {};
        updateSteps(response.steps);
        showError(data.detail || data.error || "The query failed.", data.answer,
          corrections(response));
        break;
      }
      default:
        break;
    }
  }

  function updateSteps(steps) {
    for (const step of Array.isArray(steps) ? steps : []) {
      stepItem(String(step.node), step.label || step.kind);
      setStep(String(step.node), step.status || "ok", step.seconds);
    }
  }

  function showResponse(response) {
    setProgress(1);
    updateSteps(response.steps);
    ui.answer.textContent = response.answer || "";
    ui.answer.dataset.status = response.status || "";
    clear(ui.problems);
    for (const problem of Array.isArray(response.problems) ? response.problems : []) {
      ui.problems.appendChild(el("li", problem));
    }
    ui.answerSection.hidden = false;
    clear(ui.results);
    const result = isObject(response.result) ? response.result : {};
    const ctx = {
      asked: askedProperties(response),
      valueField: typeof result.property === "string" ? result.property : null,
    };
    renderResult(ui.results, response.result, ctx, null, 0);
    ui.resultsSection.hidden = !ui.results.firstChild;
  }

  // "Did you mean" buttons: the query again with the unknown name replaced by a suggestion.
  function corrections(response) {
    const suggestions = Array.isArray(response.suggestions) ? response.suggestions : [];
    const intent = isObject(response.intent) ? response.intent : {};
    const query = typeof response.query === "string" ? response.query : "";
    const detail = typeof response.detail === "string" ? response.detail : "";
    const unknown = (Array.isArray(intent.compounds) ? intent.compounds : []).find(
      (entity) => isObject(entity) && entity.text && detail.includes(`'${entity.text}'`) &&
        query.slice(entity.start, entity.end) === entity.text,
    );
    if (!unknown) return [];
    return suggestions.slice(0, 5).map((text) => {
      const id = /\(([A-Za-z0-9_-]+)\)$/.exec(String(text));
      const replacement = id ? id[1] : String(text);
      return {
        text: String(text),
        query: query.slice(0, unknown.start) + replacement + query.slice(unknown.end),
      };
    });
  }

  function showError(detail, answer, fixes) {
    clear(ui.error);
    // The answer names what failed ("Could not get the MW of X: ..."); the detail is the cause.
    ui.error.appendChild(el("p", answer || detail, "detail"));
    if (answer && !answer.includes(detail)) ui.error.appendChild(el("p", detail, "cause"));
    if (fixes && fixes.length) {
      const list = el("ul", null, "corrections");
      list.setAttribute("aria-label", "Ask again with");
      for (const fix of fixes) {
        const button = el("button", fix.text, "example correction");
        button.type = "button";
        button.title = fix.query;
        button.addEventListener("click", () => {
          ui.query.value = fix.query;
          ask(fix.query);
        });
        const item = el("li");
        item.appendChild(button);
        list.appendChild(item);
      }
      ui.error.append(el("p", "Ask again with:", "corrections-title"), list);
    }
    ui.error.hidden = false;
  }

  function finish() {
    finished = true;
    if (source) source.close();
    source = null;
    ui.ask.disabled = false;
    document.body.removeAttribute("aria-busy");
  }

  function reset() {
    stepItems.clear();
    clear(ui.steps);
    clear(ui.results);
    clear(ui.problems);
    clear(ui.error);
    ui.error.hidden = true;
    ui.answer.textContent = "";
    ui.answerSection.hidden = true;
    ui.resultsSection.hidden = true;
    ui.progress.value = 0;
    ui.progressText.textContent = "0%";
    ui.run.hidden = false;
  }

  function sessionId() {
    let id = null;
    try {
      id = sessionStorage.getItem(SESSION_KEY);
    } catch (_) {
      id = null; // storage disabled: follow-ups then work within this page only
    }
    if (!id || !/^[A-Za-z0-9_.:-]{1,128}$/.test(id)) {
      // getRandomValues works on plain http too, unlike crypto.randomUUID.
      const bytes = crypto.getRandomValues(new Uint8Array(16));
      id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      try {
        sessionStorage.setItem(SESSION_KEY, id);
      } catch (_) {
        // keep the id for this page only
      }
    }
    return id;
  }

  function ask(text) {
    const query = text.trim();
    if (!query) return;
    if (source) source.close();
    reset();
    finished = false;
    ui.ask.disabled = true;
    document.body.setAttribute("aria-busy", "true");
    const params = new URLSearchParams({ q: query, session_id: sessionId() });
    const stream = new EventSource(`/v1/query/stream?${params}`);
    source = stream;
    const handle = (type) => (event) => {
      if (stream !== source) return; // a newer question replaced this one
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      onEvent(type, data);
    };
    for (const type of EVENT_TYPES) {
      if (type !== "error") stream.addEventListener(type, handle(type));
    }
    stream.onmessage = (event) => { // events sent without an `event:` line
      let data = {};
      try {
        data = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (stream === source && typeof data.type === "string") onEvent(data.type, data);
    };
    // `error` is both the server's error event (with data) and EventSource's own failure.
    stream.addEventListener("error", (event) => {
      if (stream !== source) return;
      if (typeof event.data === "string" && event.data) {
        handle("error")(event);
      } else if (!finished) {
        finish();
        showError("The connection to ChemAgent failed before the answer arrived. Try again.");
      }
    });
  }

  // ---- wiring -------------------------------------------------------------------------

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask(ui.query.value);
  });
  for (const button of document.querySelectorAll("button.example")) {
    button.addEventListener("click", () => {
      ui.query.value = button.textContent;
      ask(ui.query.value);
    });
  }
  const initial = new URLSearchParams(window.location.search).get("q");
  if (initial) {
    ui.query.value = initial;
    ask(initial);
  }
  fetch("/version").then((r) => (r.ok ? r.json() : null)).then((info) => {
    if (!info || !isObject(info.library)) return;
    ui.about.textContent = `ChemAgent ${info.version} · library ${info.library.name} ` +
      `(${info.library.size} compounds)`;
  }).catch(() => {});
})();
