// townsquare console: live counts over server-sent events (EventSource reconnects by itself).
"use strict";
(function () {
  function live(element, url, onEvent, eventName) {
    var state = element.querySelector("[data-live-state]");
    var source = new EventSource(url);
    source.onopen = function () { element.dataset.state = "live"; state.textContent = "live"; };
    source.onerror = function () { element.dataset.state = "offline"; state.textContent = "reconnecting…"; };
    source.addEventListener(eventName, function (event) { onEvent(JSON.parse(event.data)); });
  }

  function cell(text, tag, className) {
    var node = document.createElement(tag || "td");
    node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function showJobs(stats) {
    Object.keys(stats.by_status).forEach(function (status) {
      var count = stats.by_status[status];
      document.querySelectorAll('[data-count="' + status + '"]').forEach(function (node) { node.textContent = count; });
    });
    var deadCard = document.querySelector('[data-card="dead"]');
    if (deadCard) deadCard.classList.toggle("nonzero", stats.dead_letters > 0);
    var oldest = document.querySelector("[data-oldest]");
    if (oldest) oldest.textContent = stats.oldest_due_age_seconds;
    var estimated = document.querySelector("[data-estimated]");
    if (estimated) estimated.hidden = !stats.estimated;
    var body = document.querySelector("[data-by-type]");
    if (!body) return;
    var statuses = Object.keys(stats.by_status);
    body.replaceChildren.apply(body, stats.by_type.map(function (entry) {
      var row = document.createElement("tr");
      if (entry.counts.dead > 0) row.className = "dead";
      var name = cell(entry.job_type, "th");
      name.scope = "row";
      row.appendChild(name);
      statuses.forEach(function (status) {
        var td = cell(String(entry.counts[status]), "td", "num");
        td.dataset.typeCount = entry.job_type + ":" + status;
        row.appendChild(td);
      });
      return row;
    }));
  }

  function showCounts(counts) {
    var total = document.querySelector('[data-lane="total"]');
    if (total) total.textContent = counts.total;
    Object.keys(counts.lanes).forEach(function (lane) {
      var node = document.querySelector('[data-lane="' + lane + '"]');
      if (node) node.textContent = counts.lanes[lane];
    });
  }

  document.querySelectorAll("[data-live-jobs]").forEach(function (element) {
    live(element, element.dataset.liveJobs, showJobs, "stats");
  });
  document.querySelectorAll("[data-live-counts]").forEach(function (element) {
    live(element, element.dataset.liveCounts, showCounts, "counts");
  });
})();
