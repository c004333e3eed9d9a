// Reload the status page every 30 seconds, unless the reader is filling in
// a form (a reload would lose what they typed). The page works without it.
(function () {
  "use strict";
  var typing = false;
  document.addEventListener("input", function () { typing = true; });
  setInterval(function () {
    if (!typing && document.visibilityState === "visible") {
      location.reload();
    }
  }, 30000);
})();
