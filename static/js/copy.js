// "Copy" beside a value shown once (an agent token): the clipboard when the frame may write
// to it (Canvas's iframe allows clipboard-write), else the text is selected for Ctrl+C.
(function () {
  "use strict";
  // The button is shown once this script answers it: a click before the script had loaded
  // did nothing, and without scripts the field is there to select.
  document.querySelectorAll("[data-copy]").forEach(function (button) { button.hidden = false; });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector('[data-copy-status="' + field.id + '"]');
    var say = function (text) { if (status) { status.textContent = text; } };
    var fallback = function () {
      field.focus();
      field.select();
      say(button.getAttribute("data-copy-failed"));
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      // A write that has not settled in 2 s (a browser waiting on a prompt, or on a clipboard
      // it cannot reach) gets the fallback rather than silence.
      var settled = false;
      var settle = function (then) { return function () { if (!settled) { settled = true; then(); } }; };
      window.setTimeout(settle(fallback), 2000);
      navigator.clipboard.writeText(field.value).then(settle(function () {
        say(button.getAttribute("data-copied"));
      }), settle(fallback));
    } else {
      fallback();
    }
  });
})();
