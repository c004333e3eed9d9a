package api

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/spillway-io/spillway/state"
)

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{2 * time.Hour, "2h"}, {90 * time.Minute, "1h30m"}, {90 * time.Second, "1m30s"}, {12 * time.Hour, "12h"},
		{0, "0s"}, {500 * time.Millisecond, "500ms"}, {time.Hour + time.Second, "1h0m1s"},
	} {
		if got := Duration(tc.d).String(); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
		b, _ := json.Marshal(Duration(tc.d))
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || time.Duration(back) != tc.d {
			t.Errorf("round trip of %v through %s: %v %v", tc.d, b, time.Duration(back), err)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`7200`), &d); err == nil || !strings.Contains(err.Error(), `a duration is a string such as "2h"`) {
		t.Errorf("a number as a duration: %v", err)
	}
}

// TestSessionsBounded: the session store never holds more than its bound;
// expired sessions go first, then the one closest to expiring.
func TestSessionsBounded(t *testing.T) {
	ss := newSessions(time.Hour, 3)
	t0 := time.Unix(1_800_000_000, 0)
	var h [sha256.Size]byte
	a, _ := ss.create(h, t0)
	b, _ := ss.create(h, t0.Add(time.Minute))
	c, _ := ss.create(h, t0.Add(2*time.Minute))
	d, _ := ss.create(h, t0.Add(3*time.Minute)) // evicts a, the oldest
	if ss.len() != 3 {
		t.Fatalf("%d sessions, want 3", ss.len())
	}
	now := t0.Add(3 * time.Minute)
	if _, ok := ss.get(a, now); ok {
		t.Error("the oldest session survived eviction")
	}
	for _, id := range []string{b, c, d} {
		if _, ok := ss.get(id, now); !ok {
			t.Errorf("session %s lost", id)
		}
	}
	// b and c expire; the next create drops both.
	later := t0.Add(time.Hour + 2*time.Minute)
	ss.create(h, later)
	if ss.len() != 2 {
		t.Errorf("%d sessions after expiry, want 2", ss.len())
	}
	if _, ok := ss.get(d, t0.Add(time.Hour+3*time.Minute)); ok {
		t.Error("an expired session is still valid")
	}
}

func TestChartEmptyAndScaled(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	if c := newChart(nil, t0.Add(-time.Hour), t0); !c.Empty {
		t.Error("no samples: chart not empty")
	}
	c := newChart([]TimelinePoint{
		{Time: t0.Add(-time.Hour), OnPremBusy: 10, CloudGPUs: 0, QueuedGPUs: 40, Spend: 0},
		{Time: t0, OnPremBusy: 20, CloudGPUs: 8, QueuedGPUs: 0, Spend: 50},
	}, t0.Add(-time.Hour), t0)
	if c.MaxGPUs != 40 || len(c.Series) != 4 {
		t.Fatalf("chart %+v", c)
	}
	// Queued GPUs go from the top (40 of 40) at the left edge to the bottom.
	if got := c.Series[2].Points; got != "40.0,10.0 620.0,150.0" {
		t.Errorf("queued points %q", got)
	}
	if !strings.Contains(c.Series[3].Name, "top = $50.00") || c.Series[3].Last != "$50.00" {
		t.Errorf("spend series %+v", c.Series[3])
	}
}

// TestChartThinsALongTimeline: every sample was drawn, so six hours at a
// 10 s tick made each pool's chart 2,161 points a series (about 100 kB of
// the page, 5 MB with 50 pools, fetched at every refresh) for a plot 580
// pixels wide. A series now keeps the lowest and highest sample of each
// 4-pixel slice of the time axis, and its first and last: a one-tick spike
// or dip still shows, and the line still ends at now.
func TestChartThinsALongTimeline(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	from := t0.Add(-6 * time.Hour)
	var pts []TimelinePoint
	for at := from; !at.After(t0); at = at.Add(10 * time.Second) {
		pts = append(pts, TimelinePoint{Time: at, OnPremBusy: 50, CloudGPUs: 8, QueuedGPUs: 5, Spend: float64(at.Sub(from) / time.Minute)})
	}
	pts[1000].QueuedGPUs = 200 // a one-tick spike: the chart's top
	pts[1500].OnPremBusy = 0   // a one-tick dip
	pts[len(pts)-1].CloudGPUs = 16
	c := newChart(pts, from, t0)
	size := 0
	for _, s := range c.Series {
		n := len(strings.Fields(s.Points))
		size += len(s.Points)
		if n > 2*chartBuckets+2 {
			t.Errorf("series %s: %d points of %d samples, want at most %d", s.Name, n, len(pts), 2*chartBuckets+2)
		}
	}
	if size > 16<<10 {
		t.Errorf("the chart's points are %d bytes, want at most 16 KiB", size)
	}
	onprem, cloud, queued := c.Series[0].Points, c.Series[1].Points, c.Series[2].Points
	if !strings.Contains(queued, ",10.0") { // 200 of 200 GPUs: the plot's top
		t.Errorf("the queue's one-tick spike is lost: %s", queued)
	}
	if !strings.Contains(onprem, ",150.0") { // 0 GPUs: the plot's bottom
		t.Errorf("the on-prem one-tick dip is lost: %s", onprem)
	}
	if !strings.HasSuffix(cloud, " 620.0,138.8") || c.Series[1].Last != "16" { // 16 of 200 at now
		t.Errorf("the cloud line does not end at now's 16 GPUs: …%s (last %s)", cloud[max(0, len(cloud)-40):], c.Series[1].Last)
	}
}

