// Reload the status page now and then (every 30 seconds by default: the
// body's data-refresh-ms), unless the reader is filling in a form (a
// reload would lose what they typed). The page works without it.
//
// A notice after a form (?created=ID, ?cancelled=ID) is said once: the
// address loses its query at once, so neither these reloads nor a later
// one repeat it about a burst that may since have ended. A page that
// answers a refused form (its address is the form's, /bursts) is never
// reloaded: that would post the form again.
(function () {
  "use strict";
  if (location.pathname !== "/") {
    return;
  }
  if (location.search && history.replaceState) {
    history.replaceState(null, "", location.pathname + location.hash);
  }
  var every = Number(document.body.getAttribute("data-refresh-ms")) || 30000;
  var typing = false;
  document.addEventListener("input", function () { typing = true; });
  setInterval(function () {
    if (!typing && document.visibilityState === "visible") {
      location.reload();
    }
  }, every);
})();
