// Dynamic Registration is done: tell the platform (Canvas closes its registration frame and
// shows its own confirmation). Sent once the page is shown, and again from the button.
(function () {
  "use strict";
  function close() {
    (window.opener || window.parent).postMessage({subject: "org.imsglobal.lti.close"}, "*");
  }
  document.getElementById("registration-close").addEventListener("click", close);
  close();
})();
