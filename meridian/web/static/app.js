/* Meridian's page behaviour: small Alpine components and htmx glue. No build step. */
"use strict";

function csrfToken() { return document.body.dataset.csrf || ""; }

function toast(message, kind) {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = message;
  box.className = "toast " + (kind || "error");
  box.hidden = false;
  clearTimeout(box._timer);
  box._timer = setTimeout(() => { box.hidden = true; }, 6000);
}

/* Problem details (RFC 9457) → one readable sentence per error, each once. The server words
   them in the page's language (http/problems.py); as there, a plain input's name leads its
   message, and a dotted path (fields.total.expression) is an address the message names in
   words, so it is not shown. */
function problemLines(problem) {
  if (problem && Array.isArray(problem.errors) && problem.errors.length) {
    const lines = problem.errors.map((e) => (e.field && !String(e.field).includes(".") ? e.field + ": " : "") + e.message);
    return [...new Set(lines)];
  }
  const text = problem && (problem.detail || problem.title);
  return text ? [text] : [];
}

/* A stage gate's refusal names each unmet criterion in both languages. */
function gateText(error) {
  const zh = document.documentElement.lang.startsWith("zh");
  return (zh ? error.message_zh : error.message_en) || error.message;
}

function problemText(problem) {
  if (problem && problem.code === "stage_gate" && Array.isArray(problem.errors)) {
    return problem.errors.map((e) => "• " + gateText(e)).join("\n");
  }
  return problemLines(problem).join("\n") || document.body.dataset.errorText || "Error";
}

async function sendJSON(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, data };
}

/* htmx: show server errors of fragment requests where the user is. */
document.addEventListener("htmx:responseError", (event) => {
  const text = event.detail.xhr.responseText || "";
  let message = event.detail.xhr.statusText;
  try { message = problemText(JSON.parse(text)); } catch (_) {
    const doc = new DOMParser().parseFromString(text, "text/html");
    const detail = doc.querySelector("[data-testid=error-detail]");
    if (detail) message = detail.textContent;
  }
  toast(message);
});

/* Behaviour that markup asks for with data attributes, since pages run no inline script or
   inline handlers (Content-Security-Policy): */
/* a form that asks before it is sent, */
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
/* a select that sends its form as soon as it changes, */
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-submit-on-change]")) event.target.form.submit();
});
/* the login page's language links, */
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-language]");
  if (!link) return;
  event.preventDefault();
  document.cookie = "meridian_lang=" + link.dataset.language + ";path=/";
  window.location.reload();
});
/* a template editor's button that inserts the placeholder picked in its list at the cursor, */
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-insert-placeholder]");
  if (!button) return;
  const body = document.getElementById(button.dataset.target);
  const snippet = document.getElementById(button.dataset.insertPlaceholder).value;
  const start = body.selectionStart, end = body.selectionEnd;
  body.value = body.value.slice(0, start) + snippet + body.value.slice(end);
  body.selectionStart = body.selectionEnd = start + snippet.length;
  body.focus();
});
/* an edit conflict's choice for one field: "theirs" leaves the field out of the form, so the
   value saved by the other person stands; "mine" sends what its input holds, */
document.addEventListener("change", (event) => {
  const choice = event.target.closest("input[data-conflict-choice]");
  if (!choice) return;
  const box = document.querySelector(`fieldset[data-conflict-input="${choice.dataset.conflictChoice}"]`);
  if (box) box.disabled = choice.value === "theirs";
});
/* Enter in a picker's search box searches; it never sends the form around it (the bulk bar's
   first button deletes), */
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches && event.target.matches("input.link-search")) event.preventDefault();
});
/* a grid cell being edited saves on Enter, or as soon as a choice or a checkbox changes (htmx
   trigger filters would need eval), */
