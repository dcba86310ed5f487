// The OIDC login step inside Canvas's iframe. The server has set a partitioned state cookie;
// when the platform offers postMessage storage the state and nonce go there too. If neither
// can hold them, the admin is offered a new window, where cookies are first-party.
(function () {
  "use strict";
  var el = document.getElementById("lti-login");
  var cfg = el.dataset;

  function go() { window.location.replace(cfg.authUrl); }

  function cookiesWork() {
    if (window.top === window) { return true; }
    var probe = "sis_cookie_probe=" + Math.random().toString(36).slice(2);
    document.cookie = probe + "; Path=/; Max-Age=30; SameSite=None; Secure; Partitioned";
    var kept = document.cookie.indexOf(probe) >= 0;
    document.cookie = probe.split("=")[0] + "=; Path=/; Max-Age=0; SameSite=None; Secure; Partitioned";
    return kept;
  }

  function offerNewWindow() {
    document.getElementById("lti-login-progress").hidden = true;
    document.getElementById("lti-login-blocked").hidden = false;
  }

  function withoutStorage() {
    if (cookiesWork()) { go(); } else { offerNewWindow(); }
  }

  if (!cfg.storageTarget) { withoutStorage(); return; }
  var storage = window.ltiPlatformStorage;
  storage.put(cfg.storageTarget, "state_" + cfg.state, cfg.state)
    .then(function () { return storage.put(cfg.storageTarget, "nonce_" + cfg.nonce, cfg.nonce); })
    .then(go, withoutStorage);
})();
