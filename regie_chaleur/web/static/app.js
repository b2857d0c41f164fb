/* regie-chaleur pages: charts (uPlot) declared in the markup, French number formats, no inline script.
 *
 * <div class="chart" data-chart="series|bars|scatter|stacked" data-src="/..." [data-refresh="60"]
 *      [data-zoom="true"]></div>
 * The endpoint returns the chart's data:
 *   series/stacked: {x: [epoch seconds], series: [{label, unit, values, color, dash, fill, axis}], bands: [[i, j]]}
 *   bars:           {labels: [text], series: [{label, unit, values, color, line}]}
 *   scatter:        {series: [{label, x: [...], y: [...], color, line}], xLabel, yLabel}
 * Range presets: <button data-range="7" data-for="chart-id">7 jours</button> set ?start=&end= on the chart.
 */
(function () {
  "use strict";
  const fmt = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 1 });
  const fmtDate = new Intl.DateTimeFormat("fr-FR", { dateStyle: "short", timeStyle: "short", timeZone: "Europe/Paris" });
  const fmtDay = new Intl.DateTimeFormat("fr-FR", { day: "2-digit", month: "2-digit", timeZone: "Europe/Paris" });
  const fmtDayYear = new Intl.DateTimeFormat("fr-FR", { dateStyle: "short", timeZone: "Europe/Paris" });
  const fmtTime = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Paris" });

  // time axis labels: the date alone when ticks are a day or more apart, else day/month and time
  function timeTicks(u, splits) {
    const step = splits.length > 1 ? splits[1] - splits[0] : 0;
    return splits.map((v) => {
      const d = new Date(v * 1000);
      return step >= 86400 ? fmtDayYear.format(d) : fmtDay.format(d) + "\n" + fmtTime.format(d);
    });
  }
  const charts = new Map();

  const narrow = () => window.matchMedia("(max-width: 640px)").matches;

  function axisValues(unit) {
    return (u, splits) => splits.map((v) => (v == null ? "" : fmt.format(v) + (unit ? " " + unit : "")));
  }

  function seriesOptions(data, stacked) {
    const axes = [{ space: narrow() ? 90 : 70, values: timeTicks }];
    const units = [];
    const series = [{ label: "Date", value: (u, v) => (v == null ? "—" : fmtDate.format(new Date(v * 1000))) }];
    for (const s of data.series) {
      const scale = s.axis || s.unit || "y";
      if (!units.includes(scale)) {
        units.push(scale);
        axes.push({ scale: scale, side: units.length === 1 ? 3 : 1, values: axisValues(narrow() ? "" : s.unit),
                    grid: { show: units.length === 1 }, size: narrow() ? 48 : 95 });
      }
      series.push({ label: s.label, scale: scale, stroke: s.color, width: s.width || 1.6,
                    dash: s.dash || undefined, fill: s.fill || undefined, points: { show: false },
                    value: (u, v) => (v == null ? "—" : fmt.format(v) + " " + (s.unit || "")) });
    }
    const opts = { series: series, axes: axes, scales: { x: { time: true } }, legend: { live: true },
                   cursor: { drag: { x: true, y: false } } };
    if (data.bands) {
      opts.bands = data.bands.map(([a, b]) => ({ series: [a + 1, b + 1], fill: "rgba(31,95,139,0.16)" }));
    }
    if (stacked) {
      opts.series.forEach((s, i) => { if (i > 0 && data.series[i - 1].stack) { s.fill = data.series[i - 1].color + "cc"; } });
    }
    return opts;
  }

  function stack(data) {
    const out = JSON.parse(JSON.stringify(data));
    let running = null;
    out.series.forEach((s) => {
      if (!s.stack) { return; }
      running = running ? s.values.map((v, i) => (v || 0) + running[i]) : s.values.map((v) => v || 0);
      s.values = running.slice();
    });
    out.series.reverse();  // draw the top of the stack first so each fill shows its own band
    // bands name series by their index: follow the reversal (band series listed last are drawn first, behind)
    const n = out.series.length;
    if (out.bands) { out.bands = out.bands.map(([a, b]) => [n - 1 - a, n - 1 - b]); }
    return out;
  }

  function barsOptions(data) {
    const bars = uPlot.paths.bars({ size: [0.8 / data.series.filter((s) => !s.line).length, 60] });
    const series = [{ label: "Mois", value: (u, i) => (i == null ? "—" : data.labels[i]) }];
    let barIndex = 0;
    const barCount = data.series.filter((s) => !s.line).length;
    for (const s of data.series) {
      const offset = s.line ? 0 : (barIndex++ - (barCount - 1) / 2) * (0.8 / barCount);
      series.push({ label: s.label, stroke: s.color, width: s.line ? 2 : 0, fill: s.line ? undefined : s.color,
                    paths: s.line ? undefined : shifted(bars, offset), points: { show: !!s.line },
                    value: (u, v) => (v == null ? "—" : fmt.format(v) + " " + (s.unit || "")) });
    }
    // bars start at zero: a bar's height is the quantity, an axis cut above zero would exaggerate it
    return { series: series, scales: { x: { time: false, range: (u) => [-0.6, data.labels.length - 0.4] },
                                       y: { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] } },
             // one label in `step`, so that they never run into each other (about 56 px each)
             axes: [{ values: (u, splits) => splits.map((i) => (Number.isInteger(i) && data.labels[i]) || ""),
                      splits: (u) => {
                        const width = (u.bbox && u.bbox.width ? u.bbox.width / devicePixelRatio : u.width) || 800;
                        const step = Math.max(1, Math.ceil(data.labels.length * 56 / width));
                        return data.labels.map((_, i) => i).filter((i) => (data.labels.length - 1 - i) % step === 0);
                      } },
                    { values: axisValues(narrow() ? "" : data.series[0] && data.series[0].unit), size: narrow() ? 48 : 95 }],
             cursor: { drag: { x: false, y: false } } };
  }

  function shifted(paths, offset) {
    return (u, seriesIdx, idx0, idx1) => {
      const x = u.data[0];
      u.data[0] = x.map((v) => v + offset);
      const out = paths(u, seriesIdx, idx0, idx1);
      u.data[0] = x;
      return out;
    };
  }

  // a scatter on a numeric x axis: points-only series (the days) and line series (the fitted signature)
  function scatterOptions(data) {
    const series = [{ label: "Température", value: (u, v) => (v == null ? "—" : fmt.format(v) + " °C") }];
    for (const s of data.series) {
      series.push({ label: s.label, stroke: s.color, width: s.line ? 2 : 0, spanGaps: !!s.line,
                    points: { show: !s.line, size: 6, fill: s.color, stroke: s.color },
                    paths: s.line ? undefined : () => null,
                    value: (u, v) => (v == null ? "—" : fmt.format(v)) });
    }
    return { series: series, scales: { x: { time: false }, y: {} },
             axes: [{ label: data.xLabel, values: axisValues("") }, { label: data.yLabel, values: axisValues(""), size: 95 }],
             cursor: { drag: { x: false, y: false } } };
  }

  function toUplot(kind, data) {
    if (kind === "bars") { return [data.labels.map((_, i) => i), ...data.series.map((s) => s.values)]; }
    return [data.x, ...data.series.map((s) => s.values)];
  }

  async function draw(el) {
    const kind = el.dataset.chart;
    const url = new URL(el.dataset.src, window.location.origin);
    if (el.dataset.start) { url.searchParams.set("start", el.dataset.start); url.searchParams.set("end", el.dataset.end); }
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) { el.textContent = "Données indisponibles (" + response.status + ")."; return; }
    let data = await response.json();
    el.dataset.resolution = data.resolution || "";
    const caption = document.getElementById(el.id + "-resolution");
    if (caption && data.resolution) { caption.textContent = data.resolution; }
    if (kind === "stacked") { data = stack(data); }
    const hasData = kind === "bars" ? data.labels.length > 0 : data.x.length > 0;
    if (!hasData) { el.textContent = "Pas encore de données sur cette période."; return; }
    const opts = kind === "bars" ? barsOptions(data) : kind === "scatter" ? scatterOptions(data)
      : seriesOptions(data, kind === "stacked");
    opts.width = el.clientWidth || 800;
    opts.height = Number(el.dataset.height || 300);
    if (el.dataset.zoom === "true") {
      opts.hooks = { setSelect: [(u) => {
        if (u.select.width < 8) { return; }
        el.dataset.start = new Date(u.posToVal(u.select.left, "x") * 1000).toISOString();
        el.dataset.end = new Date(u.posToVal(u.select.left + u.select.width, "x") * 1000).toISOString();
        draw(el);
      }] };
    }
    const old = charts.get(el);
    if (old) { old.destroy(); }
    el.textContent = "";
    charts.set(el, new uPlot(opts, toUplot(kind, data), el));
  }

  function presets() {
    document.querySelectorAll("button[data-range]").forEach((button) => {
      button.addEventListener("click", () => {
        const el = document.getElementById(button.dataset.for);
        const end = new Date();
        const start = new Date(end.getTime() - Number(button.dataset.range) * 86400000);
        el.dataset.start = start.toISOString();
        el.dataset.end = end.toISOString();
        document.querySelectorAll(`button[data-for="${button.dataset.for}"]`)
          .forEach((b) => b.setAttribute("aria-pressed", b === button ? "true" : "false"));
        draw(el);
      });
    });
  }

  // each cell of a data table labelled by its column: on a phone, tables become labelled cards (app.css)
  function labelCells() {
    document.querySelectorAll("table.data").forEach((table) => {
      const heads = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
      if (!heads.length) { return; }
      table.querySelectorAll("tbody tr").forEach((tr) => {
        let col = 0;
        Array.from(tr.children).forEach((cell) => {
          if (heads[col] && !cell.hasAttribute("colspan")) { cell.dataset.label = heads[col]; }
          col += Number(cell.getAttribute("colspan") || 1);
        });
      });
    });
  }

  function init() {
    labelCells();
    document.querySelectorAll("[data-chart]").forEach((el) => {
      draw(el);
      if (el.dataset.refresh) { setInterval(() => draw(el), Number(el.dataset.refresh) * 1000); }
    });
    presets();
    window.addEventListener("resize", () => charts.forEach((chart, el) => chart.setSize({ width: el.clientWidth, height: chart.height })));
  }

  document.addEventListener("DOMContentLoaded", init);
})();
