// The test platform's side of LTI postMessage storage: keep values per tool origin and answer
// lti.capabilities, lti.put_data and lti.get_data from frames on the page.
(function () {
  "use strict";
  var store = {};
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.subject !== "string") { return; }
    var reply = { subject: data.subject + ".response", message_id: data.message_id };
    var own = store[event.origin] = store[event.origin] || {};
    if (data.subject === "lti.capabilities") {
      reply.supported_messages = [
        { subject: "lti.capabilities" }, { subject: "lti.put_data" }, { subject: "lti.get_data" }
      ];
    } else if (data.subject === "lti.put_data") {
      own[data.key] = data.value;
      reply.key = data.key; reply.value = data.value;
    } else if (data.subject === "lti.get_data") {
      reply.key = data.key; reply.value = own[data.key];
    } else { return; }
    event.source.postMessage(reply, event.origin);
  });
})();

// Dynamic Registration: the tool's frame says it is done; show it, as Canvas would.
window.addEventListener("message", function (event) {
  "use strict";
  if (event.data && event.data.subject === "org.imsglobal.lti.close") {
    var status = document.getElementById("registration-status");
    if (status) {
      status.textContent = "SIS Integration was registered. Reload this page to launch it.";
    }
  }
});

// lti.frameResize: size the tool's frame to its content, as Canvas does.
window.addEventListener("message", function (event) {
  "use strict";
  var data = event.data;
  if (!data || data.subject !== "lti.frameResize") return;
  document.querySelectorAll("iframe").forEach(function (frame) {
    if (frame.contentWindow === event.source) frame.style.height = Number(data.height) + "px";
  });
});
