// Live status: while a job on the page is In Progress or a Sync now request is pending, ask the
// tool every 10 seconds what changed, update those rows, the notices and the health summary in
// place, and announce each change. Stops when nothing runs, while the tab is hidden, and when
// the launch token runs out. Without this script the page is the same, and Refresh works.
(function () {
  "use strict";
  var section = document.getElementById("jobs");
  if (!section || !window.fetch) return;
  var EVERY = 1000 * Number(section.dataset.every || 10);
  var token = section.dataset.launchToken;
  var pending = section.dataset.pending === "1";
  var deadline = Date.now() + 1000 * Number(section.dataset.maxAge || 3600);
  var timer = null;

  function rows() { return section.querySelectorAll("tr[data-job-id]"); }
  function running() {
    return pending || section.querySelector('tr[data-status="in_progress"]') !== null;
  }
  function announce(text) {
    var region = document.getElementById("live-announcer");
    if (region) region.textContent = text;
  }
  function schedule() {
    window.clearTimeout(timer);
    timer = null;
    if (running() && !document.hidden && Date.now() < deadline) {
      timer = window.setTimeout(check, EVERY);
    }
  }
  function update(row, job) {
    row.dataset.status = job.status;
    row.querySelector('[data-cell="status"]').innerHTML = job.badge;
    row.querySelector('[data-cell="stage"]').textContent = job.stage;
    var time = row.querySelector('[data-cell="updated"] time');
    time.textContent = job.updated;
    time.setAttribute("datetime", job.updated_iso);
  }
  function check() {
    var query = new URLSearchParams({launch_token: token, pending: pending ? "1" : "0"});
    rows().forEach(function (row) {
      query.append("job", row.dataset.jobId);
      query.append("seen", row.dataset.status);
    });
    fetch(section.dataset.liveUrl + "?" + query.toString(), {headers: {Accept: "application/json"}})
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (answer) {
        token = answer.launch_token;
        var said = [];
        rows().forEach(function (row) {
          var job = answer.jobs[row.dataset.jobId];
          if (job) { update(row, job); said.push(job.announcement); }
        });
        if (said.length) announce(said.join(". ") + ".");
        if (answer.health_html) document.getElementById("health").innerHTML = answer.health_html;
        if (pending && !answer.pending) {
          var notice = section.querySelector('[data-live="pending"]');
          if (notice) notice.remove();
        }
        if (!answer.running) {
          var runningNotice = section.querySelector('[data-live="running"]');
          if (runningNotice) runningNotice.remove();
        }
        pending = answer.pending;
        schedule();
      })
      .catch(function () { window.clearTimeout(timer); timer = null; });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { window.clearTimeout(timer); timer = null; } else if (!timer) schedule();
  });
  schedule();
})();
