// ductile dashboard: progressive enhancement only; every page works without this file.
// 1. POSTs made by script carry the CSRF token from <meta name="csrf-token"> (forms have it as a field).
// 2. Live regions: an element with data-live-src="<url>" is re-fetched (HTML fragment) when an
//    event whose type starts with one of data-live-types arrives on /ui/events, at most once per
//    data-live-min-ms (default 1000); without EventSource support it polls every data-live-poll-ms.
"use strict";
(function () {
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  window.ductile = window.ductile || {};
  window.ductile.post = function (url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "X-Requested-With": "fetch", "Content-Type": "application/x-www-form-urlencoded" },
      body: body || ""
    });
  };

  function refresher(el) {
    var busy = false, again = false, last = 0;
    var minMs = parseInt(el.getAttribute("data-live-min-ms") || "1000", 10);
    function run() {
      if (busy) { again = true; return; }
      var wait = last + minMs - Date.now();
      if (wait > 0) { if (!again) { again = true; setTimeout(function () { again = false; run(); }, wait); } return; }
      busy = true; last = Date.now();
      el.setAttribute("aria-busy", "true");
      fetch(el.getAttribute("data-live-src"), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) {
          if (r.status === 401) {
            var st = document.getElementById("live-status");
            if (st) st.textContent = "Your session has ended: reload the page to sign in again.";
            el.dispatchEvent(new CustomEvent("ductile:expired", { bubbles: true }));
            return null;
          }
          return r.ok ? r.text() : null;
        })
        .then(function (html) {
          if (html !== null) {
            var focused = document.activeElement && document.activeElement.id;
            el.innerHTML = html;
            if (focused && el.querySelector("#" + CSS.escape(focused))) { document.getElementById(focused).focus(); }
            el.setAttribute("data-live-updated", String(Date.now()));
            el.dispatchEvent(new CustomEvent("ductile:updated", { bubbles: true }));
          }
        })
        .catch(function () {})
        .then(function () {
          busy = false; el.removeAttribute("aria-busy");
          if (again) { again = false; run(); }
        });
    }
    return run;
  }

  function live() {
    var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-src]"));
    if (!regions.length) return;
    var hooks = regions.map(function (el) {
      var types = (el.getAttribute("data-live-types") || "").split(",").map(function (t) { return t.trim(); }).filter(Boolean);
      return { el: el, types: types, run: refresher(el) };
    });
    function dispatch(type) {
      hooks.forEach(function (h) {
        if (type === "*" || !h.types.length || h.types.some(function (p) { return type.indexOf(p) === 0; })) h.run();
      });
    }
    var status = document.getElementById("live-status");
    function say(text) { if (status) status.textContent = text; }
    if (!("EventSource" in window)) {
      hooks.forEach(function (h) { setInterval(h.run, parseInt(h.el.getAttribute("data-live-poll-ms") || "5000", 10)); });
      say("Updates every few seconds.");
      return;
    }
    var src = new EventSource("/ui/events");
    src.addEventListener("stream.open", function () { say("Live: updates as jobs run."); });
    src.addEventListener("stream.gap", function () { dispatch("*"); });
    // /ui/events sends hub events as plain messages whose JSON names the type
    src.onmessage = function (e) {
      var type = "";
      try { type = JSON.parse(e.data).type || ""; } catch (err) { return; }
      dispatch(type);
    };
    src.onerror = function () { say("Live updates paused; reconnecting…"); };
    // a slow fallback, so a missed event type never leaves a page stale for long
    hooks.forEach(function (h) { setInterval(h.run, parseInt(h.el.getAttribute("data-live-poll-ms") || "15000", 10)); });
  }

  document.addEventListener("DOMContentLoaded", live);
})();
