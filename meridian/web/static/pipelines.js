/* The pipeline designer (/forms/{form}/pipelines): stages dragged into order, each stage's
   category, probability and SLA, and its entry and exit criteria edited through one small form
   per criterion kind. The stored format stays the pipeline document of
   flows/stages/pipelines.py; saving PUTs it to the API, and each refusal is shown beside the
   input it names (its path: stages.2.exit.0.config.expression). Loaded before Alpine starts;
   uses sendJSON, problemLines and toast from app.js. */
"use strict";

document.addEventListener("alpine:init", () => {
  let uid = 0;
  const KINDS = ["required_field", "condition", "related_record", "checklist", "sop_task", "approval", "start_approval"];

  /* a criterion's settings with every input the kind's form binds to */
  const blankConfig = (kind) => {
    switch (kind) {
      case "required_field": return { field: "" };
      case "condition": return { expression: "" };
      case "related_record": return { form: "", link_field: "", condition: "" };
      case "checklist": return { item: "", label: "", label_en: "", roles: [] };
      case "sop_task": return { item: "", title: "", title_en: "", due_in: { amount: 48, unit: "hours", basis: "business" } };
      case "approval": return { flow: "", link_field: "" };
      case "start_approval": return { flow: "", submitter: "mover" };
      default: return {};
    }
  };

  const editableCriterion = (c) => {
    const kind = c.kind || "required_field";
    const known = KINDS.includes(kind);
    const config = { ...blankConfig(kind), ...(c.config || {}) };
    if (kind === "sop_task") config.due_in = { ...blankConfig("sop_task").due_in, ...(c.config && c.config.due_in) };
    return { _id: ++uid, kind, known, config, raw: known ? "" : JSON.stringify(c.config || {}),
      label: c.label || "", label_en: c.label_en || "", said: c.said || "", rows: [] };
  };

  const editableStage = (s) => ({
    _id: ++uid, open: false, key: s.key, label: s.label || "", label_en: s.label_en || "",
    category: s.category || "open", probability: s.probability || 0,
    forward_to: s.forward_to || [], custom_forward: Array.isArray(s.forward_to),
    has_sla: !!s.sla, sla: { amount: 24, unit: "hours", warn_percent: null, ...(s.sla || {}),
      basis: s.sla && !s.sla.business ? "calendar" : "business" },
    entry: (s.entry || []).map(editableCriterion), exit: (s.exit || []).map(editableCriterion),
  });

  /* drop empty optional settings, so the document says only what the builder chose */
  const storedConfig = (c) => {
    if (!c.known) { try { return JSON.parse(c.raw || "{}"); } catch (_) { return c.raw; } }
    const config = { ...c.config };
    ["condition", "link_field", "label_en", "title_en"].forEach((key) => { if (config[key] === "") delete config[key]; });
    if (Array.isArray(config.roles) && !config.roles.length) delete config.roles;
    if (config.due_in) config.due_in = { ...config.due_in, amount: Number(config.due_in.amount) };
    return config;
  };

  Alpine.data("pipelineDesigner", (catalog, chosen) => ({
    catalog,
    isNew: !chosen.stages.length || chosen.key === "new",
    doc: { key: chosen.key === "new" ? "" : chosen.key, label: chosen.label || "", label_en: chosen.label_en || "",
      stage_field: chosen.stage_field || (catalog.stage_fields[0] || {}).key || "",
      selector_field: chosen.selector_field || "", selector_value: chosen.selector_value || "",
      override_roles: chosen.override_roles || [] },
    stages: chosen.stages.map(editableStage),
    problems: {},
    others: [],
    saving: false,
    init() {
      Sortable.create(this.$refs.stages, {
        animation: 150, forceFallback: true, draggable: ".designer-stage", handle: ".drag-handle",
        /* the dragged stage's clone (the ghost) must not be taken for a component by Alpine */
        onChoose: (event) => event.item.setAttribute("x-ignore", ""),
        onUnchoose: (event) => event.item.removeAttribute("x-ignore"),
        onEnd: (event) => {
          const list = event.from;
          /* put the DOM back; the state decides the order and Alpine redraws it */
          list.removeChild(event.item);
          const items = list.querySelectorAll(":scope > .designer-stage");
          list.insertBefore(event.item, items[event.oldDraggableIndex] || null);
          const [moved] = this.stages.splice(event.oldDraggableIndex, 1);
          this.stages.splice(event.newDraggableIndex, 0, moved);
          this.problems = {};
        },
      });
    },
    /* --- what the pickers offer ---------------------------------------------------------- */
    stageOptions() {
      const field = this.catalog.stage_fields.find((f) => f.key === this.doc.stage_field);
      return field ? field.options : [];
    },
    unusedOptions() {
      const used = this.stages.map((s) => s.key);
      return this.stageOptions().filter((o) => !used.includes(o.value));
    },
    orderText() { return this.stages.map((s) => s.key).join(","); },
    otherStages(stage) { return this.stages.filter((s) => s !== stage); },
    fields() { return this.catalog.fields.filter((f) => f.input !== null); },
    related(key) { return this.catalog.related.find((r) => r.key === key) || { links: [], fields: [] }; },
    relatedFields(c) { return this.related(c.config.form).fields.filter((f) => f.input !== null); },
    ownFlows() { return this.catalog.flows.filter((f) => f.form === this.catalog.form); },
    flow(key) { return this.catalog.flows.find((f) => f.key === key) || { links: [], form: "" }; },
    /* a closed stage's line: category, probability, SLA and how many criteria it has */
    summary(stage) {
      const t = this.catalog.texts;
      const parts = [t[stage.category], `${stage.probability || 0}%`];
      if (stage.has_sla) parts.push(`${t.sla} ${stage.sla.amount} ${t[stage.sla.unit]}`);
      const count = stage.entry.length + stage.exit.length;
      if (count) {
        const form = t.criteria[new Intl.PluralRules(document.documentElement.lang || "en").select(count)];
        parts.push((form || t.criteria.other).replace("{count}", count));
      }
      return parts.join(" · ");
    },
    kindLabel(kind) { return this.catalog.kinds[kind] || kind; },
    /* --- editing --------------------------------------------------------------------------- */
    addStage(event) {
      const option = this.stageOptions().find((o) => o.value === event.target.value);
      event.target.value = "";
      if (!option) return;
      const stage = editableStage({ key: option.value, label: option.label });
      stage.open = true;
      this.stages.push(stage);
    },
    removeStage(index) { this.stages.splice(index, 1); this.problems = {}; },
    stageFieldChanged() {
      const options = this.stageOptions();
      this.stages = options.map((o) => editableStage({ key: o.value, label: o.label }));
    },
    addCriterion(stage, phase) { stage[phase].push(editableCriterion({ kind: "required_field" })); },
    removeCriterion(stage, phase, index) { stage[phase].splice(index, 1); this.problems = {}; },
    kindChanged(c) { c.known = KINDS.includes(c.kind); c.config = blankConfig(c.kind); c.rows = []; c.raw = "{}"; },
    relatedFormChanged(c) {
      const links = this.related(c.config.form).links;
      c.config.link_field = links.length ? links[0].key : "";
      c.config.condition = "";
      c.rows = [];
    },
    flowChanged(c) {
      const found = this.flow(c.config.flow);
      c.config.link_field = found.form === this.catalog.form ? "" : ((found.links[0] || {}).key || "");
    },
    /* the filter builder of a condition (the criterion's own, or a related record's) */
    addRow(c, fields) { const f = fields[0]; c.rows.push({ field: f ? f.key : "", op: "=", value: "" }); },
    removeRow(c, index, fields) { c.rows.splice(index, 1); this.writeExpression(c, fields); },
    options(fields, key) { const f = fields.find((x) => x.key === key); return (f && f.options) || []; },
    literal(fields, key, value) {
      const f = fields.find((x) => x.key === key);
      if (f && f.expr === "number" && /^-?\d+(\.\d+)?$/.test(value)) return value;
      if (f && f.expr === "boolean") return value === "true" || value === "是" ? "true" : "false";
      if (f && f.expr === "date" && /^\d{4}-\d{2}-\d{2}$/.test(value)) return `DATE("${value}")`;
      return JSON.stringify(String(value));
    },
    writeExpression(c, fields) {
      const text = c.rows.map((r) => {
        if (r.op === "blank") return `ISBLANK(${r.field})`;
        if (r.op === "filled") return `not ISBLANK(${r.field})`;
        if (r.op === "contains") return `CONTAINS(${r.field}, ${JSON.stringify(String(r.value))})`;
        return `${r.field} ${r.op} ${this.literal(fields, r.field, r.value)}`;
      }).join(" and ");
      if (c.kind === "condition") c.config.expression = text; else c.config.condition = text;
    },
    /* --- refusals beside their inputs ------------------------------------------------------ */
    hasProblems() { return Object.keys(this.problems).length > 0 || this.others.length > 0; },
    /* the rules that act on this stage's SLA warning or breach (an SLA's action is a rule) */
    slaRules(stage) { return this.catalog.sla_rules.filter((r) => !r.stages.length || r.stages.includes(stage.key)); },
    problem(path) { return this.problems[path] || ""; },
    stageProblem(si, key) { return this.problem(`stages.${si}.${key}`); },
    criterionProblem(si, phase, ci, key) {
      return this.problem(`stages.${si}.${phase}.${ci}.${key}`) || this.problem(`stages.${si}.${phase}.${ci}.config.${key}`);
    },
    criterionHasProblem(si, phase, ci) {
      const prefix = `stages.${si}.${phase}.${ci}.`;
      return Object.keys(this.problems).some((p) => p.startsWith(prefix));
    },
    /* --- saving ---------------------------------------------------------------------------- */
    document() {
      return {
        key: this.doc.key, label: this.doc.label, label_en: this.doc.label_en, stage_field: this.doc.stage_field,
        selector_field: this.doc.selector_field || null, selector_value: this.doc.selector_field ? this.doc.selector_value : null,
        override_roles: this.doc.override_roles,
        stages: this.stages.map((s) => ({
          key: s.key, label: s.label, label_en: s.label_en, category: s.category, probability: Number(s.probability),
          forward_to: s.custom_forward ? s.forward_to : null,
          sla: s.has_sla ? { amount: Number(s.sla.amount), unit: s.sla.unit, business: s.sla.basis === "business",
            warn_percent: s.sla.warn_percent ? Number(s.sla.warn_percent) : null } : null,
          entry: s.entry.map((c) => ({ kind: c.kind, config: storedConfig(c), label: c.label, label_en: c.label_en })),
          exit: s.exit.map((c) => ({ kind: c.kind, config: storedConfig(c), label: c.label, label_en: c.label_en })),
        })),
      };
    },
    async save() {
      this.saving = true;
      this.problems = {};
      this.others = [];
      const key = this.doc.key;
      if (!/^[a-z][a-z0-9_]{0,62}$/.test(key)) {
        this.problems = { key: this.catalog.texts.key };
        this.saving = false;
        return;
      }
      const result = await sendJSON("PUT", `/api/v1/forms/${this.catalog.form}/pipelines/${key}`, this.document());
      this.saving = false;
      if (result.ok) { window.location.href = `/forms/${this.catalog.form}/pipelines?pipeline=${key}&saved=1`; return; }
      const errors = (result.data && result.data.errors) || [];
      const placed = {};
      errors.forEach((e) => { const path = String(e.field || ""); if (path && !placed[path]) placed[path] = e.message; });
      this.problems = placed;
      this.stages.forEach((stage, index) => {
        if (Object.keys(placed).some((path) => path.startsWith(`stages.${index}.`))) stage.open = true;
      });
      /* every refusal is also listed above the form, each once: beside its input it says
         where, above it says that the save did not happen */
      this.others = errors.length ? [...new Set(errors.map((e) => e.message))] : problemLines(result.data);
      this.$nextTick(() => {
        const first = this.$root.querySelector(".field-problem:not(:empty)");
        if (first) first.scrollIntoView({ block: "center" });
      });
    },
  }));
});
