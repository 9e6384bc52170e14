/* Dashboards and the report builder: ECharts from the rows of /api/v1/reports/{id}/data.
   No build step, no inline script (Content-Security-Policy): pages pass what they need in
   data attributes. Uses toast, sendJSON and problemText from app.js. */
"use strict";

(function () {
  const FILTERS = ["date_from", "date_to", "owner", "department", "region", "as_of"];
  const PALETTE = ["#1f6feb", "#1e8e3e", "#f29900", "#d93025", "#8e44ad", "#12a4b4", "#e8710a", "#5f6368"];

  function filterQuery() {
    const given = new URLSearchParams(window.location.search);
    const kept = new URLSearchParams();
    FILTERS.forEach((key) => { if (given.get(key)) kept.set(key, given.get(key)); });
    return kept.toString();
  }

  function numeric(value) {
    if (value === null || value === undefined) return null;
    const number = Number(value);
    return Number.isNaN(number) ? null : number;
  }

  function shown(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return value.toLocaleString();
    if (/^-?\d+(\.\d+)?$/.test(String(value))) {
      const [whole, fraction] = String(value).split(".");
      return Number(whole).toLocaleString() + (fraction ? "." + fraction : "");
    }
    return String(value);
  }

  function labelOf(row, key, texts) {
    const label = row.labels[key];
    if (label !== null && label !== undefined) return String(label);
    const value = row.dimensions[key];
    return value === null || value === undefined ? texts.blank : String(value);
  }

  function headerOf(column) {
    return column.label || column.key;
  }

  /* The one number a number card or a gauge shows: the first formula (a rate, an average
     per customer), else the first measure. */
  function headline(data) {
    return data.columns.find((c) => c.role === "formula") || data.columns.find((c) => c.role === "measure");
  }

  /* ---- charts ------------------------------------------------------------------------- */

  function table(box, data, texts) {
    const columns = data.columns;
    const element = document.createElement("table");
    element.className = "list report-table";
    const head = element.createTHead().insertRow();
    columns.forEach((column) => {
      const th = document.createElement("th");
      th.textContent = headerOf(column);
      head.appendChild(th);
    });
    const body = element.createTBody();
    data.rows.forEach((row) => {
      const line = body.insertRow();
      if (row.rollup) line.className = "total";
      columns.forEach((column, index) => {
        const cell = line.insertCell();
        const text = column.role === "dimension"
          ? (column.key in row.dimensions ? labelOf(row, column.key, texts) : texts.total)
          : shown(row.measures[column.key]);
        if (index === 0 && row.drill) {
          const link = document.createElement("a");
          link.href = row.drill;
          link.textContent = text;
          cell.appendChild(link);
        } else {
          cell.textContent = text;
        }
        if (column.role !== "dimension") cell.className = "number";
      });
    });
    box.replaceChildren(element);
  }

  function pivot(box, data, texts) {
    const dims = data.columns.filter((c) => c.role === "dimension");
    const value = data.columns.find((c) => c.role !== "dimension");
    if (dims.length < 2 || !value) { table(box, data, texts); return; }
    const [rowDim, colDim] = dims;
    const rowKeys = [], colKeys = [], cells = new Map(), rowLabels = new Map(), colLabels = new Map();
    data.rows.forEach((row) => {
      const r = rowDim.key in row.dimensions ? JSON.stringify(row.dimensions[rowDim.key]) : "*";
      const c = colDim.key in row.dimensions ? JSON.stringify(row.dimensions[colDim.key]) : "*";
      if (r !== "*" && !rowLabels.has(r)) { rowKeys.push(r); rowLabels.set(r, labelOf(row, rowDim.key, texts)); }
      if (c !== "*" && !colLabels.has(c)) { colKeys.push(c); colLabels.set(c, labelOf(row, colDim.key, texts)); }
      cells.set(r + "|" + c, row);
    });
    const element = document.createElement("table");
    element.className = "list report-table pivot";
    element.dataset.testid = "pivot";
    const head = element.createTHead().insertRow();
    const corner = document.createElement("th");
    corner.textContent = headerOf(rowDim) + " \\ " + headerOf(colDim);
    head.appendChild(corner);
    const hasTotals = data.rows.some((row) => row.rollup);
    [...colKeys, ...(hasTotals ? ["*"] : [])].forEach((c) => {
      const th = document.createElement("th");
      th.textContent = c === "*" ? texts.total : colLabels.get(c);
      head.appendChild(th);
    });
    const body = element.createTBody();
    [...rowKeys, ...(hasTotals ? ["*"] : [])].forEach((r) => {
      const line = body.insertRow();
      if (r === "*") line.className = "total";
      const th = document.createElement("th");
      th.textContent = r === "*" ? texts.total : rowLabels.get(r);
      line.appendChild(th);
      [...colKeys, ...(hasTotals ? ["*"] : [])].forEach((c) => {
        const cell = line.insertCell();
        cell.className = "number";
        const row = cells.get(r + "|" + c);
        if (!row) { cell.textContent = "–"; return; }
        const link = document.createElement(row.drill ? "a" : "span");
        if (row.drill) link.href = row.drill;
        link.textContent = shown(row.measures[value.key]);
        cell.appendChild(link);
      });
    });
    box.replaceChildren(element);
  }

  function numberCard(box, data, texts) {
    const value = headline(data);
    const row = data.rows[0];
    const current = row ? row.measures[value.key] : null;
    const element = document.createElement("div");
    element.className = "number-card";
    const big = document.createElement(row && row.drill ? "a" : "div");
    big.className = "number-value";
    if (row && row.drill) big.href = row.drill;
    big.textContent = shown(current);
    element.appendChild(big);
    const caption = document.createElement("div");
    caption.className = "muted";
    caption.textContent = headerOf(value);
    element.appendChild(caption);
    if (data.previous) {
      const before = data.previous[value.key];
      const change = document.createElement("div");
      const a = numeric(current), b = numeric(before);
      let text = texts.previous + " " + shown(before);
      if (a !== null && b) {
        const percent = ((a - b) / Math.abs(b)) * 100;
        text += " · " + (percent >= 0 ? "▲ " : "▼ ") + Math.abs(percent).toFixed(1) + "%";
        change.className = percent >= 0 ? "success" : "error";
      }
      change.textContent = text;
      element.appendChild(change);
    }
    box.replaceChildren(element);
  }

  function option(data, texts) {
    const type = data.report ? data.report.chart.type : data.chartType;
    const chart = data.report ? data.report.chart : (data.chart || {});
    const dims = data.columns.filter((c) => c.role === "dimension");
    const values = data.columns.filter((c) => c.role !== "dimension");
    const rows = data.rows.filter((row) => !row.rollup);
    const first = values[0];
    if (type === "gauge") {
      const main = headline(data);
      const value = rows[0] ? numeric(rows[0].measures[main.key]) : 0;
      const max = numeric(chart.gauge_max) || Math.max(100, Math.ceil((value || 0) * 1.2));
      return { series: [{ type: "gauge", max, radius: "90%", progress: { show: true, width: 12 },
        axisLine: { lineStyle: { width: 12 } }, splitLine: { length: 8 }, axisTick: { show: false },
        axisLabel: { distance: 16, fontSize: 10 }, pointer: { width: 4 },
        title: { offsetCenter: [0, "78%"], fontSize: 12 },
        detail: { valueAnimation: true, formatter: (v) => shown(v), fontSize: 22, offsetCenter: [0, "45%"] },
        data: [{ value, name: headerOf(main), drill: rows[0] && rows[0].drill }] }] };
    }
    if (type === "pie" || type === "donut" || type === "funnel") {
      const items = rows.map((row) => ({
        name: dims[0] ? labelOf(row, dims[0].key, texts) : headerOf(first),
        value: numeric(row.measures[first.key]), drill: row.drill,
      }));
      if (type === "funnel") {
        const label = (p) => {
          const previous = p.dataIndex > 0 ? items[p.dataIndex - 1].value : null;
          const rate = previous ? " · " + ((p.value / previous) * 100).toFixed(1) + "%" : "";
          return p.name + " " + shown(p.value) + rate;
        };
        return { tooltip: { trigger: "item" }, color: PALETTE,
          series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", gap: 2,
            label: { show: true, position: "inside", formatter: label }, data: items }] };
      }
      return { tooltip: { trigger: "item" }, color: PALETTE, legend: { type: "scroll", bottom: 0 },
        series: [{ type: "pie", radius: type === "donut" ? ["40%", "72%"] : "72%", center: ["50%", "45%"],
          label: { position: "inside", formatter: "{d}%", color: "#fff", fontSize: 11 }, data: items }] };
    }
    const kind = type === "line" || type === "area" ? "line" : "bar";
    const stacked = type === "stacked_bar" || type === "area";
    let categories, series;
    if (dims.length >= 2) {
      const xs = [], names = [], xLabels = new Map(), seriesLabels = new Map(), at = new Map();
      rows.forEach((row) => {
        const x = JSON.stringify(row.dimensions[dims[0].key]);
        const s = JSON.stringify(row.dimensions[dims[1].key]);
        if (!xLabels.has(x)) { xs.push(x); xLabels.set(x, labelOf(row, dims[0].key, texts)); }
        if (!seriesLabels.has(s)) { names.push(s); seriesLabels.set(s, labelOf(row, dims[1].key, texts)); }
        at.set(x + "|" + s, row);
      });
      categories = xs.map((x) => xLabels.get(x));
      series = names.map((s) => ({
        name: seriesLabels.get(s), type: kind, stack: stacked ? "total" : undefined,
        areaStyle: type === "area" ? {} : undefined,
        data: xs.map((x) => {
          const row = at.get(x + "|" + s);
          return row ? { value: numeric(row.measures[first.key]), drill: row.drill } : null;
        }),
      }));
    } else {
      categories = rows.map((row) => (dims[0] ? labelOf(row, dims[0].key, texts) : headerOf(first)));
      series = values.map((column) => ({
        name: headerOf(column), type: kind, stack: stacked ? "total" : undefined,
        areaStyle: type === "area" ? {} : undefined,
        data: rows.map((row) => ({ value: numeric(row.measures[column.key]), drill: row.drill })),
      }));
    }
    return {
      color: PALETTE, tooltip: { trigger: "axis" },
      legend: series.length > 1 ? { type: "scroll", top: 0 } : undefined,
      grid: { left: 8, right: 16, top: series.length > 1 ? 32 : 16, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: categories, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value" },
      series,
    };
  }

  /* Draws ``data`` into ``box``; returns the ECharts instance (null for HTML charts). */
  function draw(box, data, texts) {
    const type = data.report ? data.report.chart.type : data.chartType;
    if (box._chart) { box._chart.dispose(); box._chart = null; }
    if (type === "table") { table(box, data, texts); return null; }
    if (type === "pivot") { pivot(box, data, texts); return null; }
    if (type === "number") { numberCard(box, data, texts); return null; }
    if (!window.echarts) return null;
    box.replaceChildren();
    const chart = window.echarts.init(box);
    chart.on("finished", () => { box.dataset.drawn = "1"; });
    chart.setOption(option(data, texts));
    chart.on("click", (params) => {
      const drill = params.data && params.data.drill;
      if (drill) window.location.href = drill;
    });
    box._chart = chart;
    return chart;
  }

  function textsOf(element) {
    return {
      blank: element.dataset.blank || "(blank)",
      total: element.dataset.total || "Total",
      previous: element.dataset.previous || "Previous period",
    };
  }

  /* ---- the dashboard ---------------------------------------------------------------------- */

  function loadCard(card, texts) {
    const box = card.querySelector("[data-chart]");
    const query = filterQuery();
    const url = "/api/v1/reports/" + card.dataset.reportId + "/data" + (query ? "?" + query : "");
    return fetch(url, { headers: { Accept: "application/json" } })
      .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
      .then(({ ok, body }) => {
        if (!ok) { box.textContent = problemText(body); return; }
        draw(box, body, texts);
        card.dataset.loaded = "1";
      })
      .catch(() => { box.textContent = "…"; });
  }

  function saveLayout(grid) {
    const dashboard = JSON.parse(grid.dataset.dashboard);
    const cards = [...grid.querySelectorAll(".dash-card")].map((card, index) => ({
      report_id: Number(card.dataset.reportId), x: 0, y: index,
      w: Number(card.dataset.w), h: Number(card.dataset.h), title: card.dataset.title || "",
    }));
    const document_ = {
      app_key: dashboard.app_key, label: dashboard.label, roles: dashboard.roles,
      home_for: dashboard.home_for, revision: dashboard.revision,
      definition: { ...dashboard.definition, cards },
    };
    return sendJSON("PUT", "/api/v1/dashboards/" + dashboard.id, document_).then((answer) => {
      if (!answer.ok) { toast(problemText(answer.data)); return; }
      grid.dataset.dashboard = JSON.stringify(answer.data);
      grid.dataset.saved = String(Number(grid.dataset.saved || 0) + 1);
    }).catch(() => toast(grid.dataset.unsaved || "Not saved"));
  }

  function resizable(grid, card) {
    const handle = card.querySelector("[data-resize]");
    if (!handle) return;
    handle.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      const column = grid.clientWidth / 12, rowHeight = 64;
      const start = card.getBoundingClientRect();
      const move = (e) => {
        const w = Math.max(1, Math.min(12, Math.round((e.clientX - start.left) / column)));
        const h = Math.max(2, Math.min(12, Math.round((e.clientY - start.top) / rowHeight)));
        card.dataset.w = w; card.dataset.h = h;
        card.style.gridColumn = "span " + w; card.style.gridRow = "span " + h;
      };
      const up = () => {
        handle.removeEventListener("pointermove", move);
        handle.removeEventListener("pointerup", up);
        const box = card.querySelector("[data-chart]");
        if (box._chart) box._chart.resize();
        saveLayout(grid);
      };
      handle.addEventListener("pointermove", move);
      handle.addEventListener("pointerup", up);
    });
  }

  function startDashboard(grid) {
    const texts = textsOf(grid);
    const cards = [...grid.querySelectorAll(".dash-card")];
    const loadAll = () => Promise.all(cards.map((card) => loadCard(card, texts)));
    loadAll();
    const refresh = Number(grid.dataset.refresh || 0);
    if (refresh > 0) setInterval(loadAll, refresh * 1000);
    const query = filterQuery();
    grid.querySelectorAll("a[data-export]").forEach((link) => {
      if (query) link.href += "?" + query;
    });
    grid.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-png]");
      if (!button) return;
      const card = button.closest(".dash-card");
      const box = card.querySelector("[data-chart]");
      if (!box._chart) { toast(grid.dataset.noPng || "No chart to save", "error"); return; }
      const link = document.createElement("a");
      link.href = box._chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" });
      link.download = (card.querySelector("h3").textContent || "chart") + ".png";
      link.click();
    });
    window.addEventListener("resize", () => cards.forEach((card) => {
      const box = card.querySelector("[data-chart]");
      if (box._chart) box._chart.resize();
    }));
    if (grid.dataset.editable === "1" && window.Sortable) {
      window.Sortable.create(grid, { handle: ".dash-handle", animation: 150, forceFallback: true,
        onEnd: () => saveLayout(grid) });
      cards.forEach((card) => resizable(grid, card));
    }
  }

  /* ---- the builder ----------------------------------------------------------------------- */

  const AGGREGATES = ["count", "count_distinct", "sum", "avg", "min", "max", "weighted_sum"];
  /* What the builder does not edit is kept from the saved definition as it was. */
  const KEPT = ["source", "as_of", "related", "filter", "date_field", "region_field", "viewer_owns"];

  function formulaRow(builder, formula) {
    const words = JSON.parse(builder.dataset.words || "{}");
    const row = document.createElement("li");
    row.className = "builder-formula";
    row.dataset.formula = "";
    [["key", 12, "formulaKey"], ["label", 14, "formulaLabel"], ["expression", 28, "formulaExpression"]].forEach(([name, size, data]) => {
      const input = document.createElement("input");
      input.dataset[data] = "";
      input.placeholder = words[name] || name;
      input.title = words[name] || name;
      input.size = size;
      input.value = (formula && formula[name]) || "";
      row.appendChild(input);
    });
    const places = document.createElement("input");
    places.type = "number";
    places.min = "0";
    places.max = "10";
    places.dataset.formulaPlaces = "";
    places.title = words.places || "places";
    places.style.width = "4em";
    places.value = formula && formula.places !== undefined ? formula.places : 2;
    row.appendChild(places);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small link";
    remove.textContent = "×";
    remove.dataset.remove = "";
    row.appendChild(remove);
    return row;
  }

  /* The sort choices follow the keys the definition has now. */
  function sortChoices(builder, definition) {
    const select = builder.querySelector("[data-sort]");
    const chosen = select.value || select.dataset.initial || "";
    const keys = [
      ...definition.dimensions.map((d) => [d.field.replace(".", "_") + (d.bucket ? "_" + d.bucket : ""), d.field]),
      ...definition.measures.map((m) => [m.key, m.label || m.key]),
      ...(definition.formulas || []).map((f) => [f.key, f.label || f.key]),
    ];
    [...select.options].slice(1).forEach((option) => option.remove());
    keys.forEach(([key, text]) => {
      const option = document.createElement("option");
      option.value = key;
      option.textContent = text;
      if (key === chosen) option.selected = true;
      select.appendChild(option);
    });
  }
  const NUMERIC = ["number"];
  const BUCKETS = ["day", "week", "month", "quarter", "year"];

  function choice(values, chosen, labels) {
    const select = document.createElement("select");
    values.forEach((value) => {
      const item = document.createElement("option");
      item.value = value;
      item.textContent = (labels && labels[value]) || value;
      if (value === chosen) item.selected = true;
      select.appendChild(item);
    });
    return select;
  }

  function zoneItem(builder, zone, ref, kind, text, settings) {
    const words = JSON.parse(builder.dataset.words || "{}");
    const item = document.createElement("li");
    item.className = "builder-item";
    item.dataset.ref = ref;
    item.dataset.kind = kind;
    const name = document.createElement("span");
    name.textContent = text;
    item.appendChild(name);
    if (zone === "dimensions" && (kind === "date" || kind === "datetime")) {
      const bucket = choice(BUCKETS, (settings && settings.bucket) || "month", words);
      bucket.dataset.bucket = "";
      item.appendChild(bucket);
    }
    if (zone === "measures" && ref !== "__count") {
      const allowed = AGGREGATES.filter((agg) => (agg === "sum" || agg === "avg" || agg === "weighted_sum") ? NUMERIC.includes(kind)
        : (agg === "min" || agg === "max") ? ["number", "date", "datetime"].includes(kind) : true);
      const fallback = NUMERIC.includes(kind) ? "sum" : "count";
      const agg = choice(allowed, (settings && settings.agg) || fallback, words);
      agg.dataset.agg = "";
      item.appendChild(agg);
    }
    if (settings && settings.related) item.dataset.related = settings.related;
    if (zone === "measures") {
      /* A saved measure keeps its key (formulas and sorts name it) and its structured filter;
         "only where" is a condition in the expression language. */
      if (settings && settings.key) item.dataset.key = settings.key;
      if (settings && settings.filter) item.dataset.filter = JSON.stringify(settings.filter);
      const where = document.createElement("input");
      where.dataset.where = "";
      where.placeholder = words.where || "only where";
      where.title = words.where || "only where";
      where.maxLength = 2000;
      where.className = "builder-where";
      where.value = (settings && settings.where) || "";
      item.appendChild(where);
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small link";
    remove.textContent = "×";
    remove.dataset.remove = "";
    item.appendChild(remove);
    return item;
  }

  function definitionOf(builder) {
    const dimensions = [...builder.querySelectorAll("[data-zone=dimensions] .builder-item")].map((item) => {
      const bucket = item.querySelector("[data-bucket]");
      return bucket ? { field: item.dataset.ref, bucket: bucket.value } : { field: item.dataset.ref };
    });
    const used = new Set();
    const measures = [...builder.querySelectorAll("[data-zone=measures] .builder-item")].map((item) => {
      const ref = item.dataset.ref;
      const agg = ref === "__count" ? "count" : item.querySelector("[data-agg]").value;
      let key = item.dataset.key || (ref === "__count" ? "records" : (agg + "_" + ref.replace(".", "_")).slice(0, 60));
      while (used.has(key)) key += "_";
      used.add(key);
      const measure = { key, agg, label: item.querySelector("span").textContent };
      if (ref !== "__count") measure.field = ref;
      if (item.dataset.filter) measure.filter = JSON.parse(item.dataset.filter);
      const where = item.querySelector("[data-where]");
      if (where && where.value.trim()) measure.where = where.value.trim();
      return measure;
    });
    const formulas = [...builder.querySelectorAll("[data-formula]")].map((row) => ({
      key: row.querySelector("[data-formula-key]").value.trim(),
      label: row.querySelector("[data-formula-label]").value.trim(),
      expression: row.querySelector("[data-formula-expression]").value.trim(),
      places: Number(row.querySelector("[data-formula-places]").value || 0),
    })).filter((f) => f.key && f.expression);
    const type = builder.querySelector("[data-chart-type]").value;
    const limit = Number(builder.querySelector("[data-limit]").value || 0);
    const base = JSON.parse(builder.dataset.report || "null");
    const saved = (base && base.definition) || {};
    const definition = {};
    KEPT.forEach((key) => { if (saved[key] !== undefined && saved[key] !== null) definition[key] = saved[key]; });
    const source = builder.querySelector("[data-source-switch]");
    if (source) definition.source = source.value;
    /* An aggregate of a linking form brings the related spec it reads (once per key). */
    const related = [...(definition.related || [])];
    builder.querySelectorAll("[data-zone] .builder-item[data-related]").forEach((item) => {
      const spec = JSON.parse(item.dataset.related);
      if (!related.some((r) => r.key === spec.key)) related.push(spec);
    });
    if (related.length) definition.related = related;
    if (!("date_field" in definition) && saved.date_field === null) definition.date_field = null;
    Object.assign(definition, {
      form: builder.dataset.form, dimensions, measures, formulas,
      chart: { ...(saved.chart || {}), type }, totals: type === "pivot" && dimensions.length === 2,
    });
    const where = builder.querySelector("[data-report-where]").value.trim();
    if (where) definition.where = where;
    sortChoices(builder, definition);
    const sortKey = builder.querySelector("[data-sort]").value;
    const descending = builder.querySelector("[data-descending]").checked;
    if (sortKey) definition.sort = [{ key: sortKey, descending }];
    if (limit > 0) {
      definition.limit = limit;
      if (!definition.sort && measures.length) definition.sort = [{ key: measures[0].key, descending: true }];
    }
    return definition;
  }

  function startBuilder(builder) {
    const texts = textsOf(builder);
    const preview = builder.querySelector("[data-chart]");
    const status = builder.querySelector("[data-status]");
    let timer = null;
    const refresh = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const definition = definitionOf(builder);
        if (!definition.measures.length) { preview.replaceChildren(); return; }
        sendJSON("POST", "/api/v1/reports/preview", { definition }).then((answer) => {
          if (!answer.ok) { status.textContent = problemText(answer.data); return; }
          status.textContent = "";
          draw(preview, { ...answer.data, chartType: definition.chart.type, chart: definition.chart }, texts);
          builder.dataset.previewed = String(Number(builder.dataset.previewed || 0) + 1);
        }).catch(() => { /* the page was left while the preview loaded */ });
      }, 150);
    };
    const palette = builder.querySelector("[data-palette]");
    window.Sortable.create(palette, { group: { name: "fields", pull: "clone", put: false }, sort: false, forceFallback: true });
    builder.querySelectorAll("[data-zone]").forEach((zone) => {
      window.Sortable.create(zone, {
        group: { name: "fields", pull: false, put: true }, animation: 150, forceFallback: true,
        filter: "input, select", preventOnFilter: false,
        onAdd: (event) => {
          const dropped = event.item;
          const item = zoneItem(builder, zone.dataset.zone, dropped.dataset.ref, dropped.dataset.kind, dropped.textContent.trim(),
            dropped.dataset.related ? { related: dropped.dataset.related } : null);
          dropped.replaceWith(item);
          refresh();
        },
        onSort: refresh,
      });
    });
    const report = JSON.parse(builder.dataset.report || "null");
    if (report) {
      const labels = new Map([...palette.querySelectorAll("[data-ref]")].map((li) => [li.dataset.ref, li]));
      const definition = report.definition;
      definition.dimensions.forEach((d) => {
        const source = labels.get(d.field);
        builder.querySelector("[data-zone=dimensions]").appendChild(
          zoneItem(builder, "dimensions", d.field, source ? source.dataset.kind : "text", source ? source.textContent.trim() : d.field, d));
      });
      definition.measures.forEach((m) => {
        const ref = m.field || "__count";
        const source = labels.get(ref);
        builder.querySelector("[data-zone=measures]").appendChild(
          zoneItem(builder, "measures", ref, source ? source.dataset.kind : "count", m.label || (source ? source.textContent.trim() : ref), m));
      });
      builder.querySelector("[data-chart-type]").value = definition.chart.type;
      if (definition.limit) builder.querySelector("[data-limit]").value = definition.limit;
      (definition.formulas || []).forEach((f) => builder.querySelector("[data-formulas]").appendChild(formulaRow(builder, f)));
      if (definition.where) builder.querySelector("[data-report-where]").value = definition.where;
      if (definition.sort && definition.sort.length) {
        builder.querySelector("[data-sort]").dataset.initial = definition.sort[0].key;
        builder.querySelector("[data-descending]").checked = !!definition.sort[0].descending;
      }
      builder.querySelector("[data-label]").value = report.label;
      refresh();
    }
    /* The stage history's columns are offered when the report reads the history. */
    const source = builder.querySelector("[data-source-switch]");
    const showSource = () => {
      const history = source && source.value !== "records";
      palette.querySelectorAll("[data-source=history]").forEach((li) => { li.hidden = !history; });
    };
    if (source) {
      if (report && report.definition.source) source.value = report.definition.source;
      source.addEventListener("change", showSource);
      showSource();
    }
    builder.addEventListener("change", refresh);
    builder.addEventListener("click", (event) => {
      const remove = event.target.closest("[data-remove]");
      if (remove) { remove.closest(".builder-item, .builder-formula").remove(); refresh(); }
      if (event.target.closest("[data-add-formula]")) {
        builder.querySelector("[data-formulas]").appendChild(formulaRow(builder, null));
      }
      if (event.target.closest("[data-save]")) {
        const roles = [...builder.querySelectorAll("[data-role]:checked")].map((box) => box.value);
        const document_ = {
          app_key: builder.dataset.app, label: builder.querySelector("[data-label]").value,
          definition: definitionOf(builder), roles,
        };
        const saved = JSON.parse(builder.dataset.report || "null");
        if (saved) document_.revision = saved.revision;
        const method = saved ? "PUT" : "POST";
        const url = saved ? "/api/v1/reports/" + saved.id : "/api/v1/reports";
        sendJSON(method, url, document_).then((answer) => {
          if (!answer.ok) { status.textContent = problemText(answer.data); return; }
          builder.dataset.report = JSON.stringify(answer.data);
          toast(builder.dataset.savedText || "Saved", "success");
        });
      }
    });
    builder.querySelector("[data-form-switch]").addEventListener("change", (event) => {
      window.location.href = "/reports/new?app_key=" + encodeURIComponent(builder.dataset.app) + "&form=" + encodeURIComponent(event.target.value);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const grid = document.getElementById("dashboard");
    if (grid) startDashboard(grid);
    const builder = document.getElementById("builder");
    if (builder && window.Sortable) startBuilder(builder);
  });
})();
