// trailscope web: conveniences only; every page shows its data and works without this script.
// Tooltips, one tab stop per chart with arrow keys, legend toggles, zoom by drag, sortable
// tables and a column chooser. No library; nothing from the page's data is ever parsed as HTML
// (text goes in through textContent only).
"use strict";
(function () {
  var tip = null;

  function showTip(text, el) {
    if (!tip || !text) { return; }
    tip.textContent = text;
    tip.hidden = false;
    var r = el.getBoundingClientRect();
    var top = window.scrollY + r.top - tip.offsetHeight - 6;
    if (top < window.scrollY) { top = window.scrollY + r.bottom + 6; }
    var left = Math.min(window.scrollX + r.left, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
    tip.style.left = Math.max(4, left) + "px";
    tip.style.top = top + "px";
  }
  function hideTip() { if (tip) { tip.hidden = true; } }

  // Native <title> tooltips become data-tip (one tooltip, shown on hover and on keyboard focus).
  function tipText(el) {
    if (el.dataset.tip) { return el.dataset.tip; }
    var t = el.querySelector(":scope > title");
    var link = el.parentNode && el.parentNode.getAttribute ? el.parentNode.getAttribute("aria-label") : null;
    var text = t ? t.textContent : (el.getAttribute("title") || link || "");
    if (t) { t.remove(); }
    el.removeAttribute("title");
    el.dataset.tip = text;
    return text;
  }

  function linkOf(el) {
    var a = el.closest("a[href]") || el.querySelector("a[href]");
    return a ? a.getAttribute("href") : null;
  }

  function visibleMarks(fig) {
    return Array.prototype.filter.call(fig.querySelectorAll(".mark"), function (m) {
      return !m.closest(".hidden-series") && !m.classList.contains("hidden-series");
    });
  }

  function setupChart(fig) {
    fig.tabIndex = 0;
    fig.querySelectorAll("a, button.toggle").forEach(function (el) {
      if (!el.closest("ul.legend") && !el.closest("details")) { el.tabIndex = -1; }
    });
    fig.querySelectorAll(".mark").forEach(function (m) {
      tipText(m);
      m.addEventListener("mouseenter", function () { showTip(m.dataset.tip, m); });
      m.addEventListener("mouseleave", hideTip);
    });
    var at = -1;
    fig.addEventListener("keydown", function (ev) {
      var marks = visibleMarks(fig);
      if (!marks.length) { return; }
      var step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1, Home: -1e9, End: 1e9 }[ev.key];
      if (step !== undefined) {
        ev.preventDefault();
        if (at >= 0 && marks[at]) { marks[at].classList.remove("focus"); }
        at = Math.max(0, Math.min(marks.length - 1, (at < 0 ? (step > 0 ? -1 : marks.length) : at) + step));
        marks[at].classList.add("focus");
        showTip(marks[at].dataset.tip, marks[at]);
      } else if (ev.key === "Enter" && at >= 0 && marks[at]) {
        var href = linkOf(marks[at]);
        if (href) { ev.preventDefault(); window.location.href = href; }
      } else if (ev.key === "Escape") {
        hideTip();
      }
    });
    fig.addEventListener("blur", function () {
      hideTip();
      fig.querySelectorAll(".mark.focus").forEach(function (m) { m.classList.remove("focus"); });
      at = -1;
    });
    setupLegend(fig);
    if (fig.dataset.chart === "time") { setupZoom(fig); }
  }

  // Legend buttons show and hide a series; stacked bars close up over what is hidden.
  function setupLegend(fig) {
    fig.querySelectorAll("ul.legend button.toggle").forEach(function (b) {
      b.addEventListener("click", function () {
        var on = b.getAttribute("aria-pressed") !== "false";
        b.setAttribute("aria-pressed", on ? "false" : "true");
        fig.querySelectorAll("[data-s='" + b.dataset.s + "']").forEach(function (el) {
          if (el.closest("ul.legend")) { return; }
          var target = el.parentNode.tagName.toLowerCase() === "a" ? el.parentNode : el;
          target.classList.toggle("hidden-series", on);
          el.classList.toggle("hidden-series", on);
        });
        restack(fig);
      });
    });
  }

  function restack(fig) {
    var plot = fig.querySelector("svg.plot");
    if (plot) {
      var bottom = parseFloat(plot.dataset.bottom || "196");
      var tops = {};
      plot.querySelectorAll("rect.mark").forEach(function (r) {
        if (r.classList.contains("hidden-series")) { return; }
        var b = r.dataset.b, h = parseFloat(r.getAttribute("height"));
        var y = (tops[b] === undefined ? bottom : tops[b]) - h;
        r.setAttribute("y", y.toFixed(2));
        tops[b] = y;
      });
    }
    fig.querySelectorAll("td.bbar svg").forEach(function (svg) {
      var rects = svg.querySelectorAll("rect");
      if (rects.length < 2 || rects[0].getAttribute("x") === rects[1].getAttribute("x")) { return; }
      var x = 0;
      rects.forEach(function (r) {
        if (r.classList.contains("hidden-series")) { return; }
        r.setAttribute("x", x.toFixed(3) + "%");
        x += parseFloat(r.getAttribute("width"));
      });
    });
  }

  // Drag across a time chart to zoom the whole page to that range.
  function setupZoom(fig) {
    var plot = fig.querySelector("svg.plot");
    var since = parseInt(fig.dataset.since, 10), until = parseInt(fig.dataset.until, 10);
    if (!plot || !(until > since)) { return; }
    var start = null, sel = null;
    function frac(ev) {
      var r = plot.getBoundingClientRect();
      return Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width));
    }
    plot.addEventListener("mousedown", function (ev) {
      if (ev.button !== 0) { return; }
      ev.preventDefault();
      start = frac(ev);
      sel = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      sel.setAttribute("class", "zoomsel");
      sel.setAttribute("y", "0");
      sel.setAttribute("height", plot.getAttribute("height"));
      sel.setAttribute("x", (start * 100) + "%");
      sel.setAttribute("width", "0");
      plot.appendChild(sel);
    });
    window.addEventListener("mousemove", function (ev) {
      if (start === null) { return; }
      var f = frac(ev);
      sel.setAttribute("x", (Math.min(start, f) * 100) + "%");
      sel.setAttribute("width", (Math.abs(f - start) * 100) + "%");
    });
    window.addEventListener("mouseup", function (ev) {
      if (start === null) { return; }
      var f = frac(ev), a = Math.min(start, f), b = Math.max(start, f);
      start = null;
      if (b - a < 0.01) { sel.remove(); return; }  // a click, not a drag: links still work
      var t0 = Math.floor(since + a * (until - since)), t1 = Math.ceil(since + b * (until - since));
      var url = new URL(window.location.href);
      var p = url.searchParams;
      if (!p.has("zoom")) {
        var back = new URLSearchParams();
        ["range", "since", "until"].forEach(function (k) { if (p.has(k)) { back.set(k, p.get(k)); } });
        p.set("zoom", back.toString() || "range=7d");
      }
      p.set("range", "custom");
      p.set("since", new Date(t0 * 1000).toISOString().replace(/\.\d+Z$/, "Z"));
      p.set("until", new Date(t1 * 1000).toISOString().replace(/\.\d+Z$/, "Z"));
      p.delete("page");
      window.location.href = url.pathname + "?" + p.toString();
    });
    plot.addEventListener("click", function (ev) {
      if (sel && sel.isConnected && parseFloat(sel.getAttribute("width")) > 1) { ev.preventDefault(); }
    }, true);
  }

  // Sortable tables (click a heading) and a column chooser for wide ones.
  function cellValue(td) {
    if (!td) { return ""; }
    return td.dataset.sort !== undefined ? td.dataset.sort : td.textContent.trim();
  }
  function setupTable(table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, i) {
      if (th.classList.contains("nosort")) { return; }
      var b = document.createElement("button");
      b.type = "button";
      b.className = "sort";
      b.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(b);
      b.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var numeric = rows.every(function (r) {
          var v = cellValue(r.cells[i]);
          return v === "" || !isNaN(parseFloat(v.replace(/,/g, "")));
        });
        rows.sort(function (ra, rb) {
          var a = cellValue(ra.cells[i]), c = cellValue(rb.cells[i]);
          var d = numeric ? (parseFloat(a.replace(/,/g, "")) || 0) - (parseFloat(c.replace(/,/g, "")) || 0)
                          : a.localeCompare(c);
          return asc ? d : -d;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
    if (heads.length > 6 && table.dataset.table) { columnChooser(table, heads); }
  }
  function columnChooser(table, heads) {
    var key = "trailscope.cols." + table.dataset.table;
    var hidden = {};
    try { hidden = JSON.parse(localStorage.getItem(key) || "{}"); } catch (e) { hidden = {}; }
    var box = document.createElement("details");
    box.className = "cols";
    var sum = document.createElement("summary");
    sum.textContent = "Columns";
    box.appendChild(sum);
    var fs = document.createElement("fieldset");
    var legend = document.createElement("legend");
    legend.className = "sr";
    legend.textContent = "columns shown";
    fs.appendChild(legend);
    function apply(i, show) {
      Array.prototype.forEach.call(table.rows, function (r) {
        if (r.cells[i]) { r.cells[i].classList.toggle("colhidden", !show); }
      });
    }
    heads.forEach(function (th, i) {
      var name = th.dataset.col;
      if (!name || i === 0) { return; }
      var label = document.createElement("label");
      var cb = document.createElement("input");
      cb.type = "checkbox";
      cb.checked = !hidden[name];
      cb.addEventListener("change", function () {
        if (cb.checked) { delete hidden[name]; } else { hidden[name] = 1; }
        try { localStorage.setItem(key, JSON.stringify(hidden)); } catch (e) { /* private mode */ }
        apply(i, cb.checked);
      });
      label.appendChild(cb);
      label.appendChild(document.createTextNode(" " + name));
      fs.appendChild(label);
      if (hidden[name]) { apply(i, false); }
    });
    box.appendChild(fs);
    var wrap = table.closest(".tablewrap") || table;
    wrap.parentNode.insertBefore(box, wrap);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tip = document.getElementById("tip");
    // Drop-downs apply at once when chosen with the mouse; with the keyboard, arrow keys only
    // move the choice and Enter (or the Apply button) applies it.
    document.querySelectorAll("select.autosubmit").forEach(function (el) {
      var keyed = false;
      el.addEventListener("keydown", function (ev) {
        keyed = true;
        if (ev.key === "Enter") { ev.preventDefault(); el.form.submit(); }
      });
      el.addEventListener("mousedown", function () { keyed = false; });
      el.addEventListener("change", function () { if (!keyed) { el.form.submit(); } });
    });
    document.querySelectorAll("figure.chart").forEach(setupChart);
    document.querySelectorAll("table.sortable").forEach(setupTable);
    // Ctrl/Cmd+Enter runs the workbench query.
    var sql = document.getElementById("sql");
    if (sql) {
      sql.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
          ev.preventDefault();
          document.getElementById("run").click();
        }
      });
    }
    document.body.dataset.ready = "1";
  });
})();
