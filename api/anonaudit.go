package api

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spillway-io/spillway/internal/connlimit"
)

// Bounds on the audit rows of unauthenticated calls (401): anyone who can
// reach the listener can make them, from as many addresses as they hold (an
// IPv6 host commonly holds a /64), so they must not grow the database
// faster than a person can read it.
const (
	// anonAuditWindow: at most one 401 row per source a window (an IPv4
	// address, or an IPv6 /64); that source's calls in between are counted
	// into its next row.
	anonAuditWindow = time.Minute
	// anonAuditRows bounds the 401 rows of all sources together a window.
	// The calls past it are counted into one summary row, written with
	// the first 401 of a later window (beside its rows): how many, from
	// which sources, doing what, and when.
	anonAuditRows = 60
	// anonAuditTracked bounds the sources remembered, and those a summary
	// counts apart.
	anonAuditTracked = 4096
	// anonAuditTop is how many sources and actions a summary row names.
	anonAuditTop = 5
)

// anonAudit coalesces the audit rows of unauthenticated calls.
type anonAudit struct {
	// log hears when 401s go over anonAuditRows.
	log *slog.Logger

	mu    sync.Mutex
	addrs map[string]*anonWindow
	// start and rows: the window of anonAuditRows, and the rows it
	// has written.
	start time.Time
	rows  int
	over  anonOverflow
}

type anonWindow struct {
	start  time.Time
	unseen int // 401s since start not recorded one by one
}

// anonOverflow counts the 401s that got no row of their own and will not
// be counted into one of their source's: those over anonAuditRows, and
// those of a source forgotten before its next row.
type anonOverflow struct {
	calls       int
	first, last time.Time
	sources     map[string]int
	// untracked: calls of sources past anonAuditTracked.
	untracked int
	// actions: what the calls over anonAuditRows did (a forgotten
	// source's counted calls are not kept by action).
	actions map[string]int
}

func (o *anonOverflow) add(source, action string, n int, first, last time.Time) {
	if o.calls == 0 || first.Before(o.first) {
		o.first = first
	}
	if last.After(o.last) {
		o.last = last
	}
	o.calls += n
	if o.sources == nil {
		o.sources, o.actions = map[string]int{}, map[string]int{}
	}
	if _, ok := o.sources[source]; ok || len(o.sources) < anonAuditTracked {
		o.sources[source] += n
	} else {
		o.untracked += n
	}
	if _, ok := o.actions[action]; action != "" && (ok || len(o.actions) < anonAuditTracked) {
		o.actions[action] += n
	}
}

// anonVerdict is what a 401 leaves in the audit log.
type anonVerdict struct {
	// row: the call gets a row of its own, to which note adds the calls
	// of its source counted since its last row.
	row  bool
	note string
	// summary, when not empty, is the outcome of a summary row to write
	// before the call's: the calls counted over anonAuditRows.
	summary string
}

// admit says what a 401 from remoteAddr doing action (e.g. "creating a
// burst") at now leaves in the audit log.
func (a *anonAudit) admit(remoteAddr, action string, now time.Time) anonVerdict {
	src := anonSource(remoteAddr)
	a.mu.Lock()
	defer a.mu.Unlock()
	var v anonVerdict
	if now.Sub(a.start) >= anonAuditWindow || now.Before(a.start) {
		a.start, a.rows = now, 0
		if a.over.calls > 0 {
			v.summary = a.over.summary()
			a.over = anonOverflow{}
		}
	}
	if a.addrs == nil {
		a.addrs = map[string]*anonWindow{}
	}
	w, seen := a.addrs[src]
	if seen && now.Sub(w.start) < anonAuditWindow && !now.Before(w.start) {
		w.unseen++
		return v
	}
	if a.rows >= anonAuditRows {
		if a.over.calls == 0 {
			a.log.Warn("unauthenticated calls over the audit limit: the rest of this minute's are counted into one summary row",
				"limit", anonAuditRows, "window", anonAuditWindow, "source", src)
		}
		a.over.add(src, action, 1, now, now)
		return v
	}
	a.rows++
	v.row = true
	if seen {
		v.note = unseenNote(src, w.unseen, w.start)
		w.start, w.unseen = now, 0
		return v
	}
	if len(a.addrs) >= anonAuditTracked {
		for s, w := range a.addrs {
			if now.Sub(w.start) >= anonAuditWindow || now.Before(w.start) {
				if w.unseen > 0 {
					a.over.add(s, "", w.unseen, w.start, w.start.Add(anonAuditWindow))
				}
				delete(a.addrs, s)
			}
		}
	}
	if len(a.addrs) < anonAuditTracked { // else recorded, not tracked: memory stays bounded
		a.addrs[src] = &anonWindow{start: now}
	}
	return v
}