// TestReasonFitsTheState: the longest reason the API takes (500
// characters of up to four bytes each) is stored whole: the state cuts
// free text at state.MaxTextLen bytes, and at 1,024 it cut a reason in
// Chinese to about 340 of its characters.
func TestReasonFitsTheState(t *testing.T) {
	if longest := maxReasonLen * utf8.UTFMax; longest > state.MaxTextLen {
		t.Errorf("a reason may be %d bytes; the state keeps %d", longest, state.MaxTextLen)
	}
}

// TestAnonAuditForgottenSourcesAreSummarised: when the sources remembered
// reach anonAuditTracked, those whose window has passed are forgotten, and
// the calls counted against them go into the next summary row instead of
// only the log.
func TestAnonAuditForgottenSourcesAreSummarised(t *testing.T) {
	a := anonAudit{log: slog.New(slog.DiscardHandler)}
	now := time.Unix(1_800_000_000, 0)
	rows := 0
	for n := range anonAuditTracked {
		if n > 0 && n%anonAuditRows == 0 {
			now = now.Add(anonAuditWindow)
		}
		src := fmt.Sprintf("10.%d.%d.1:80", n>>8, n&255)
		for range 2 { // a row, then a call counted against the source
			if v := a.admit(src, "creating a burst", now); v.row {
				rows++
			}
		}
	}
	now = now.Add(anonAuditWindow)
	if rows != anonAuditTracked || len(a.addrs) != anonAuditTracked {
		t.Fatalf("%d rows for %d sources, %d remembered; want one each, all remembered", rows, anonAuditTracked, len(a.addrs))
	}
	v := a.admit("192.0.2.1:80", "creating a burst", now)
	if !v.row || v.summary != "" || len(a.addrs) != 1 {
		t.Fatalf("a new source with %d remembered: %+v, %d remembered after", anonAuditTracked, v, len(a.addrs))
	}
	v = a.admit("192.0.2.2:80", "creating a burst", now.Add(anonAuditWindow))
	forgotten := anonAuditTracked
	if want := fmt.Sprintf("%d unauthenticated calls from %d sources", forgotten, forgotten); !strings.HasPrefix(v.summary, want) {
		t.Errorf("summary %q, want it to begin %q", v.summary, want)
	}
	if strings.Contains(v.summary, "of those over the limit") {
		t.Errorf("summary %q names actions of calls it did not keep them for", v.summary)
	}
}

// TestAnonAuditCountsOne: an audit row of unauthenticated calls counted
// one of each as many: "and 1 more unauthenticated calls from",
// "1 unauthenticated calls from 1 sources", "and 1 others (3)".
func TestAnonAuditCountsOne(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	if got, want := unseenNote("192.0.2.1", 1, t0), " (and 1 more unauthenticated call from this address since 2026-11-29T09:00:00Z,"; !strings.HasPrefix(got, want) {
		t.Errorf("unseenNote of one: %q, want it to begin %q", got, want)
	}
	m := map[string]int{}
	for i := range anonAuditTop + 1 {
		m[fmt.Sprintf("192.0.2.%d", i)] = 3
	}
	if got := topCounts(m, 0); !strings.HasSuffix(got, ", and 1 other (3)") {
		t.Errorf("topCounts of one past the top: %q, want it to end \", and 1 other (3)\"", got)
	}
	o := &anonOverflow{calls: 1, sources: map[string]int{"192.0.2.1": 1}, first: t0, last: t0}
	if got := o.summary(); !strings.HasPrefix(got, "1 unauthenticated call from 1 source (") {
		t.Errorf("summary of one call: %q, want \"1 unauthenticated call from 1 source (…\"", got)
	}
}