document.addEventListener("keyup", (event) => {
  const editor = event.target.closest("[data-cell-editor]");
  if (editor && event.key === "Enter") htmx.trigger(editor, "cell-save");
});
document.addEventListener("change", (event) => {
  const editor = event.target.closest("[data-cell-editor]");
  if (editor && (event.target.tagName === "SELECT" || event.target.type === "checkbox")) {
    htmx.trigger(editor, "cell-save");
  }
});
/* and the app page's chart of records per form. */
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("form-chart");
  if (!box || !window.echarts) return;
  const chart = window.echarts.init(box);
  chart.setOption({
    grid: { left: 48, right: 16, top: 16, bottom: 32 },
    tooltip: {},
    xAxis: { type: "category", data: JSON.parse(box.dataset.labels) },
    yAxis: { type: "value" },
    series: [{ type: "bar", data: JSON.parse(box.dataset.values), itemStyle: { color: "#1f6feb" } }],
  });
  window.addEventListener("resize", () => chart.resize());
});

/* Grid headers: click sorts by the column, shift-click adds it as a further sort key. */
document.addEventListener("click", (event) => {
  const th = event.target.closest("table.grid th.sortable");
  if (!th) return;
  const table = th.closest("table");
  const key = th.dataset.key;
  let keys = (table.dataset.sort || "").split(",").filter(Boolean);
  const current = keys.find((k) => k.replace(/^-/, "") === key);
  const next = current === key ? "-" + key : key;
  if (event.shiftKey) {
    keys = current ? keys.map((k) => (k === current ? next : k)) : [...keys, next];
  } else {
    keys = [current ? next : key];
  }
  const url = new URL(window.location.href);
  url.searchParams.set("sort", keys.join(","));
  window.location.href = url.toString();
});

/* Column widths: dragged with the header's resize handle, remembered per form in this browser. */
function restoreWidths() {
  const table = document.querySelector("table.grid");
  if (!table) return;
  const store = "meridian:widths:" + location.pathname;
  const widths = JSON.parse(localStorage.getItem(store) || "{}");
  table.querySelectorAll("th[data-key]").forEach((th) => {
    if (widths[th.dataset.key]) th.style.width = widths[th.dataset.key];
    new ResizeObserver(() => {
      if (!th.style.width && !th.offsetWidth) return;
      widths[th.dataset.key] = th.offsetWidth + "px";
      localStorage.setItem(store, JSON.stringify(widths));
    }).observe(th);
  });
}
document.addEventListener("DOMContentLoaded", restoreWidths);

const OPS = {
  text: ["contains", "eq", "ne", "starts_with", "is_blank"],
  number: ["eq", "ne", "gt", "gte", "lt", "lte", "is_blank"],
  date: ["eq", "gt", "gte", "lt", "lte", "is_blank"],
  select: ["eq", "ne", "is_blank"],
  multi: ["contains", "is_blank"],
  bool: ["eq"],
  id: ["eq", "ne", "is_blank"],
};

