/* Vicino's charts (Chart.js). Each canvas says what it shows with data-chart and where its data is with
 * data-source (the id of a json_script element):
 *   rates      an experiment's conversion rate per variant, with its 95 % interval as an error bar
 *   histogram  counts per bin (labels, counts)
 * Every chart has a table next to it with the same numbers, for screen readers and for exact values. */
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  var BRAND = "#0b6e4f", CONTROL = "#566072", INK = "#1d2433";
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = INK;
  Chart.defaults.animation = false;  // charts show numbers, not motion (and reduce-motion is respected)

  function data(el) { return JSON.parse(document.getElementById(el.dataset.source).textContent); }
  function percent(value) { return (value * 100).toFixed(value < 0.1 ? 2 : 1) + " %"; }

  // Draws each bar's interval as a whisker with caps, from dataset.intervals[i] = [low, high].
  var errorBars = {
    id: "vicinoErrorBars",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      chart.data.datasets.forEach(function (dataset, d) {
        if (!dataset.intervals) { return; }
        var meta = chart.getDatasetMeta(d);
        var y = chart.scales.y;
        meta.data.forEach(function (bar, i) {
          var interval = dataset.intervals[i];
          if (!interval || interval[0] == null || interval[1] == null) { return; }
          var top = y.getPixelForValue(interval[1]), bottom = y.getPixelForValue(interval[0]);
          var half = Math.min(12, bar.width / 4);
          ctx.save();
          ctx.strokeStyle = INK;
          ctx.lineWidth = 2;
          ctx.beginPath();
          ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
          ctx.moveTo(bar.x - half, top); ctx.lineTo(bar.x + half, top);
          ctx.moveTo(bar.x - half, bottom); ctx.lineTo(bar.x + half, bottom);
          ctx.stroke();
          ctx.restore();
        });
      });
    },
  };

  function ratesChart(el) {
    var d = data(el);
    var highest = Math.max.apply(null, d.high.map(function (v) { return v == null ? 0 : v; }).concat([0.01]));
    return new Chart(el, {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [{
          label: "Conversion rate",
          data: d.rates,
          intervals: d.labels.map(function (_l, i) { return [d.low[i], d.high[i]]; }),
          backgroundColor: d.labels.map(function (_l, i) { return i === 0 ? CONTROL : BRAND; }),
          maxBarThickness: 90,
        }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          y: { beginAtZero: true, suggestedMax: Math.min(1, highest * 1.15),
               ticks: { callback: function (v) { return percent(v); } },
               title: { display: true, text: "Conversion rate (bars: 95 % interval)" } },
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (item) {
            var i = item.dataIndex;
            if (d.rates[i] == null) { return "no one exposed yet"; }
            return percent(d.rates[i]) + " (95 %: " + percent(d.low[i]) + "–" + percent(d.high[i]) + "), n = " + d.n[i];
          } } },
        },
      },
      plugins: [errorBars],
    });
  }

  function histogramChart(el) {
    var d = data(el);
    return new Chart(el, {
      type: "bar",
      data: { labels: d.labels, datasets: [{ label: d.label || "People", data: d.counts, backgroundColor: BRAND,
        categoryPercentage: 1.0, barPercentage: 0.95 }] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { title: { display: !!d.xTitle, text: d.xTitle || "" } },
          y: { beginAtZero: true, title: { display: true, text: d.yTitle || "People" }, ticks: { precision: 0 } },
        },
        plugins: { legend: { display: false } },
      },
    });
  }

  var KINDS = { rates: ratesChart, histogram: histogramChart };
  function build(root) {
    root.querySelectorAll("canvas[data-chart]").forEach(function (el) {
      if (el.dataset.built) { return; }
      var make = KINDS[el.dataset.chart];
      if (make) { el.dataset.built = "1"; make(el); }
    });
  }
  build(document);
  // Charts inside HTMX-swapped content (a results panel that was polling) are built once it arrives.
  document.body.addEventListener("htmx:afterSettle", function () { build(document); });
})();
