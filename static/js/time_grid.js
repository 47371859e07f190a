// The agenda grid's "now" line follows the clock between refreshes: each line knows the
// instant (epoch ms) each shown hour starts at and that hour's first minute row, so DST
// days need no date arithmetic here.
(function () {
  "use strict";

  function place() {
    var now = Date.now();
    document.querySelectorAll(".tg-now[data-hour-starts]").forEach(function (line) {
      var hours = [];
      try { hours = JSON.parse(line.dataset.hourStarts); } catch (e) { return; }
      var hit = hours.filter(function (h) { return h[0] <= now && now < h[0] + 3600000; })[0];
      if (!hit) { line.hidden = true; return; }
      line.hidden = false;
      line.style.gridRow = (hit[1] + Math.floor((now - hit[0]) / 60000) + 1) + " / span 1";
    });
  }

  // A visit's details open in the panel beside the grid, or below it (week view, phones):
  // bring the panel into sight when it is not.
  function revealDetail(event) {
    var target = event.detail && event.detail.target;
    var panel = document.getElementById("detail");
    if (!target || target.id !== "detail" || !panel) return;
    var box = panel.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight - 80) {
      panel.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    setInterval(place, 60000);
    document.body.addEventListener("htmx:afterSettle", revealDetail);
  });
})();