document.addEventListener("alpine:init", () => {
  Alpine.data("gridTools", (fields, filter, columns, opLabels) => ({
    open: "",
    fields,
    columns,
    match: filter && filter.or ? "or" : "and",
    rows: (filter ? (filter.and || filter.or || [filter]) : []).filter((c) => c.field).map((c) => ({ ...c })),
    opLabels,
    /* the value input the field's type asks for (FieldType.filter_input) */
    kind(key) {
      const f = this.fields.find((x) => x.key === key);
      return (f && OPS[f.input]) ? f.input : "text";
    },
    /* the operators of the input's kind that the field's type declares */
    opsFor(key) {
      const f = this.fields.find((x) => x.key === key);
      const ops = OPS[this.kind(key)];
      return f && f.ops ? ops.filter((op) => f.ops.includes(op)) : ops;
    },
    optionsFor(key) {
      const f = this.fields.find((x) => x.key === key);
      if (this.kind(key) === "bool") return [{ value: "true", label: "✓" }, { value: "false", label: "—" }];
      return (f && f.options) || [];
    },
    inputType(key) { return this.kind(key) === "date" ? "date" : "text"; },
    needsValue(op) { return op !== "is_blank"; },
    fieldChanged(row) {
      if (!this.opsFor(row.field).includes(row.op)) row.op = this.opsFor(row.field)[0];
      const options = this.optionsFor(row.field);
      row.value = options.length ? options[0].value : "";
    },
    addRow() {
      const f = this.fields[0];
      this.rows.push({ field: f.key, op: this.opsFor(f.key)[0], value: "" });
    },
    value(row) {
      if (row.op === "is_blank") return true;
      const kind = this.kind(row.field);
      if (kind === "bool") return row.value === "true";
      if (kind === "id" && /^\d+$/.test(row.value)) return Number(row.value);
      return row.value;
    },
    apply() {
      const conditions = this.rows.map((r) => ({ field: r.field, op: r.op, value: this.value(r) }));
      const url = new URL(window.location.href);
      url.searchParams.delete("cursor");
      if (conditions.length) url.searchParams.set("filter", JSON.stringify({ [this.match]: conditions }));
      else url.searchParams.delete("filter");
      window.location.href = url.toString();
    },
    /* the fields a user may show or hide (system columns always show) */
    columnChoices() {
      return this.fields.filter((f) => !["owner_id", "created_at", "updated_at"].includes(f.key));
    },
    clearFilter() {
      this.rows = [];
      this.apply();
    },
    applyColumns() {
      const url = new URL(window.location.href);
      url.searchParams.set("columns", this.columns.join(","));
      window.location.href = url.toString();
    },
  }));

  /* the grid's row checkboxes: which records a bulk action applies to */
  Alpine.data("bulkSelection", () => ({
    selected: [],
    /* Exactly two records selected: they can be merged (the field chooser page). */
    get pair() { return this.selected.length === 2; },
    get mergeHref() { return this.$root.dataset.merge + "?ids=" + this.selected.join(","); },
    selectAll(event) {
      const boxes = this.$root.querySelectorAll("input[name=ids]");
      this.selected = event.target.checked ? Array.from(boxes, (box) => box.value) : [];
    },
  }));

  /* Attachments: upload each file with a progress bar, checked against the field's rules;
     the field keeps the stored files' tokens. */
  Alpine.data("upload", (key, ids, form) => ({
    ids: [...ids],
    files: ids.map((id) => ({ id, name: "#" + id })),
    busy: false,
    progress: 0,
    send(event) {
      for (const file of event.target.files) {
        const body = new FormData();
        body.append("file", file);
        if (form) { body.append("form", form); body.append("field", key); }
        const xhr = new XMLHttpRequest();
        xhr.open("POST", "/api/v1/files");
        xhr.setRequestHeader("X-CSRF-Token", csrfToken());
        this.busy = true;
        xhr.upload.onprogress = (e) => { if (e.lengthComputable) this.progress = Math.round((100 * e.loaded) / e.total); };
        xhr.onload = () => {
          this.busy = false;
          if (xhr.status === 201) {
            const stored = JSON.parse(xhr.responseText);
            this.ids.push(stored.id);
            this.files.push({ id: stored.id, name: stored.name });
          } else {
            try { toast(problemText(JSON.parse(xhr.responseText))); } catch (_) { toast(xhr.statusText); }
          }
        };
        xhr.send(body);
      }
      event.target.value = "";
    },
  }));

  /* Child-table lines edited in place; posted as JSON with the parent. */
  Alpine.data("lines", (rows, keys) => ({
    rows: rows.map((r) => ({ ...r })),
    add() { this.rows.push(Object.fromEntries(keys.map((k) => [k, ""]))); },
    posted() { return JSON.stringify(this.rows); },
  }));

  /* Form designer: the whole form is client state until saved; every edit can be undone. */
  let nextId = 1;
  const withIds = (draft) => {
    draft.sections.forEach((s) => { s._id = nextId++; });
    draft.fields.forEach((f) => { f._id = nextId++; f._saved = !draft.new; });
    draft.title_field = draft.title_field || "";
    return draft;
  };
  const CLEAN = ["_id", "_saved"];
  const BLANK = { select: { options: [] }, multi_select: { options: [] }, child_table: { fields: [{ label: "", type: "text" }] }, link: { related_columns: [] } };

  Alpine.data("designer", (draft, palette, appKey) => ({
    form: withIds(draft),
    palette,
    selectedId: null,
    history: [],
    snapshot: "",
    preview: false,
    saving: false,
    saved: false,
    savedUrl: "",
    problems: [],
    problemTitle: "",
    formula: { message: "", ok: false, type: "" },
    text: JSON.parse(document.getElementById("designer-text").textContent),
    /* the fields a link's related list may show: saved ones of this form, other than the
       link itself, line items and files */
    relatedChoices() {
      const selected = this.selected;
      return this.form.fields.filter((f) => f.key && f !== selected && this.typeOf(f.type).fits_column);
    },
    /* fields that already have a key: the title field must be one of them */
    keyedFields() { return this.form.fields.filter((candidate) => candidate.key); },
    init() {
      this.snapshot = JSON.stringify(this.form);
      Sortable.create(this.$refs.palette, {
        group: { name: "fields", pull: "clone", put: false }, sort: false, forceFallback: true,
      });
      this.$nextTick(() => this.bindSections());
      this.$watch("form.sections.length", () => this.$nextTick(() => this.bindSections()));
    },
    bindSections() {
      this.$refs.canvas.querySelectorAll(".section-drop").forEach((list) => {
        if (list._sortable) return;
        list._sortable = Sortable.create(list, {
          group: { name: "fields", pull: true, put: true }, animation: 120, forceFallback: true,
          draggable: ".designer-field",
          /* the dragged field's clone (the ghost) must not be taken for a component by Alpine */
          onChoose: (event) => event.item.setAttribute("x-ignore", ""),
          onUnchoose: (event) => event.item.removeAttribute("x-ignore"),
          onAdd: (event) => {
            const type = event.item.dataset.type;
            if (!type) return;
            event.item.remove();   /* a clone from the palette: Alpine draws the new field */
            this.addField(type, Number(event.to.dataset.section), event.newDraggableIndex);
          },
          onEnd: (event) => {
            if (event.item.dataset.type) return;
            const from = Number(event.from.dataset.section);
            const to = Number(event.to.dataset.section);
            /* put the DOM back; the state decides the order and Alpine redraws it */
            event.to.removeChild(event.item);
            event.from.insertBefore(event.item, event.from.children[event.oldDraggableIndex] || null);
            this.move(from, event.oldDraggableIndex, to, event.newDraggableIndex);
          },
        });
      });
    },
    get selected() { return this.form.fields.find((f) => f._id === this.selectedId) || null; },
    sectionFields(index) { return this.form.fields.filter((f) => f.section === index); },
    typeLabel(type) { const item = this.palette.find((p) => p.type === type); return item ? item.label : type; },
    /* what the field's type says of itself (FieldType.designer_settings, widget, input_type) */
    typeOf(type) { return this.palette.find((p) => p.type === type) || { settings: [], widget: "input", input_type: "text", fits_column: true }; },
    offers(setting) { return !!this.selected && this.typeOf(this.selected.type).settings.includes(setting); },
    remember() {
      const now = JSON.stringify(this.form);
      if (now !== this.snapshot) { this.history.push(this.snapshot); this.snapshot = now; this.saved = false; }
    },
    undo() {
      const previous = this.history.pop();
      if (previous === undefined) return;
      this.form = JSON.parse(previous);
      this.snapshot = previous;
      if (!this.selected) this.selectedId = null;
      this.$nextTick(() => this.bindSections());
    },
    insertAt(field, section, position) {
      const inSection = this.sectionFields(section);
      const before = inSection[position];
      field.section = section;
      if (before) this.form.fields.splice(this.form.fields.indexOf(before), 0, field);
      else if (inSection.length) this.form.fields.splice(this.form.fields.indexOf(inSection[inSection.length - 1]) + 1, 0, field);
      else this.form.fields.push(field);
    },
    addField(type, section, position) {
      const field = { _id: nextId++, _saved: false, key: "", label: this.typeLabel(type), type, required: false, help: "",
        ...JSON.parse(JSON.stringify(BLANK[type] || {})) };
      this.insertAt(field, section, position);
      this.selectedId = field._id;
      this.remember();
    },
    move(from, oldIndex, to, newIndex) {
      const field = this.sectionFields(from)[oldIndex];
      if (!field) return;
      this.form.fields.splice(this.form.fields.indexOf(field), 1);
      this.insertAt(field, to, newIndex);
      this.remember();
    },
    addSection() { this.form.sections.push({ _id: nextId++, title: "", columns: 2 }); this.remember(); },
    removeSection(index) {
      this.form.fields.forEach((f) => { if (f.section === index) f.section = 0; else if (f.section > index) f.section -= 1; });
      this.form.sections.splice(index, 1);
      if (!this.form.sections.length) this.form.sections.push({ _id: nextId++, title: "", columns: 2 });
      this.remember();
    },
    /* an option's value defaults to its first label */
    optionNamed(option) {
      option.value = option.value || option.label;
      this.remember();
    },
    /* an attachment field's accepted types, typed as ".pdf .png" (spaces or commas) */
    acceptedText() { return (this.selected.accept || []).join(" "); },
    setAccepted(event) {
      this.selected.accept = event.target.value.split(/[\s,，]+/).filter(Boolean);
      this.remember();
    },
    /* its largest file, typed in MB and kept in bytes */
    largestMegabytes() { return this.selected.max_size ? this.selected.max_size / 1048576 : ""; },
    setLargest(event) {
      const megabytes = parseFloat(event.target.value);
      this.selected.max_size = event.target.value ? Math.max(1, Math.round(megabytes * 1048576)) : null;
      this.remember();
    },
    removeOption(index) {
      this.selected.options.splice(index, 1);
      this.remember();
    },
    addLineField() {
      this.selected.fields.push({ label: "", type: "text" });
      this.remember();
    },
    removeLineField(index) {
      this.selected.fields.splice(index, 1);
      this.remember();
    },
    addOption() {
      const colors = ["#1f6feb", "#1e8e3e", "#f29900", "#d93025", "#9334e6", "#12b5cb", "#8c8c8c"];
      this.selected.options.push({ value: "", label: "", color: colors[this.selected.options.length % colors.length] });
      this.remember();
    },
    removeSelected() {
      this.form.fields.splice(this.form.fields.indexOf(this.selected), 1);
      this.selectedId = null;
      this.remember();
    },
    payload() {
      const clean = (o) => Object.fromEntries(Object.entries(o).filter(([k, v]) => !CLEAN.includes(k) && v !== "" && v !== null));
      return {
        ...clean({ key: this.form.key, label: this.form.label, description: this.form.description, title_field: this.form.title_field }),
        new: this.form.new,
        sections: this.form.sections.map((s) => ({ title: s.title || "", columns: Number(s.columns) })),
        fields: this.form.fields.map((f) => {
          const out = clean(f);
          if (out.options) out.options = out.options.filter((o) => o.label).map((o) => ({ ...o, value: o.value || o.label }));
          return out;
        }),
      };
    },
    async checkFormula() {
      const result = await sendJSON("POST", `/apps/${appKey}/designer/formula`, { expression: this.selected.expression, draft: this.payload() });
      this.formula = result.ok ? { message: result.data.ok ? "" : result.data.message, ok: result.data.ok, type: result.data.type || "" } : { message: problemText(result.data), ok: false, type: "" };
    },
    async save() {
      this.saving = true;
      this.problems = [];
      const result = await sendJSON("POST", `/apps/${appKey}/designer`, this.payload());
      this.saving = false;
      if (!result.ok) {
        const problem = result.data || {};
        this.problemTitle = problem.code === "schema_change_refused" ? this.text.refused : this.text.failed;
        this.problems = [...problemLines(problem),
          ...(problem.offenders || []).map((o) => `${this.text.record} #${o.id}: ${JSON.stringify(o.value)}`)].filter(Boolean);
        return;
      }
      const selectedIndex = this.form.fields.indexOf(this.selected);
      this.form = withIds(result.data.draft);
      this.selectedId = selectedIndex >= 0 && this.form.fields[selectedIndex] ? this.form.fields[selectedIndex]._id : null;
      this.history = [];
      this.snapshot = JSON.stringify(this.form);
      this.saved = true;
      this.savedUrl = result.data.url;
      history.replaceState(null, "", `/apps/${appKey}/designer/${this.form.key}`);
      this.$nextTick(() => this.bindSections());
    },
  }));

  /* Rule builder: trigger, condition (rows written as an expression, or typed), actions. */
  /* The keys the builder writes for each trigger and action type. Editing a rule keeps the
     other keys it came with (a territory table, a bot, an activity form…) while the type stays. */
  const BUILT = {
    record_created: ["type"], record_updated: ["type"], record_deleted: ["type"],
    field_changed: ["type", "field", "to"], date_relative: ["type", "field", "offset_days"],
    no_activity: ["type", "days"], schedule: ["type", "cron"],
    update: ["type", "values"], create: ["type", "form", "values", "link_field", "owner"],
    notify: ["type", "to", "levels", "title", "body"], assign: ["type", "strategy", "users", "reason_field"],
    tag: ["type", "field", "add", "remove"], webhook: ["type", "url", "secret"],
  };
  const keepUnbuilt = (original, built) => {
    if (!original || original.type !== built.type) return built;
    const kept = Object.entries(original).filter(([key]) => !BUILT[built.type].includes(key));
    return { ...Object.fromEntries(kept), ...built };
  };
  const blankAction = (formKey) => ({ type: "notify", pairs: [], form: formKey, link_field: "", to_kind: "owner", users: [], levels: 1,
    title: "", body: "", strategy: "round_robin", reason_field: "", field: "", add: [], remove: [], url: "", secret: "",
    owner_kind: "owner", owner_user: "", owner_field: "", original: null });
  /* A created record's owner as rules/owners.py names a person: "owner" (the triggering
     record's, the default), {user}, {field} or {strategy, users}; the builder's choice of way. */
  const ownerWay = (owner) => {
    if (owner === undefined || owner === "owner") return { owner_kind: "owner" };
    if (typeof owner === "number") return { owner_kind: "user", owner_user: String(owner) };
    if ("user" in owner) return { owner_kind: "user", owner_user: String(owner.user ?? "") };
    if ("field" in owner) return { owner_kind: "field", owner_field: owner.field || "" };
    return { owner_kind: "strategy", strategy: owner.strategy, users: (owner.users || []).map(String) };
  };

  Alpine.data("ruleBuilder", (catalog, existing) => ({
    forms: catalog.forms,
    users: catalog.users,
    existing,
    rule: { label: "", form_key: catalog.forms.length ? catalog.forms[0].key : "", condition: "", enabled: true },
    trigger: { type: "record_created", field: "", to: [], offset_days: -30, days: 30, cron: "0 9 * * 1" },
    conditions: [],
    actions: [],
    problems: [],
    init() {
      if (!existing) return;
      this.rule = { label: existing.label, form_key: existing.form_key, condition: existing.condition, enabled: existing.enabled };
      this.trigger = { ...this.trigger, ...existing.trigger, to: existing.trigger.to || [] };
      this.actions = existing.actions.map((a) => this.editable(a));
    },
    editable(a) {
      const pairs = Object.entries(a.values || {}).map(([field, v]) => (v !== null && typeof v === "object"
        ? { field, mode: "expr" in v ? "expr" : "field", value: v.expr ?? v.field }
        : { field, mode: "value", value: v ?? "" }));
      const to = a.to === undefined ? "owner" : a.to;
      return { ...blankAction(this.rule.form_key), ...a, pairs, original: a,
        to_kind: Array.isArray(to) ? "users" : to,
        users: (Array.isArray(to) ? to : (a.users || [])).map(String), levels: a.levels || 1,
        add: a.add || [], remove: a.remove || [], title: a.title || "", body: a.body || "",
        link_field: a.link_field || "", reason_field: a.reason_field || "", secret: a.secret || "",
        ...(a.type === "create" ? ownerWay(a.owner) : {}) };
    },
    form(key) { return this.forms.find((f) => f.key === (key || this.rule.form_key)) || { fields: [] }; },
    /* fields a condition or trigger can name: not lines or files (FieldType.filter_input) */
    fields(key) { return this.form(key).fields.filter((f) => f.input !== null); },
    /* the fields a trigger may watch: dates only for date-relative triggers */
    triggerFields() {
      return this.fields().filter((f) => this.trigger.type !== "date_relative" || f.expr === "date");
    },
    /* fields whose type fits a purpose the server names: free_text, tags, links */
    fieldsWith(fit) { return this.fields().filter((f) => f[fit]); },
    /* the triggering record's fields that hold one user: who may own a record a rule creates */
    userFields() { return this.form().fields.filter((f) => f.one_user); },
    options(fieldKey) { const f = this.form().fields.find((x) => x.key === fieldKey); return (f && f.options) || []; },
    linksBack(formKey) { return this.form(formKey).fields.filter((f) => f.links && f.target === this.rule.form_key && !f.many); },
    formChanged() { this.conditions = []; this.rule.condition = ""; this.trigger.field = ""; },
    addCondition() { const f = this.fields()[0]; this.conditions.push({ field: f ? f.key : "", op: "=", value: "" }); },
    literal(fieldKey, value) {
      const f = this.form().fields.find((x) => x.key === fieldKey);
      if (f && f.input === "number" && f.expr === "number" && /^-?\d+(\.\d+)?$/.test(value)) return value;
      if (f && f.expr === "boolean") return value === "true" || value === "是" ? "true" : "false";
      if (f && f.expr === "date" && /^\d{4}-\d{2}-\d{2}$/.test(value)) return `DATE("${value}")`;
      return JSON.stringify(String(value));
    },
    removeCondition(index) {
      this.conditions.splice(index, 1);
      this.writeCondition();
    },
    writeCondition() {
      this.rule.condition = this.conditions.map((c) => {
        if (c.op === "blank") return `ISBLANK(${c.field})`;
        if (c.op === "contains") return `CONTAINS(${c.field}, ${JSON.stringify(String(c.value))})`;
        return `${c.field} ${c.op} ${this.literal(c.field, c.value)}`;
      }).join(" and ");
    },
    addAction() { this.actions.push(blankAction(this.rule.form_key)); },
    action(a) { return keepUnbuilt(a.original, this.builtAction(a)); },
    builtAction(a) {
      const values = () => Object.fromEntries(a.pairs.map((p) => [p.field, p.mode === "value" ? p.value : { [p.mode]: p.value }]));
      const ids = (list) => list.map(Number);
      switch (a.type) {
        case "update": return { type: "update", values: values() };
        case "create": return { type: "create", form: a.form, values: values(), ...(a.link_field ? { link_field: a.link_field } : {}),
          ...this.ownerChoice(a) };
        case "notify": return { type: "notify", to: a.to_kind === "users" ? ids(a.users) : a.to_kind,
          ...(a.to_kind === "department_head" && Number(a.levels) > 1 ? { levels: Number(a.levels) } : {}),
          title: a.title, body: a.body };
        case "assign": return { type: "assign", strategy: a.strategy, users: ids(a.users), ...(a.reason_field ? { reason_field: a.reason_field } : {}) };
        case "tag": return { type: "tag", field: a.field, add: a.add, remove: a.remove };
        default: return { type: "webhook", url: a.url, ...(a.secret ? { secret: a.secret } : {}) };
      }
    },
    /* the owner of a record the action creates; none given means the triggering record's */
    ownerChoice(a) {
      switch (a.owner_kind) {
        case "user": return { owner: { user: a.owner_user ? Number(a.owner_user) : null } };
        case "field": return { owner: { field: a.owner_field } };
        case "strategy": return { owner: { strategy: a.strategy, users: a.users.map(Number) } };
        default: return {};
      }
    },
    triggerDocument() { return keepUnbuilt(existing && existing.trigger, this.builtTrigger()); },
    builtTrigger() {
      const t = this.trigger;
      switch (t.type) {
        case "field_changed": return { type: t.type, field: t.field, ...(t.to.length ? { to: t.to } : {}) };
        case "date_relative": return { type: t.type, field: t.field, offset_days: Number(t.offset_days) };
        case "no_activity": return { type: t.type, days: Number(t.days) };
        case "schedule": return { type: t.type, cron: t.cron };
        default: return { type: t.type };
      }
    },
    async save() {
      const document = { ...this.rule, trigger: this.triggerDocument(), actions: this.actions.map((a) => this.action(a)) };
      const result = existing
        ? await sendJSON("PUT", `/admin/rules/${existing.id}`, document)
        : await sendJSON("POST", "/admin/rules", document);
      if (result.ok) { window.location.href = result.data.url; return; }
      const problem = result.data || {};
      this.problems = problemLines(problem);
    },
  }));

  /* Kanban: a dropped card changes the grouping field; a refused move goes back, with why. */
  /* The pipeline designer: stages dragged into order; the order goes with the save. */
  Alpine.data("stageOrder", () => ({
    init() {
      const write = () => {
        this.$refs.order.value = Array.from(this.$refs.stages.children).map((li) => li.dataset.key).join(",");
      };
      Sortable.create(this.$refs.stages, { animation: 150, forceFallback: true, onEnd: write });
      write();
    },
  }));

  Alpine.data("kanban", (formKey, field, canMove) => ({
    init() {
      this.$root.querySelectorAll(".kanban-cards").forEach((list) => {
        Sortable.create(list, {
          group: "kanban",
          animation: 150,
          forceFallback: true,
          disabled: !canMove,
          onEnd: async (event) => {
            if (event.from === event.to) return;
            const card = event.item;
            const value = event.to.dataset.value;
            const body = { field, value: value || null, version: Number(card.dataset.version) };
            let result = await sendJSON("POST", `/forms/${formKey}/records/${card.dataset.id}/move`, body);
            const errors = (result.data && result.data.errors) || [];
            if (!result.ok && errors.length && errors.every((e) => e.code === "reason")) {
              /* a move back needs a reason: ask for one, and try again with it */
              const reason = window.prompt(gateText(errors[0]));
              if (reason) {
                result = await sendJSON("POST", `/forms/${formKey}/records/${card.dataset.id}/move`, { ...body, reason });
              }
            }
            if (!result.ok) {
              event.from.insertBefore(card, event.from.children[event.oldIndex] || null);
              toast(problemText(result.data));
              return;
            }
            card.dataset.version = result.data._version;
            this.recount();
          },
        });
      });
    },
    /* the columns' counts and sums are of every record, not of the cards loaded: ask the
       server for them again after a drop */
    async recount() {
      const response = await fetch(this.$root.dataset.totals, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const totals = (await response.json()).columns;
      this.$root.querySelectorAll(".kanban-column").forEach((column) => {
        const total = totals[column.dataset.value] || { count: 0, sum: null };
        column.querySelector(".count").textContent = total.count;
        const more = column.querySelector(".more");
        const unseen = total.count - column.querySelectorAll(".kanban-card").length;
        if (more) {
          more.hidden = unseen <= 0;
          more.textContent = this.$root.dataset.more.replace("{count}", unseen);
        }
        const sum = column.querySelector(".sum");
        if (sum && total.sum !== null) sum.textContent = total.sum;
      });
    },
  }));
});
