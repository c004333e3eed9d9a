// Reload the status page every 30 seconds, unless the reader is filling in
// a form (a reload would lose what they typed). The page works without it.
//
// A notice after a form (?created=ID, ?cancelled=ID) is said once: the
// address loses its query at once, so neither these reloads nor a later
// one repeat it about a burst that may since have ended.
(function () {
  "use strict";
  if (location.search && history.replaceState) {
    history.replaceState(null, "", location.pathname + location.hash);
  }
  var typing = false;
  document.addEventListener("input", function () { typing = true; });
  setInterval(function () {
    if (!typing && document.visibilityState === "visible") {
      location.reload();
    }
  }, 30000);
})();