// flush takes what a only counts, for a summary row written at now (the
// server stopping): the calls over anonAuditRows not yet summarised, and
// each source's calls counted since its last row. It returns the row's
// outcome, "" when there is nothing to write, and forgets what it took.
func (a *anonAudit) flush(now time.Time) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for s, w := range a.addrs {
		if w.unseen > 0 {
			last := w.start.Add(anonAuditWindow)
			if now.Before(last) {
				last = now
			}
			a.over.add(s, "", w.unseen, w.start, last)
		}
	}
	a.addrs = nil
	if a.over.calls == 0 {
		return ""
	}
	out := a.over.summary() + "; written as the server stopped"
	a.over = anonOverflow{}
	return out
}

// anonSource is the source a 401 is counted under: its IPv4 address, or the
// /64 of its IPv6 address, as the server's connection limit counts them.
func anonSource(remoteAddr string) string { return connlimit.Source(remoteAddr) }

// unseenNote is what a 401 row adds about the calls of its source only
// counted before it.
func unseenNote(src string, unseen int, since time.Time) string {
	if unseen == 0 {
		return ""
	}
	from := "this address"
	if strings.Contains(src, "/") {
		from = "this address's " + src
	}
	return fmt.Sprintf(" (and %s from %s since %s, counted here instead of one row each)",
		counted(unseen, "more unauthenticated call", "more unauthenticated calls"), from, since.UTC().Format(time.RFC3339))
}

// summary is the outcome of the summary row of o.
func (o *anonOverflow) summary() string {
	sources := counted(len(o.sources), "source", "sources")
	if o.untracked > 0 {
		sources = fmt.Sprintf("more than %d sources", len(o.sources))
	}
	s := fmt.Sprintf("%s from %s (IPv4 addresses, IPv6 /64s) from %s to %s, counted here instead of one row each (over the limit of %d such rows a minute): most from %s",
		counted(o.calls, "unauthenticated call", "unauthenticated calls"), sources, o.first.UTC().Format(time.RFC3339), o.last.UTC().Format(time.RFC3339), anonAuditRows, topCounts(o.sources, o.untracked))
	if len(o.actions) > 0 {
		s += "; of those over the limit: " + topCounts(o.actions, 0)
	}
	return s
}

// topCounts names the anonAuditTop keys of m with the most calls, most
// first, and counts the rest with untracked: "a (10), b (3), and 4 others
// (5)".
func topCounts(m map[string]int, untracked int) string {
	keys := slices.SortedFunc(maps.Keys(m), func(x, y string) int {
		return cmp.Or(cmp.Compare(m[y], m[x]), strings.Compare(x, y))
	})
	var parts []string
	rest, restCalls := 0, untracked
	for i, k := range keys {
		if i < anonAuditTop {
			parts = append(parts, fmt.Sprintf("%s (%d)", clip(k), m[k]))
			continue
		}
		rest++
		restCalls += m[k]
	}
	switch {
	case untracked > 0:
		parts = append(parts, fmt.Sprintf("and more than %d others (%d)", rest, restCalls))
	case rest > 0:
		parts = append(parts, fmt.Sprintf("and %s (%d)", counted(rest, "other", "others"), restCalls))
	}
	return strings.Join(parts, ", ")
}

// anonSummaryEntry is the audit row of a summary.
func anonSummaryEntry(now time.Time, outcome string) AuditEntry {
	return AuditEntry{Time: now, Source: "(many)", Status: http.StatusUnauthorized, Outcome: outcome}
}
