/* contribux-costs report drill-down: filters over the data embedded in the page (#cc-data),
   re-drawing every chart with Plotly.react and every table by showing its matching rows or
   re-summing its costs. No network: everything it needs is in this page. */
(function () {
  "use strict";
  var holder = document.getElementById("cc-data");
  if (!holder) return;
  var D = JSON.parse(holder.textContent);
  var state = { from: D.first, to: D.last };
  D.dims.forEach(function (d) { state[d] = ""; });

  // A column as drill.py wrote it: a plain array, or dictionary-encoded text
  // {"dict": [distinct values], "codes": [index per row or null]} (decoded once, here).
  function column(c) {
    if (Array.isArray(c)) return c;
    return c.codes.map(function (k) { return k === null ? null : c.dict[k]; });
  }

  function rows(name) {  // column-wise JSON -> list of objects (cached)
    var s = D.sources[name];
    if (s.rows) return s.rows;
    var data = s.data.map(column);
    var out = [], n = data.length ? data[0].length : 0;
    for (var i = 0; i < n; i++) {
      var r = {};
      for (var c = 0; c < s.cols.length; c++) r[s.cols[c]] = data[c][i];
      out.push(r);
    }
    s.rows = out;
    s.colset = {};
    s.cols.forEach(function (c) { s.colset[c] = true; });
    return out;
  }

  // A row matches when every active filter on a dimension the row has equals its value;
  // dimensions the widget has no column for do not apply; dates only where there is a date.
  function match(r, has, ignore, where) {
    for (var k in where) if (r[k] !== where[k]) return false;
    for (var i = 0; i < D.dims.length; i++) {
      var d = D.dims[i];
      if (!state[d] || !(d in has) || (ignore && ignore.indexOf(d) >= 0)) continue;
      if (r[d] !== state[d]) return false;
    }
    if (("date" in has) && r.date && !(ignore && ignore.indexOf("date") >= 0)) {
      if (r.date < state.from || r.date > state.to) return false;
    }
    return true;
  }

  function cents(v) { return Math.round(v * 100) / 100; }
  function toCents(list, key) {  // largest remainder (same as drill.py's _to_cents)
    var target = Math.round(sum(list, key) * 100);
    var fl = list.map(function (s) { return Math.floor(s[key] * 100 + 1e-7); });
    var missing = target - fl.reduce(function (a, b) { return a + b; }, 0);
    var order = list.map(function (s, i) { return i; }).sort(function (a, b) {
      return (list[b][key] * 100 - fl[b]) - (list[a][key] * 100 - fl[a]) || a - b; });
    for (var i = 0; i < missing && i < order.length; i++) fl[order[i]] += 1;
    list.forEach(function (s, i) { s[key] = fl[i] / 100; });
  }
  function sum(list, key) { var t = 0; list.forEach(function (r) { t += r[key] || 0; }); return t; }
  function group(list, keyf, valf) {
    var m = {}, order = [];
    list.forEach(function (r) {
      var k = keyf(r);
      if (!(k in m)) { m[k] = []; order.push(k); }
      m[k].push(r);
    });
    return order.map(function (k) { return [k, valf(m[k])]; });
  }
  var fmt = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  function money(v, signed) {
    var t = "$" + fmt.format(Math.abs(v));
    if (Math.round(v * 100) < 0) return "\u2212" + t;
    return signed && Math.round(v * 100) > 0 ? "+" + t : t;
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  // ---- charts -----------------------------------------------------------------------------
  function seriesTraces(w, list, kind) {
    var keys = {};
    list.forEach(function (r) { keys[r[w.series]] = true; });
    return Object.keys(keys).sort().map(function (key, i) {
      var mine = list.filter(function (r) { return r[w.series] === key; });
      var pts = group(mine, function (r) { return w.x === "month" ? r.date.slice(0, 7) : r[w.x]; },
        function (g) {
          return w.ratio ? (sum(g, w.ratio[1]) > 0 ? sum(g, w.ratio[0]) / sum(g, w.ratio[1]) : null)
            : sum(g, w.y);
        }).sort(function (a, b) { return a[0] < b[0] ? -1 : 1; });
      var color = w.colors[key] || w.palette[i % w.palette.length];
      var t = { x: pts.map(function (p) { return p[0]; }), y: pts.map(function (p) { return p[1]; }),
        name: String(key) };
      if (kind === "stack") { t.type = "bar"; t.marker = { color: color }; }
      else { t.type = "scatter"; t.mode = "lines+markers"; t.line = { color: w.palette[i % w.palette.length] };
        t.marker = { size: 4 }; }
      return t;
    });
  }

  function hbarTraces(w, list) {
    var pts = group(list, function (r) { return r[w.label]; }, function (g) { return sum(g, w.value); })
      .filter(function (p) { return p[0] !== null; })
      .sort(function (a, b) { return b[1] - a[1]; }).slice(0, w.limit || 8).reverse();
    if (!pts.length) return [];
    return [{ type: "bar", orientation: "h", x: pts.map(function (p) { return p[1]; }),
      y: pts.map(function (p) { return p[0]; }), marker: { color: w.palette[0] },
      text: pts.map(function (p) { return money(p[1]); }), textposition: "outside", cliponaxis: false }];
  }

  // The forecast is of the whole bill: under a filter it is scaled by the selection's share of
  // the last 28 days of history (said in the chart's note).
  function forecastTraces(w, list, all) {
    var hist = group(list, function (r) { return r.date; }, function (g) { return sum(g, "cost"); })
      .sort(function (a, b) { return a[0] < b[0] ? -1 : 1; })
      .filter(function (p) { return p[0] >= w.since; });
    var recent = function (l) { return sum(l.filter(function (r) { return r.date > w.share_from; }), "cost"); };
    var whole = recent(all), share = whole > 0 ? recent(list) / whole : 0;
    var f = w.forecast, x = f.date, up = f.upper.map(function (v) { return v * share; });
    var lo = f.lower.map(function (v) { return v * share; });
    return [
      { type: "scatter", mode: "lines", name: "actual", line: { color: "#111827" },
        x: hist.map(function (p) { return p[0]; }), y: hist.map(function (p) { return p[1]; }) },
      { type: "scatter", x: x.concat(x.slice().reverse()), y: up.concat(lo.reverse()), fill: "toself",
        fillcolor: "rgba(37,99,235,0.15)", line: { width: 0 }, name: "80% interval", hoverinfo: "skip" },
      { type: "scatter", mode: "lines", name: "forecast", line: { color: "#2563eb", dash: "dash" },
        x: x, y: f.point.map(function (v) { return v * share; }) }
    ];
  }

  // A row flagged ``exact`` (a budget's line) belongs to one selection only: its non-empty
  // dimensions must be exactly the active filters among ``w.exact`` (the total budget: none).
  function exact(w, r) {
    if (!w.exact || !r.exact) return true;
    return w.exact.every(function (d) { return (r[d] === null || r[d] === undefined) === !state[d]; });
  }

  function drawChart(w) {
    var div = document.getElementById(w.id);
    if (!div || !window.Plotly) return;
    var src = rows(w.src), has = D.sources[w.src].colset;
    var list = src.filter(function (r) { return match(r, has, w.ignore, w.where || {}) && exact(w, r); });
    var traces = w.kind === "hbar" ? hbarTraces(w, list)
      : w.kind === "forecast" ? forecastTraces(w, list, src.filter(function (r) {
        return match(r, {}, [], w.where || {}); }))
        : seriesTraces(w, list, w.kind);
    var layout = div.layout || {};
    var empty = !traces.length || traces.every(function (t) { return !t.x.length; });
    layout.annotations = empty ? [{ text: "No data for this selection", showarrow: false,
      xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { size: 14, color: "#57606a" } }] : [];
    ["xaxis", "yaxis"].forEach(function (a) { if (layout[a]) layout[a].visible = !empty; });
    if (div._ccHeight === undefined) div._ccHeight = layout.height || div._fullLayout.height;
    layout.height = div._ccHeight + (div._ccLegend || 0);
    boxHeight(div, layout.height);
    if (div._ccLegend) (layout.legend = layout.legend || {}).maxheight = div._ccLegend + 1;
    var drawn = window.Plotly.react(div, traces, layout, div._context || {});
    if (drawn && drawn.then) drawn.then(function () { fitLegend(div); }); else fitLegend(div);
  }

  // The legend sits under the plot, anchored to the figure's bottom (charts.py), and wraps onto
  // as many rows as the width needs (11 databases are 11 rows on a phone). Grow the figure by
  // the legend's full height so the plot keeps its own and no entry scrolls out of sight; re-fit
  // when the width changes (a phone turned, a window resized).
  function fitLegend(div) {
    var fl = div._fullLayout, lg = fl && fl.legend;
    if (!fl || div._ccHeight === undefined) return;
    var need = fl.showlegend && lg && lg._height ? Math.ceil(lg._height) : 0;
    if (need === (div._ccLegend || 0)) return;
    div._ccLegend = need;
    var update = { height: div._ccHeight + need };
    if (need) update["legend.maxheight"] = need + 1;
    boxHeight(div, update.height);
    window.Plotly.relayout(div, update);
  }
  // plotly's HTML fixes the height of the chart's div and of its wrapper: follow the figure
  function boxHeight(div, h) {
    div.style.height = h + "px";
    if (div.parentElement && div.parentElement.style.height) div.parentElement.style.height = h + "px";
  }
  var refit = null;
  window.addEventListener("resize", function () {  // after plotly's own (responsive) resize
    clearTimeout(refit);
    refit = setTimeout(function () {
      D.widgets.forEach(function (w) {
        var div = w.type === "chart" && document.getElementById(w.id);
        if (div && div._fullLayout) fitLegend(div);
      });
    }, 300);
  });

  // ---- tables -----------------------------------------------------------------------------
  function filterRows(w) {
    var t = document.getElementById(w.id);
    if (!t) return;
    var shown = 0;
    t.tBodies[0].querySelectorAll("tr").forEach(function (tr) {
      if (tr.classList.contains("cc-none")) return;
      var f = tr._f || (tr._f = JSON.parse(tr.getAttribute("data-f") || "{}"));
      var ok = match(f, f, null, {});
      if (f.date_from) ok = ok && !(f.date_to < state.from || f.date_from > state.to);
      if (ok && w.limit && shown >= w.limit) ok = false;  // a top-N of the selection
      tr.hidden = !ok;
      if (ok) shown++;
    });
    noneRow(t, shown, t.tHead.rows[0].cells.length);
  }

  function noneRow(t, shown, span) {
    var none = t.tBodies[0].querySelector("tr.cc-none");
    if (!shown && !none) {
      none = t.tBodies[0].insertRow(-1);
      none.className = "cc-none";
      none.innerHTML = '<td colspan="' + span + '">No rows match the filters.</td>';
    }
    if (none) none.hidden = shown > 0;
  }

  function pivot(w) {
    var t = document.getElementById(w.id);
    if (!t) return;
    var by = w.by.split(","), src = rows("facts"), has = D.sources.facts.colset;
    var cur = src.filter(function (r) { return r.date.slice(0, 7) === w.month && match(r, has, null, w.where); });
    // previous month like for like: the same days of the month as the selected range
    var d0 = state.from.slice(8), d1 = state.to.slice(8);
    var prev = src.filter(function (r) {
      var day = r.date.slice(8);
      return r.date.slice(0, 7) === w.prev && day >= d0 && day <= d1 && match(r, has, ["date"], w.where); });
    var key = function (r) { return JSON.stringify(by.map(function (b) { return r[b]; })); };
    var out = {}, order = [];
    function slot(r) {
      var k = key(r);
      if (!(k in out)) { out[k] = { cost: 0, previous: 0, days: {} }; by.forEach(function (b) { out[k][b] = r[b]; }); order.push(k); }
      return out[k];
    }
    (w.keep || []).forEach(function (v) { var r = {}; r[by[0]] = v; slot(r).kept = true; });
    cur.forEach(function (r) { var s = slot(r); s.cost += r.cost; s.days[r.date] = 1; });
    var cols = [].map.call(t.tHead.rows[0].cells, function (c) { return c.textContent; });
    if (cols.indexOf("previous") >= 0) prev.forEach(function (r) { slot(r).previous += r.cost; });
    // to the cent by largest remainder: the total row is the sum of exactly the figures shown
    // and the selection's total to the cent
    var list = order.map(function (k) { var s = out[k]; s.days = Object.keys(s.days).length; return s; });
    toCents(list, "cost");
    toCents(list, "previous");
    list = list.map(function (s) { s.change = cents(s.cost - s.previous); return s; })
      .filter(function (s) { return s.kept || s.cost !== 0 || s.previous !== 0; })
      .sort(function (a, b) { return b.cost - a.cost; });
    var money_ = { cost: 1, previous: 1, change: 1 };
    function tr(s, total) {
      return "<tr" + (total ? ' class="cc-total"' : "") + ">" + cols.map(function (c) {
        var v = s[c];
        if (c in money_) return '<td class="num" data-v="' + v + '">' + money(v, c === "change") + "</td>";
        if (typeof v === "number") return '<td class="num" data-v="' + v + '">' + v + "</td>";
        return "<td>" + (v === null || v === undefined ? "\u2013" : esc(v)) + "</td>";
      }).join("") + "</tr>";
    }
    var html = list.map(function (s) { return tr(s, false); }).join("");
    if (list.length > 1 && w.title !== "explorer") {  // the total of exactly the rows shown
      var tot = { cost: cents(sum(list, "cost")), previous: cents(sum(list, "previous")),
        change: cents(sum(list, "change")) };
      tot[by[0]] = "total";
      html += tr(tot, true);
    }
    t.tBodies[0].innerHTML = html || '<tr class="cc-none"><td colspan="' + cols.length +
      '">No rows match the filters.</td></tr>';
  }

  // ---- sorting: click a header; numbers by their raw value ------------------------------------
  function sortable(t) {
    [].forEach.call(t.tHead.rows[0].cells, function (th, i) {
      th.tabIndex = 0;
      th.title = "sort";
      var go = function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        [].forEach.call(t.tHead.rows[0].cells, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = t.tBodies[0], all = [].slice.call(body.rows);
        var fixed = all.filter(function (r) { return r.classList.contains("cc-total") || r.classList.contains("cc-none"); });
        var val = function (r) { var c = r.cells[i]; if (!c) return ""; var v = c.getAttribute("data-v");
          return v !== null ? parseFloat(v) : c.textContent.toLowerCase(); };
        all.filter(function (r) { return fixed.indexOf(r) < 0; }).sort(function (a, b) {
          var x = val(a), y = val(b);
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        }).concat(fixed).forEach(function (r) { body.appendChild(r); });
      };
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") go(); });
    });
  }

  // ---- the filter bar -----------------------------------------------------------------------
  var total = document.createElement("span");
  function apply() {
    D.widgets.forEach(function (w) {
      if (w.type === "chart") drawChart(w);
      else if (w.type === "rows") filterRows(w);
      else if (w.type === "pivot") pivot(w);
    });
    var cur = rows("facts").filter(function (r) {
      return r.date >= D.first && match(r, D.sources.facts.colset, null, {}); });
    total.textContent = "Selection: " + money(sum(cur, "cost"));
    document.body.classList.toggle("cc-filtered", isFiltered());
  }
  function isFiltered() {
    return state.from !== D.first || state.to !== D.last || D.dims.some(function (d) { return state[d]; });
  }

  function bar() {
    var box = document.getElementById("cc-filters");
    if (!box) return;
    var facts = rows("facts").filter(function (r) { return r.date >= D.first; });
    var html = "";
    D.dims.forEach(function (d) {
      var vals = {};
      facts.forEach(function (r) { if (r[d] !== null && r[d] !== undefined) vals[r[d]] = true; });
      html += '<label>' + esc(d) + ' <select data-dim="' + esc(d) + '"><option value="">all</option>' +
        Object.keys(vals).sort().map(function (v) { return '<option>' + esc(v) + "</option>"; }).join("") +
        "</select></label>";
    });
    html += '<label>from <input type="date" data-dim="from" min="' + D.first + '" max="' + D.last +
      '" value="' + D.first + '"></label><label>to <input type="date" data-dim="to" min="' + D.first +
      '" max="' + D.last + '" value="' + D.last + '"></label><button type="button">reset</button>';
    box.innerHTML = html;
    box.appendChild(total);
    box.addEventListener("change", function (e) {
      var k = e.target.getAttribute("data-dim");
      if (!k) return;
      state[k] = e.target.value || (k === "from" ? D.first : k === "to" ? D.last : "");
      apply();
    });
    box.querySelector("button").addEventListener("click", function () { set({}); });
  }

  function set(values) {  // from a link: #cc:provider=openai&from=2025-01-17
    D.dims.forEach(function (d) { state[d] = values[d] || ""; });
    state.from = values.from || D.first;
    state.to = values.to || D.last;
    document.querySelectorAll("#cc-filters [data-dim]").forEach(function (el) {
      el.value = state[el.getAttribute("data-dim")];
    });
    apply();
  }
  function fromHash() {
    var h = decodeURIComponent(location.hash || "");
    if (h.indexOf("#cc:") !== 0) return;
    var v = {};
    h.slice(4).split("&").forEach(function (p) { var kv = p.split("="); if (kv[0]) v[kv[0]] = kv.slice(1).join("="); });
    set(v);
    var ex = document.getElementById("cc-explorer");
    if (ex) ex.scrollIntoView();
  }

  bar();
  document.querySelectorAll("table.cc").forEach(sortable);
  D.widgets.forEach(function (w) { if (w.type === "pivot") pivot(w); });
  apply();
  window.addEventListener("hashchange", fromHash);
  fromHash();
  window.ccDrill = { state: state, set: set, apply: apply };  // for tests and the console
})();
