// Refresh the status page now and then (every 30 seconds by default: the
// body's data-refresh-ms), unless the reader is filling in a form (a
// refresh would lose what they typed; the banner below says the figures
// are not refreshed meanwhile). A page fetched while the reader began
// typing is not swapped in either. The page works without it.
//
// The page is fetched and its body swapped in, rather than reloaded: a
// reload while the server restarts left the browser's own error page,
// which never tried again, and a slow server left the old figures with
// nothing saying how old they were. When a refresh fails (no answer
// within the timeout, no connection, or an answer other than the page),
// the figures stay, under a banner saying how old they are and why, and
// the next try waits twice as long as the last, up to a cap, so that the
// pages left open do not hammer a server coming back. A session that has
// ended goes to the login page.
//
// A notice after a form (?created=ID, ?cancelled=ID) is said once: the
// address loses its query at once, so neither these refreshes nor a later
// reload repeat it about a burst that may since have ended. A page that
// answers a refused form (its address is the form's, /bursts) is never
// refreshed: that would post the form again; once a period has passed, its
// banner says so, how old its figures are, and links to the status page.
(function () {
  "use strict";
  // A form's answer (a refused form, at the form's address) is never
  // refreshed: that would send the form again.
  var answer = location.pathname !== "/";
  if (!answer && location.search && history.replaceState) {
    history.replaceState(null, "", location.pathname + location.hash);
  }
  var every = Number(document.body.getAttribute("data-refresh-ms")) || 30000;
  // A try gets at most 20 s (less when the page refreshes more often);
  // failed tries back off to at most 2 minutes apart (or the period).
  var timeout = Math.min(20000, Math.max(every, 2000));
  var cap = Math.max(every, 120000);
  var loadedAt = Date.now(); // when the figures shown were fetched
  var failures = 0;
  var problem = "";
  var paused = false; // a form is being filled in: no refresh meanwhile
  var nextAt = 0;
  var timer = 0;
  var busy = false;

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function clock(ms) {
    var d = new Date(ms);
    return two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()) + ":" + two(d.getUTCSeconds()) + " UTC";
  }
  function age(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 120) {
      return s + " s";
    }
    var m = Math.floor(s / 60);
    return m < 120 ? m + " min" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  // banner says, while refreshes fail or wait for a form, how old the
  // figures are and why.
  function banner() {
    var el = document.getElementById("stale");
    if (!problem && !paused) {
      if (el) {
        el.remove();
      }
      return;
    }
    if (!el) {
      el = document.createElement("p");
      el.id = "stale";
      el.className = "error";
      el.setAttribute("role", "alert");
      var main = document.querySelector("main");
      main.insertBefore(el, main.firstChild);
    }
    el.textContent = "Not up to date: the figures below are " + age(Date.now() - loadedAt) +
      " old (fetched at " + clock(loadedAt) + ")." + (problem ? " " + problem : "") +
      (paused ? " They are not refreshed while a form is being filled in." :
        nextAt ? " Trying again at " + clock(nextAt) + "." : "");
    if (answer) {
      var a = document.createElement("a");
      a.href = "/";
      a.id = "current";
      a.textContent = "Open the status page";
      el.append(" ", a, " for current figures.");
    }
  }

  // editing says whether the reader is filling in a form: a field has
  // the focus, or holds something other than what the page put there.
  function editing() {
    var a = document.activeElement;
    if (a && a.form && a.type !== "submit") {
      return true;
    }
    var fields = document.querySelectorAll("form input, form textarea");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].type !== "hidden" && fields[i].value !== fields[i].defaultValue) {
        return true;
      }
    }
    return false;
  }

  function schedule(ms) {
    clearTimeout(timer);
    nextAt = problem && !paused ? Date.now() + ms : 0;
    timer = setTimeout(refresh, ms);
    banner();
  }

  function failed(why) {
    failures++;
    problem = why;
    // 1, 2, 4 … periods apart, up to the cap, with a tenth of jitter so
    // that pages opened together do not try together.
    var wait = Math.min(cap, every * Math.pow(2, failures - 1));
    schedule(wait * (0.9 + Math.random() * 0.1));
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    if (!doc.querySelector("main")) {
      failed("The server's answer was not the status page.");
      return;
    }
    failures = 0;
    problem = "";
    // The reader began filling in a form while the page was fetched:
    // swapping it in would lose what they typed.
    if (editing()) {
      paused = true;
      schedule(every);
      return;
    }
    document.title = doc.title;
    document.body.replaceWith(document.adoptNode(doc.body));
    loadedAt = Date.now();
    paused = false;
    schedule(every);
  }

  function refresh() {
    if (busy) {
      return;
    }
    if (document.visibilityState !== "visible") {
      schedule(every);
      return;
    }
    if (editing()) {
      paused = true;
      schedule(every);
      return;
    }
    paused = false;
    busy = true;
    var ctl = new AbortController();
    var t = setTimeout(function () { ctl.abort(); }, timeout);
    fetch("/", { cache: "no-store", credentials: "same-origin", signal: ctl.signal })
      .then(function (resp) {
        if (resp.redirected && new URL(resp.url).pathname === "/login") {
          location.assign("/login");
          return null;
        }
        if (!resp.ok) {
          failed("The server answered " + resp.status + (resp.statusText ? " " + resp.statusText : "") + ".");
          return null;
        }
        return resp.text();
      })
      .then(function (html) {
        if (html !== null) {
          swap(html);
        }
      })
      .catch(function () {
        if (ctl.signal.aborted) {
          failed("The server did not answer within " + Math.round(timeout / 1000) + " s.");
        } else {
          failed("The server could not be reached (it may be restarting).");
        }
      })
      .finally(function () {
        clearTimeout(t);
        busy = false;
      });
  }

  if (answer) {
    // Once a period has passed, the banner says the figures are getting
    // old and will not be refreshed here.
    setInterval(function () {
      if (Date.now() - loadedAt >= every) {
        problem = "This page answers a form and is not refreshed (that would send the form again).";
        banner();
      }
    }, 1000);
    return;
  }

  // Back to a tab left for a while: refresh at once rather than show old
  // figures for up to a period.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !busy && Date.now() - loadedAt >= every) {
      refresh();
    }
  });
  // The banner's age counts up while refreshes fail.
  setInterval(function () {
    if (problem || paused) {
      banner();
    }
  }, 1000);
  schedule(every);
})();
