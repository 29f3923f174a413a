// The waypost console's one script (embedded in the binary): follows a running
// execution. Its page names a stream in `data-live`; each `update` recolours the
// graph's states and moves the map progress bars, and `end` reloads the page for the
// final history. Pages work without it.
(function () {
  "use strict";
  const root = document.querySelector("[data-live]");
  if (!root || !window.EventSource) return;
  const colours = {
    "succeeded": ["#dff3df", "#1d8102"], "failed": ["#fde2e0", "#d13212"],
    "caught": ["#fff1d6", "#ec7211"], "cancelled": ["#d5dbdb", "#545b64"],
    "running": ["#dcecfa", "#0073bb"], "not-reached": ["#f2f3f3", "#aab7b8"],
  };
  const source = new EventSource(root.getAttribute("data-live"));
  source.addEventListener("update", function (message) {
    const update = JSON.parse(message.data);
    const badge = root.querySelector("h1 .badge");
    if (badge) {
      badge.textContent = update.status_text;
      badge.className = "badge status-" + update.status;
      badge.setAttribute("data-status", update.status);
    }
    const took = root.querySelector("dd.duration");
    if (took) took.textContent = (update.duration_ms / 1000).toFixed(3) + "s";
    for (const node of root.querySelectorAll("svg [data-address]")) {
      const status = update.states[node.getAttribute("data-address")];
      if (!status || node.getAttribute("data-status") === status) continue;
      node.setAttribute("data-status", status);
      const shape = node.querySelector("rect");
      if (shape && node.classList.contains("leaf")) {
        shape.setAttribute("fill", colours[status][0]);
        shape.setAttribute("stroke", colours[status][1]);
      }
    }
    for (const map of update.maps) {
      const box = Array.from(root.querySelectorAll("[data-map]"))
        .find(function (el) { return el.getAttribute("data-map") === map.address; });
      if (!box) { location.reload(); return; }
      const bar = box.querySelector("progress");
      if (map.total !== null) bar.max = Math.max(map.total, 1);
      bar.value = map.done;
      box.querySelector(".done").textContent = map.done;
      box.querySelector(".failed").textContent = map.failed;
      if (map.total !== null) box.querySelector(".total").textContent = map.total;
    }
  });
  source.addEventListener("end", function () {
    source.close();
    location.reload();
  });
})();
