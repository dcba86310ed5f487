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
      navigator.clipboard.writeText(field.value).then(function () {
        say(button.getAttribute("data-copied"));
      }, fallback);
    } else {
      fallback();
    }
  });
})();
