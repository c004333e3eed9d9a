package statetest

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/spillway-io/spillway/state"
)

func auditRoundTrip(t *testing.T, h *harness) {
	s := h.store(t)
	e := state.AuditEntry{
		Time: t0, Principal: "alice", Role: "operator", Source: "127.0.0.1:53211", Action: "POST /v1/bursts",
		Request: `{"pool":"train","gpus":16,"until":"2026-03-14T18:00:00Z"}`, Outcome: "ok", Status: 201,
	}
	denied := state.AuditEntry{Time: at(time.Second), Principal: "bob", Role: "viewer", Action: "POST /v1/bursts", Outcome: "denied: viewer may not burst", Status: 403}
	id1, err := s.AddAudit(ctx(t), e)
	ok(t, err, "AddAudit")
	id2, err := s.AddAudit(ctx(t), denied)
	ok(t, err, "AddAudit")
	if id2 <= id1 {
		t.Fatalf("audit IDs %d then %d: want increasing", id1, id2)
	}
	got, err := s.Audit(ctx(t), state.AuditFilter{})
	ok(t, err, "Audit")
	e.ID, denied.ID = id1, id2
	same(t, "Audit", got, []state.AuditEntry{denied, e})
}

func auditPaging(t *testing.T, h *harness) {
	s := h.store(t)
	var ids []int64
	for i := range 23 {
		id, err := s.AddAudit(ctx(t), state.AuditEntry{Time: at(time.Duration(i) * time.Second), Principal: "alice", Action: fmt.Sprint("GET /v1/x/", i), Outcome: "ok", Status: 200})
		ok(t, err, "AddAudit")
		ids = append(ids, id)
	}
	var want []int64
	for i := len(ids) - 1; i >= 0; i-- {
		want = append(want, ids[i])
	}
	var got []int64
	var before int64
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		es, err := s.Audit(ctx(t), state.AuditFilter{BeforeID: before, Limit: 10})
		ok(t, err, "Audit")
		if len(es) == 0 {
			break
		}
		if len(es) > 10 {
			t.Fatalf("page %d has %d entries, limit 10", page, len(es))
		}
		got = append(got, auditIDs(es)...)
		before = es[len(es)-1].ID
	}
	same(t, "all pages, newest first", got, want)

	since, err := s.Audit(ctx(t), state.AuditFilter{Since: at(20 * time.Second)})
	ok(t, err, "Audit(Since)")
	same(t, "since t0+20s", auditIDs(since), []int64{ids[22], ids[21], ids[20]})
	both, err := s.Audit(ctx(t), state.AuditFilter{Since: at(20 * time.Second), BeforeID: ids[22], Limit: 1})
	ok(t, err, "Audit(Since, BeforeID, Limit)")
	same(t, "since t0+20s before the newest, 1", auditIDs(both), []int64{ids[21]})
}

func auditKeepsOverlongEntries(t *testing.T, h *harness) {
	s := h.store(t)
	body := `{"reason":"` + strings.Repeat("é", 5000) + `"}` // 10 KB, two-byte runes
	e := state.AuditEntry{
		Time: t0, Principal: strings.Repeat("p", 1000), Role: "operator", Source: "127.0.0.1:1",
		Action: "POST /v1/bursts?" + strings.Repeat("q", 5000), Request: body, Outcome: "error: " + strings.Repeat("x", 5000), Status: 500,
	}
	_, err := s.AddAudit(ctx(t), e)
	ok(t, err, "AddAudit of an over-long entry")
	got, err := s.Audit(ctx(t), state.AuditFilter{})
	ok(t, err, "Audit")
	if len(got) != 1 {
		t.Fatalf("Audit returned %d entries, want 1", len(got))
	}
	g := got[0]
	for _, f := range []struct {
		name     string
		got, in  string
		maxBytes int
	}{
		{"Principal", g.Principal, e.Principal, state.MaxIDLen},
		{"Action", g.Action, e.Action, state.MaxTextLen},
		{"Request", g.Request, e.Request, state.MaxRequestLen},
		{"Outcome", g.Outcome, e.Outcome, state.MaxTextLen},
	} {
		checkTruncated(t, f.name, f.got, f.in, f.maxBytes)
	}
	same(t, "Role", g.Role, e.Role)
	same(t, "Status", g.Status, e.Status)
}

// checkTruncated checks that got is in cut to at most max bytes of valid
// UTF-8, keeping as much as fits.
func checkTruncated(t *testing.T, field, got, in string, max int) {
	t.Helper()
	if len(got) > max {
		t.Errorf("%s stored %d bytes, want at most %d", field, len(got), max)
	}
	if len(got) < max-8 {
		t.Errorf("%s stored %d bytes, want nearly %d (truncated, not dropped)", field, len(got), max)
	}
	if !utf8.ValidString(got) {
		t.Errorf("%s stored invalid UTF-8 (cut inside a rune): %q", field, got[len(got)-8:])
	}
	prefix := strings.TrimSuffix(got, "…")
	if !strings.HasPrefix(in, prefix) || prefix == got {
		t.Errorf("%s stored %q..., want the start of the value and a closing …", field, got[:min(len(got), 40)])
	}
}
