// trailscope web: small conveniences only; every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Filter and option selects apply at once.
  document.querySelectorAll("select.autosubmit").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  // Ctrl/Cmd+Enter runs the workbench query; Tab inserts spaces in the editor.
  var sql = document.getElementById("sql");
  if (sql) {
    sql.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        document.getElementById("run").click();
      } else if (ev.key === "Tab" && !ev.shiftKey) {
        ev.preventDefault();
        var s = sql.selectionStart, e = sql.selectionEnd;
        sql.value = sql.value.slice(0, s) + "    " + sql.value.slice(e);
        sql.selectionStart = sql.selectionEnd = s + 4;
      }
    });
  }
  document.body.dataset.ready = "1";
});
