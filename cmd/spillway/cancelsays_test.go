package main

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
)

// TestCancelSaysWhatDrains: an instance launched for the queue, which a
// burst then kept from scale-in (instances listed it under the burst), is
// not drained when the burst is cancelled, only those launched for it
// are; spillway burst cancel said "its instances drain, then terminate"
// all the same, and the instance ran on. It says what drains: here none.
func TestCancelSaysWhatDrains(t *testing.T) {
	var pending atomic.Bool
	pending.Store(true)
	s := startAPIServerServing(t, func() string {
		if pending.Load() {
			return `{"job_gpus": [16], "oldest_wait_seconds": 900}`
		}
		return `{"job_gpus": [], "oldest_wait_seconds": 0}`
	}, func() string { return strings.ReplaceAll(idleP4dAgent, "false", "true") }, "  anonymous_read: true\n")
	tok := s.token(t, "alice", tokens.Operator)
	op := s.client(t, tok)
	eventually(t, "instances launched for the queue", func() bool {
		ins, err := op.Instances(t.Context(), "train")
		return err == nil && len(ins) > 0
	})
	pending.Store(false)
	b, err := op.CreateBurst(t.Context(), api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "INC-90"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the burst keeps an instance launched for the queue", func() bool {
		got, err := op.Instances(t.Context(), "train")
		return err == nil && slices.ContainsFunc(got, func(in api.Instance) bool { return in.Burst == b.ID })
	})
	t.Setenv("SPILLWAY_TOKEN", tok)
	out, _, err := runCLI(t, "burst", "cancel", b.ID, "--server", s.url)
	want := "cancelled burst " + b.ID + " in pool train: no instance was launched for it, so none drains (those it only kept from scale-in, launched for the queue or a schedule, scale in as usual)\n"
	if err != nil || out != want {
		t.Errorf("spillway burst cancel: %v\n%s\nwant %q", err, out, want)
	}
	if page := anonymousPage(t, s.url+"/?cancelled="+b.ID); !strings.Contains(page, "Burst "+b.ID+" cancelled: no instance was launched for it, so none drains") {
		t.Errorf("the page's notice after the cancel:\n%s", page)
	}
}
