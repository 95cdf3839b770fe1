// flushlab --html: draws the report's charts with uPlot (inlined before this script) from
// the chart data in <script id="flushlab-data">. Runs in the browser only; the data's
// shapes are the ChartSpec types of apps/cli/src/reporters/html.ts.
(function () {
  "use strict";
  /* global uPlot */
  var data = JSON.parse(document.getElementById("flushlab-data").textContent);
  var BASELINE = "#1f5fbf";
  var PATCHED = "#d2461e";
  var KIND_COLORS = {
    op: "#444444",
    fill: "#2a9d8f",
    pte: "#8e44ad",
    flush: "#1f5fbf",
    ipi: "#e09f1f",
    free: "#7f8c8d",
    syscall: "#16a085",
    delay: "#bbbbbb",
    hazard: "#d62828",
  };
  var NUM = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "n/a";
    var a = Math.abs(v);
    if (a >= 1e9) return NUM.format(v / 1e9) + "G";
    if (a >= 1e6) return NUM.format(v / 1e6) + "M";
    if (a >= 1e4) return NUM.format(v / 1e3) + "k";
    return NUM.format(v);
  }

  function figureFmt(kind, v) {
    if (v === null || !isFinite(v)) return "n/a";
    if (kind === "change_pct") return (v > 0 ? "+" : "") + v.toFixed(1) + "%";
    if (kind === "ratio" || kind === "patched_ratio") return v.toFixed(2) + "x";
    return fmt(v);
  }

  function widthOf(el, fallback) {
    var w = el.clientWidth;
    return w > 100 ? w : fallback;
  }

  function heading(el, text) {
    var h = document.createElement("div");
    h.className = "chart-title";
    h.textContent = text;
    el.appendChild(h);
  }

  function readout(el, text) {
    var d = document.createElement("div");
    d.className = "readout";
    d.textContent = text;
    el.appendChild(d);
    return d;
  }

  /** Marks a chart as drawn: the number of marks its hooks drew, for the browser test. */
  function marked(el, n) {
    el.setAttribute("data-marks", String(n));
  }

  // One metric: a dot per run (seed) on each side, and the side's mean ± sample stddev as an error bar.
  function metricChart(spec, el) {
    heading(el, spec.title + (spec.unit ? " (" + spec.unit + ")" : "") + (spec.better !== "none" ? " — " + spec.better + " is better" : ""));
    var xs = [];
    var b = [];
    var p = [];
    var labels = [];
    function spread(i, n) {
      return n <= 1 ? 0 : -0.22 + (0.44 * i) / (n - 1);
    }
    spec.baseline.forEach(function (v, i) {
      xs.push(spread(i, spec.baseline.length));
      b.push(v);
      p.push(null);
      labels.push("baseline " + spec.baselineLabels[i]);
    });
    spec.patched.forEach(function (v, i) {
      xs.push(1 + spread(i, spec.patched.length));
      b.push(null);
      p.push(v);
      labels.push("patched " + spec.patchedLabels[i]);
    });
    var all = spec.baseline.concat(spec.patched, [
      spec.baselineMean - spec.baselineStddev,
      spec.baselineMean + spec.baselineStddev,
      spec.patchedMean - spec.patchedStddev,
      spec.patchedMean + spec.patchedStddev,
    ]).filter(function (v) { return isFinite(v); });
    var lo = Math.min.apply(null, all);
    var hi = Math.max.apply(null, all);
    var pad = hi > lo ? (hi - lo) * 0.15 : Math.abs(hi) * 0.05 || 1;
    var bars = [
      [0, spec.baselineMean, spec.baselineStddev, BASELINE],
      [1, spec.patchedMean, spec.patchedStddev, PATCHED],
    ];
    var out;
    var opts = {
      width: widthOf(el, 380),
      height: 230,
      legend: { show: false },
      scales: { x: { time: false, auto: false, range: [-0.6, 1.6] }, y: { auto: false, range: [lo - pad, hi + pad] } },
      axes: [
        { splits: function () { return [0, 1]; }, values: function () { return ["baseline", "patched"]; }, grid: { show: false } },
        { size: axisSize, values: function (u, splits) { return splits.map(fmt); } },
      ],
      series: [
        { label: "run", value: function (u, v, si, idx) { return idx === null || idx === undefined ? "" : labels[idx]; } },
        { label: "baseline", stroke: BASELINE, fill: BASELINE, paths: function () { return null; }, points: { show: true, size: 8, fill: BASELINE, stroke: BASELINE }, value: function (u, v) { return v === null ? "" : fmt(v); } },
        { label: "patched", stroke: PATCHED, fill: PATCHED, paths: function () { return null; }, points: { show: true, size: 8, fill: PATCHED, stroke: PATCHED }, value: function (u, v) { return v === null ? "" : fmt(v); } },
      ],
      cursor: { drag: { x: false, y: false } },
      hooks: {
        setCursor: [
          function (u) {
            if (!out) return;
            var idx = u.cursor.idx;
            if (idx === null || idx === undefined || u.cursor.left < 0) {
              out.textContent = summary;
              return;
            }
            var v = b[idx] !== null ? b[idx] : p[idx];
            out.textContent = labels[idx] + ": " + NUM.format(v);
          },
        ],
        // Under the dots: each side's mean (a wide tick) and ± 1 sample stddev (whiskers).
        drawAxes: [
          function (u) {
            var ctx = u.ctx;
            var n = 0;
            ctx.save();
            ctx.lineWidth = 2 * uPlot.pxRatio;
            bars.forEach(function (bar) {
              if (!isFinite(bar[1])) return;
              var x = u.valToPos(bar[0], "x", true);
              var x0 = u.valToPos(bar[0] - 0.34, "x", true);
              var x1 = u.valToPos(bar[0] + 0.34, "x", true);
              var c0 = u.valToPos(bar[0] - 0.12, "x", true);
              var c1 = u.valToPos(bar[0] + 0.12, "x", true);
              var ym = u.valToPos(bar[1], "y", true);
              var ylo = u.valToPos(bar[1] - bar[2], "y", true);
              var yhi = u.valToPos(bar[1] + bar[2], "y", true);
              ctx.strokeStyle = bar[3];
              ctx.globalAlpha = 0.55;
              ctx.beginPath();
              ctx.moveTo(x, ylo);
              ctx.lineTo(x, yhi);
              ctx.moveTo(c0, ylo);
              ctx.lineTo(c1, ylo);
              ctx.moveTo(c0, yhi);
              ctx.lineTo(c1, yhi);
              ctx.stroke();
              ctx.globalAlpha = 1;
              ctx.beginPath();
              ctx.moveTo(x0, ym);
              ctx.lineTo(x1, ym);
              ctx.stroke();
              n++;
            });
            ctx.restore();
            marked(u.root.parentNode, n);
          },
        ],
      },
    };
    var summary =
      "mean ± stddev: baseline " + fmt(spec.baselineMean) + " ± " + fmt(spec.baselineStddev) + ", patched " + fmt(spec.patchedMean) + " ± " + fmt(spec.patchedStddev);
    new uPlot(opts, [xs, b, p], el);
    out = readout(el, summary);
  }

  // Light yellow through green to dark blue (ColorBrewer YlGnBu); 0 is the lightest.
  var HEAT = [[255, 255, 217], [199, 233, 180], [65, 182, 196], [34, 94, 168], [8, 29, 88]];
  function heatColor(t) {
    var x = Math.max(0, Math.min(1, t)) * (HEAT.length - 1);
    var i = Math.min(HEAT.length - 2, Math.floor(x));
    var f = x - i;
    var c = HEAT[i].map(function (v, k) { return Math.round(v + (HEAT[i + 1][k] - v) * f); });
    return "rgb(" + c.join(",") + ")";
  }

  /** An axis wide enough for its labels. */
  function axisSize(u, values) {
    var n = values && values.length > 0 ? Math.max.apply(null, values.map(function (v) { return String(v).length; })) : 6;
    // tick (10) + gap (5) + the label at ~7.5 px a character + a margin
    return Math.ceil(24 + 7.5 * n);
  }

  // Interrupts per CPU: one row per /proc/interrupts line and side, one cell per CPU.
  function heatmap(spec, el) {
    heading(el, spec.title);
    var rows = spec.rows;
    var n = spec.cpus;
    var max = {};
    rows.forEach(function (r) {
      r.values.forEach(function (v) { max[r.kind] = Math.max(max[r.kind] || 0, v); });
    });
    var xs = [];
    for (var i = 0; i < n; i++) xs.push(i);
    var width = widthOf(el, 700);
    var step = Math.max(1, Math.ceil(n / Math.max(1, Math.floor((width - 130) / 28))));
    var out;
    function yOf(r) {
      return rows.length - 1 - r;
    }
    var opts = {
      width: width,
      height: 60 + rows.length * 34,
      legend: { show: false },
      scales: { x: { time: false, auto: false, range: [-0.5, n - 0.5] }, y: { auto: false, range: [-0.5, rows.length - 0.5] } },
      axes: [
        {
          label: "CPU",
          labelSize: 18,
          grid: { show: false },
          splits: function () { return xs.filter(function (x) { return x % step === 0; }); },
          values: function (u, splits) { return splits.map(String); },
        },
        {
          size: 120,
          grid: { show: false },
          splits: function () { return rows.map(function (r, i) { return yOf(i); }); },
          values: function (u, splits) { return splits.map(function (y) { var r = rows[rows.length - 1 - y]; return r ? r.label : ""; }); },
        },
      ],
      series: [{}, { label: "cells", paths: function () { return null; }, points: { show: false } }],
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      hooks: {
        draw: [
          function (u) {
            var ctx = u.ctx;
            var cells = 0;
            ctx.save();
            var cw = Math.abs(u.valToPos(1, "x", true) - u.valToPos(0, "x", true));
            ctx.font = Math.round(10 * uPlot.pxRatio) + "px sans-serif";
            ctx.textAlign = "center";
            ctx.textBaseline = "middle";
            rows.forEach(function (r, ri) {
              var m = max[r.kind] || 0;
              r.values.forEach(function (v, c) {
                var t = m > 0 ? v / m : 0;
                var x0 = u.valToPos(c - 0.5, "x", true);
                var x1 = u.valToPos(c + 0.5, "x", true);
                var y0 = u.valToPos(yOf(ri) + 0.5, "y", true);
                var y1 = u.valToPos(yOf(ri) - 0.5, "y", true);
                ctx.fillStyle = heatColor(t);
                ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
                ctx.strokeStyle = "#ffffff";
                ctx.lineWidth = uPlot.pxRatio;
                ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
                if (cw >= 34 * uPlot.pxRatio) {
                  ctx.fillStyle = t > 0.55 ? "#ffffff" : "#222222";
                  ctx.fillText(fmt(Math.round(v)), (x0 + x1) / 2, (y0 + y1) / 2);
                }
                cells++;
              });
            });
            ctx.restore();
            marked(u.root.parentNode, cells);
          },
        ],
        setCursor: [
          function (u) {
            if (!out) return;
            var left = u.cursor.left;
            var top = u.cursor.top;
            if (left === undefined || left < 0 || top === undefined || top < 0) {
              out.textContent = scaleText;
              return;
            }
            var c = Math.round(u.posToVal(left, "x"));
            var ri = rows.length - 1 - Math.round(u.posToVal(top, "y"));
            var r = rows[ri];
            if (!r || c < 0 || c >= n) return;
            out.textContent = r.label + ", CPU " + c + ": " + NUM.format(r.values[c]) + " per run";
          },
        ],
      },
    };
    var scaleText = Object.keys(max).map(function (k) { return k + ": darkest = " + NUM.format(max[k]) + " per run"; }).join("; ");
    new uPlot(opts, [xs, xs.map(function () { return null; })], el);
    out = readout(el, scaleText);
  }

  // One published figure: its accept band, the published value (dashed) and the model's (a dot).
  function figureChart(spec, el) {
    var vals = [spec.min, spec.max, spec.published, spec.model].filter(function (v) { return v !== null && isFinite(v); });
    var lo = Math.min.apply(null, vals);
    var hi = Math.max.apply(null, vals);
    var pad = hi > lo ? (hi - lo) * 0.12 : Math.abs(hi) * 0.1 || 1;
    var inBand = spec.role === "calibration" ? "rgba(130,130,130,0.25)" : "rgba(42,157,143,0.25)";
    var opts = {
      width: 300,
      height: 64,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, auto: false, range: [lo - pad, hi + pad] }, y: { auto: false, range: [0, 1] } },
      axes: [{ size: 24, grid: { show: false }, values: function (u, splits) { return splits.map(function (v) { return figureFmt(spec.kind, v); }); } }, { show: false }],
      series: [{}, { paths: function () { return null; }, points: { show: false } }],
      hooks: {
        draw: [
          function (u) {
            var ctx = u.ctx;
            var r = uPlot.pxRatio;
            var marks = 0;
            ctx.save();
            var y0 = u.valToPos(0.85, "y", true);
            var y1 = u.valToPos(0.15, "y", true);
            var b0 = u.valToPos(spec.min, "x", true);
            var b1 = u.valToPos(spec.max, "x", true);
            ctx.fillStyle = inBand;
            ctx.fillRect(b0, y0, b1 - b0, y1 - y0);
            marks++;
            if (spec.published !== null) {
              var xp = u.valToPos(spec.published, "x", true);
              ctx.strokeStyle = "#222222";
              ctx.lineWidth = 2 * r;
              ctx.setLineDash([4 * r, 3 * r]);
              ctx.beginPath();
              ctx.moveTo(xp, u.valToPos(1, "y", true));
              ctx.lineTo(xp, u.valToPos(0, "y", true));
              ctx.stroke();
              ctx.setLineDash([]);
              marks++;
            }
            if (spec.model !== null && isFinite(spec.model)) {
              var xm = u.valToPos(spec.model, "x", true);
              ctx.fillStyle = spec.ok ? "#1b7f3b" : "#d62828";
              ctx.beginPath();
              ctx.arc(xm, u.valToPos(0.5, "y", true), 6 * r, 0, 2 * Math.PI);
              ctx.fill();
              marks++;
            }
            ctx.restore();
            marked(u.root.parentNode, marks);
          },
        ],
      },
    };
    new uPlot(opts, [[lo - pad, hi + pad], [null, null]], el);
    el.setAttribute("title", spec.title + ": model " + figureFmt(spec.kind, spec.model) + ", published " + figureFmt(spec.kind, spec.published) + ", band [" + figureFmt(spec.kind, spec.min) + ", " + figureFmt(spec.kind, spec.max) + "] (" + spec.role + ")");
  }

  // check's counterexample: one lane per CPU (and the machine), one mark per event in the
  // order they happened (several can share a cycle), coloured by kind; the axis shows cycles.
  function timeline(spec, el) {
    heading(el, spec.title);
    var events = spec.events.map(function (e, i) { return { e: e, i: i }; });
    events.sort(function (a, b) { return a.e.time - b.e.time || a.i - b.i; });
    var machine = events.some(function (x) { return x.e.cpu < 0; });
    var lanes = spec.cpus + (machine ? 1 : 0);
    function laneOf(e) {
      return e.cpu < 0 ? spec.cpus : e.cpu;
    }
    function yOf(lane) {
      return lanes - 1 - lane;
    }
    var kinds = Object.keys(KIND_COLORS).filter(function (k) { return events.some(function (x) { return x.e.kind === k; }); });
    var xs = events.map(function (x, i) { return i; });
    var series = [{ label: "event" }];
    var cols = [xs];
    kinds.forEach(function (k) {
      series.push({
        label: k,
        stroke: KIND_COLORS[k],
        fill: KIND_COLORS[k],
        paths: function () { return null; },
        points: { show: true, size: k === "hazard" ? 16 : 10, fill: KIND_COLORS[k], stroke: KIND_COLORS[k] },
      });
      cols.push(events.map(function (x) { return x.e.kind === k ? yOf(laneOf(x.e)) : null; }));
    });
    var n = events.length;
    var out;
    var width = widthOf(el, 900);
    var every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor((width - 100) / 60))));
    var opts = {
      width: width,
      height: 90 + lanes * 46,
      legend: { live: false },
      scales: { x: { time: false, auto: false, range: [-0.7, Math.max(n - 1, 0) + 0.7] }, y: { auto: false, range: [-0.6, lanes - 0.4] } },
      axes: [
        {
          label: "events in order (tick labels: simulated cycle)",
          labelSize: 18,
          splits: function () { return xs.filter(function (i) { return i % every === 0; }); },
          values: function (u, splits) { return splits.map(function (i) { return events[i] ? NUM.format(events[i].e.time) : ""; }); },
        },
        {
          size: 80,
          splits: function () { var s = []; for (var l = 0; l < lanes; l++) s.push(l); return s; },
          values: function (u, splits) { return splits.map(function (y) { var lane = lanes - 1 - y; return lane === spec.cpus ? "machine" : "CPU " + lane; }); },
        },
      ],
      series: series,
      cursor: { drag: { x: false, y: false } },
      hooks: {
        // Under the marks: each IPI as an arrow from its sender's lane to its target's.
        drawAxes: [
          function (u) {
            var ctx = u.ctx;
            var drawn = 0;
            ctx.save();
            ctx.strokeStyle = KIND_COLORS.ipi;
            ctx.globalAlpha = 0.6;
            ctx.lineWidth = 1.5 * uPlot.pxRatio;
            events.forEach(function (x, i) {
              var m = x.e.kind === "ipi" ? /→ CPU (\d+)/.exec(x.e.text) : null;
              if (!m || Number(m[1]) >= spec.cpus) return;
              var px = u.valToPos(i, "x", true);
              ctx.beginPath();
              ctx.moveTo(px, u.valToPos(yOf(laneOf(x.e)), "y", true));
              ctx.lineTo(px, u.valToPos(yOf(Number(m[1])), "y", true));
              ctx.stroke();
              drawn++;
            });
            ctx.restore();
            el.setAttribute("data-arrows", String(drawn));
          },
        ],
        draw: [
          function (u) {
            marked(u.root.parentNode, n);
          },
        ],
        setCursor: [
          function (u) {
            if (!out) return;
            var idx = u.cursor.idx;
            if (idx === null || idx === undefined || !events[idx]) return;
            var e = events[idx].e;
            out.textContent = "cycle " + NUM.format(e.time) + ", " + (e.cpu < 0 ? "machine" : "CPU " + e.cpu) + ", " + e.kind + ": " + e.text;
          },
        ],
      },
    };
    new uPlot(opts, cols, el);
    var hazard = events.filter(function (x) { return x.e.kind === "hazard"; })[0];
    out = readout(el, hazard ? "hazard at cycle " + NUM.format(hazard.e.time) + ": " + hazard.e.text : "hover a mark for its event");
  }

  var RENDER = { metric: metricChart, heatmap: heatmap, figure: figureChart, timeline: timeline };
  var rendered = 0;
  data.charts.forEach(function (spec) {
    var el = document.getElementById(spec.id);
    if (!el) throw new Error("flushlab report: no element for chart " + spec.id);
    var render = RENDER[spec.type];
    if (!render) throw new Error("flushlab report: unknown chart type " + spec.type);
    render(spec, el);
    rendered++;
  });
  document.body.setAttribute("data-charts", String(data.charts.length));
  document.body.setAttribute("data-charts-rendered", String(rendered));
})();
