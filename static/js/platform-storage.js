// LTI Client Side postMessage storage (1EdTech): keep small values in the platform's frame
// when the browser will not keep our cookies in its iframe. Canvas names the frame to talk to
// in `lti_storage_target`. Every call times out, so a platform that does not answer only
// costs a short wait before the caller falls back.
(function () {
  "use strict";
  var TIMEOUT_MS = 2000;

  function newId() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function targetFrame(name) {
    var parent = window.parent !== window ? window.parent : window.opener;
    if (!parent) { return null; }
    if (!name || name === "_parent") { return parent; }
    try { return parent.frames[name] || null; } catch (e) { return null; }
  }

  function send(target, subject, payload) {
    return new Promise(function (resolve, reject) {
      if (!target) { reject(new Error("no platform frame")); return; }
      var messageId = newId();
      var timer = setTimeout(function () { done(); reject(new Error(subject + " timed out")); }, TIMEOUT_MS);
      function done() { clearTimeout(timer); window.removeEventListener("message", onMessage); }
      function onMessage(event) {
        var data = event.data;
        // Only the frame we asked may answer, and only to our message.
        if (event.source !== target || !data || typeof data !== "object" ||
            data.subject !== subject + ".response" || data.message_id !== messageId) { return; }
        done();
        if (data.error) { reject(new Error(subject + ": " + (data.error.message || data.error.code))); }
        else { resolve(data); }
      }
      window.addEventListener("message", onMessage);
      var message = Object.assign({ subject: subject, message_id: messageId }, payload);
      // The values are the OIDC state and nonce, which the platform sees anyway.
      target.postMessage(message, "*");
    });
  }

  function supports(name) {
    return send(targetFrame("_parent"), "lti.capabilities", {}).then(function (data) {
      var supported = (data.supported_messages || []).map(function (m) { return m.subject; });
      if (supported.indexOf("lti.put_data") < 0 || supported.indexOf("lti.get_data") < 0) {
        throw new Error("platform storage not supported");
      }
      return targetFrame(name);
    });
  }

  window.ltiPlatformStorage = {
    put: function (name, key, value) {
      return supports(name).then(function (frame) {
        return send(frame, "lti.put_data", { key: key, value: value });
      });
    },
    get: function (name, key) {
      return supports(name).then(function (frame) {
        return send(frame, "lti.get_data", { key: key });
      }).then(function (data) { return data.value; });
    }
  };
})();
