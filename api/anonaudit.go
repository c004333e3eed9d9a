package api

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Bounds on the audit rows of unauthenticated calls (401): anyone who can
// reach the listener can make them, so they must not grow the database
// faster than a person can read it.
const (
	// anonAuditWindow: at most one 401 row per source address per window;
	// the calls in between are counted into that address's next row.
	anonAuditWindow = time.Minute
	// anonAuditTracked bounds the addresses remembered.
	anonAuditTracked = 4096
)

// anonAudit coalesces the audit rows of unauthenticated calls.
type anonAudit struct {
	// log receives the counts of addresses forgotten before their next
	// 401 row.
	log   *slog.Logger
	mu    sync.Mutex
	addrs map[string]*anonWindow
}

type anonWindow struct {
	start  time.Time
	unseen int // 401s since start not recorded one by one
}

// admit says whether a 401 from remoteAddr at now gets an audit row, and
// if so how many of that address's 401s before it were only counted (and
// since when).
func (a *anonAudit) admit(remoteAddr string, now time.Time) (ok bool, unseen int, since time.Time) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.addrs == nil {
		a.addrs = map[string]*anonWindow{}
	}
	if w, seen := a.addrs[host]; seen {
		if now.Sub(w.start) < anonAuditWindow {
			w.unseen++
			return false, 0, time.Time{}
		}
		unseen, since = w.unseen, w.start
		w.start, w.unseen = now, 0
		return true, unseen, since
	}
	if len(a.addrs) >= anonAuditTracked {
		for h, w := range a.addrs {
			if now.Sub(w.start) >= anonAuditWindow {
				if w.unseen > 0 {
					a.log.Warn("unauthenticated calls not audited one by one", "source", h, "calls", w.unseen, "since", w.start)
				}
				delete(a.addrs, h)
			}
		}
		if len(a.addrs) >= anonAuditTracked {
			return true, 0, time.Time{} // recorded, not tracked: memory stays bounded
		}
	}
	a.addrs[host] = &anonWindow{start: now}
	return true, 0, time.Time{}
}

// unseenNote is what a 401 row adds about the calls only counted before it.
func unseenNote(unseen int, since time.Time) string {
	if unseen == 0 {
		return ""
	}
	return fmt.Sprintf(" (and %d more unauthenticated calls from this address since %s, counted here instead of one row each)",
		unseen, since.UTC().Format(time.RFC3339))
}
