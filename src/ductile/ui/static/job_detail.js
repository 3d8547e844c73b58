// Job detail: refetch the page body when an event for one of its jobs (this job, or any job of
// its pipeline tree) arrives on /ui/events, or a new job is queued while the run is active.
// Without the events:ro scope (or EventSource) it polls while the run is active. Progressive:
// the page is complete without this file.
"use strict";
(function () {
  function start() {
    var box = document.getElementById("job-live");
    if (!box) return;
    var status = document.getElementById("live-status");
    function say(text) { if (status) status.textContent = text; }
    function body() { return box.querySelector(".jd"); }
    function ids() { var b = body(); return b ? (b.getAttribute("data-job-ids") || "").split(" ") : []; }
    function active() { var b = body(); return !!b && b.getAttribute("data-active") === "1"; }
    var busy = false, again = false, waiting = false, last = 0, MIN_MS = 1000;
    function refresh() {
      if (busy) { again = true; return; }
      var wait = last + MIN_MS - Date.now();  // a burst of events costs one fetch a second at most
      if (wait > 0) { if (!waiting) { waiting = true; setTimeout(function () { waiting = false; refresh(); }, wait); } return; }
      busy = true; last = Date.now();
      box.setAttribute("aria-busy", "true");
      fetch(box.getAttribute("data-src"), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) {
          if (r.status === 401) { say("Session expired; reload the page to sign in."); return null; }
          return r.status === 200 || r.status === 404 ? r.text() : null;
        })
        .then(function (html) {
          if (html === null) return;
          var focused = document.activeElement && document.activeElement.id;
          var open = Array.prototype.map.call(box.querySelectorAll("details[open] summary"), function (s) { return s.textContent; });
          box.innerHTML = html;
          Array.prototype.forEach.call(box.querySelectorAll("details summary"), function (s) {
            if (open.indexOf(s.textContent) >= 0) s.parentNode.setAttribute("open", "");
          });
          if (focused) { var el = document.getElementById(focused); if (el) el.focus(); }
          box.setAttribute("data-live-updated", String(Date.now()));
        })
        .catch(function () {})
        .then(function () {
          busy = false; box.removeAttribute("aria-busy");
          if (again) { again = false; refresh(); }
        });
    }
    if (box.getAttribute("data-stream") === "1" && "EventSource" in window) {
      var src = new EventSource("/ui/events?types=job.");
      src.addEventListener("stream.open", function () { say("Live: this page updates as its jobs change."); });
      src.addEventListener("stream.gap", refresh);
      src.onmessage = function (e) {
        var msg;
        try { msg = JSON.parse(e.data); } catch (err) { return; }
        var id = msg.data && msg.data.job_id;
        if ((id && ids().indexOf(id) >= 0) || (msg.type === "job.queued" && active())) refresh();
      };
      src.onerror = function () { say("Live updates paused; reconnecting…"); };
      setInterval(function () { if (active()) refresh(); }, 15000);  // a missed event never leaves it stale long
    } else {
      say("Updates every few seconds while the run is active.");
      setInterval(function () { if (active()) refresh(); }, 5000);
    }
  }
  document.addEventListener("DOMContentLoaded", start);
})();
