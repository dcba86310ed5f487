// Connect to Canvas runs in a window of its own (Canvas's authorization page cannot be framed).
// In that window: tell the tab that opened it, then close. In the tab: reload when told.
(function () {
  "use strict";
  var SUBJECT = "sis-integration.canvas-connected";
  var result = document.getElementById("canvas-connect-result");
  if (result) {
    var close = document.getElementById("close-window");
    if (close) close.addEventListener("click", function () { window.close(); });
    if (window.opener && result.dataset.connected === "true") {
      // Only the tool's own pages (same origin) may hear it.
      window.opener.postMessage({subject: SUBJECT}, window.location.origin);
      window.setTimeout(function () { window.close(); }, 1500);
    }
    return;
  }
  window.addEventListener("message", function (event) {
    if (event.origin === window.location.origin && event.data && event.data.subject === SUBJECT) {
      window.location.reload();
    }
  });
})();
