// The launch arrived without our state cookie (the browser withheld it from the iframe), but
// the login put the state and nonce in the platform's storage. Only the browser that started
// the login has them there: check both before opening the tool.
(function () {
  "use strict";
  var cfg = document.getElementById("lti-launch-check").dataset;
  var storage = window.ltiPlatformStorage;

  function fail() {
    document.getElementById("lti-launch-progress").hidden = true;
    document.getElementById("lti-launch-failed").hidden = false;
  }

  Promise.all([
    storage.get(cfg.storageTarget, "state_" + cfg.state),
    storage.get(cfg.storageTarget, "nonce_" + cfg.nonce)
  ]).then(function (values) {
    if (values[0] === cfg.state && values[1] === cfg.nonce) { window.location.replace(cfg.nextUrl); }
    else { fail(); }
  }, fail);
})();
