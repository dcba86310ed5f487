// One scrollbar: tell the platform (Canvas) how tall the page is, on load and whenever its
// content changes, so it sizes its frame to fit (lti.frameResize).
(function () {
  "use strict";
  if (window.parent === window) return;
  var last = 0;
  function send() {
    // The document's own height (scrollHeight never drops below the frame's, so a page that
    // got shorter would keep the old height).
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    window.parent.postMessage({subject: "lti.frameResize", height: height}, "*");
  }
  window.addEventListener("load", send);
  if (window.ResizeObserver) new ResizeObserver(send).observe(document.body);
  send();
})();
