package scheduler_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
)

// TestUnknownCloudStateIsBillingNotCapacity: an instance the cloud lists
// in a state its provider does not know (here EC2's "hibernating", ECS's
// "Upgrading", rewritten into the emulators' answers) was still counted
// as capacity: a job queued for it waited on it, and nothing was
// launched for as long as the state lasted. It now counts as billing
// (its row stays live, its cost counted), not as room for the queue: the
// job has an instance launched for it.
func TestUnknownCloudStateIsBillingNotCapacity(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) { testUnknownCloudState(t, c) })
	}
}

func testUnknownCloudState(t *testing.T, c lagCloud) {
	from, to := []byte("<name>running</name>"), []byte("<name>hibernating</name>")
	if c.provider != provName {
		from, to = []byte(`"Status":"Running"`), []byte(`"Status":"Upgrading"`)
	}
	var unknown atomic.Bool
	h := rewritingHarness(t, c, from, to, &unknown, nil)
	first := h.joinOne(30*time.Second, 10)
	// Its job is done; another one of its size queues.
	h.agents.setBusy(0)
	h.setDemand(0)
	h.step(30 * time.Second)
	unknown.Store(true)
	h.setDemand(2*time.Minute, 8)
	h.step(30 * time.Second)

	rows := h.rows(true)
	var kept bool
	for _, r := range rows {
		kept = kept || r.ID == first
	}
	if !kept {
		t.Fatalf("instance %s in an unknown state was ended (rows %v): it exists and bills", first, rows)
	}
	if n := len(h.emu.Instances()); n != 2 {
		t.Fatalf("%d instances after an 8-GPU job queued beside instance %s in a state the provider does not know, want 2: the job waits on an instance nothing says will run it", n, first)
	}
	st, _ := h.sched.LastStatus(h.pool.Name)
	if st.Spend.Accrued <= 0 {
		t.Errorf("spend %.2f: the instance in an unknown state is not counted", st.Spend.Accrued)
	}
	var noted bool
	for _, d := range h.decisions() {
		for _, n := range d.Notes {
			noted = noted || strings.Contains(n, "instance "+first) && strings.Contains(n, "not as capacity")
		}
	}
	if !noted {
		t.Error("no decision says why the instance is not counted as capacity")
	}
}

// rewritingHarness is a harness on c's cloud whose answers have from
// replaced by to while on is set (a state or type the emulators do not
// give); seen, when not nil, is shown each request first.
func rewritingHarness(t *testing.T, c lagCloud, from, to []byte, on *atomic.Bool, seen func(*http.Request)) *harness {
	t.Helper()
	return newHarness(t, c.pool(), func(h *harness) {
		next := c.handler(h.emu)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if seen != nil {
				seen(r)
			}
			if !on.Load() {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			_, _ = io.Copy(w, bytes.NewReader(bytes.ReplaceAll(rec.Body.Bytes(), from, to)))
		}))
		t.Cleanup(srv.Close)
		p := c.newProvider(h, srv.URL)
		if c.provider == provName {
			h.prov = p
			return
		}
		h.withoutMain = true
		h.moreProviders = map[string]providers.Provider{c.provider: p}
	})
}
