package baseline

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/signals/nvml"
)

// clonedPairNode is a DGX H100 mock of idle GPUs whose GPUs 0 and 1
// report one UUID, each GPU's UUID starting with prefix.
func clonedPairNode(prefix string) *server.Server {
	node := dgxh100.New()
	for i, d := range node.Devices {
		d := d.(*server.Device)
		nvml.IdleMock(d)
		d.UUID = fmt.Sprintf("GPU-%s-%d", prefix, max(i, 1))
	}
	return node
}

// TestWarningsKeptOnlyForCurrentTargets: a server's targets file changed
// 6 times, each time to one node listed twice (by 127.0.0.1 and by
// localhost) whose GPUs 0 and 1 report one UUID, a new node each time.
// Each warning is logged once per pair of targets and per UUID, but the
// source kept every pair and every UUID it had warned of for as long as
// it ran: 6 pairs and 6 UUIDs after 6 changes, growing with each. It
// keeps those of the targets listed now and of the UUIDs the last
// baseline lists.
func TestWarningsKeptOnlyForCurrentTargets(t *testing.T) {
	const changes = 6
	path := filepath.Join(t.TempDir(), "targets.json")
	var logs strings.Builder
	var src *Agents
	for i := range changes {
		port := hostPort(servedAgent(t, clonedPairNode(fmt.Sprint(i)), t0))
		port = port[strings.LastIndex(port, ":"):]
		writeTargets(t, path, fmt.Sprintf(`[{"targets": ["127.0.0.1%s", "localhost%s"]}]`, port, port), t0.Add(time.Duration(i)*time.Second))
		if src == nil {
			var err error
			src, err = NewAgents(AgentsConfig{Name: "rack1", TargetsFile: path, Now: func() time.Time { return t0 }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer src.CloseIdleConnections()
		}
		if _, err := src.Baseline(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(src.warned) != 1 || len(src.shared.warned) != 1 || !src.shared.warned[fmt.Sprintf("GPU-%d-1", i)] {
			t.Errorf("after %d changes of the targets: %d pairs kept, UUIDs %v; want the current pair and UUID GPU-%d-1", i+1, len(src.warned), src.shared.warned, i)
		}
	}
	if n := strings.Count(logs.String(), "two GPUs report the same UUID"); n != changes {
		t.Errorf("%d warnings of a shared UUID, want %d (one per node)", n, changes)
	}
}

// TestEachPairWarningOnce: node gpu-01 listed by its address and by a
// second path, both answering (its GPUs served by two targets), then the
// second failing (502): the target is known to serve the node the first
// serves. Both warnings share one pair of targets, and the source kept
// one mark per pair: the first logged silenced the other. Each is now
// logged once, however many times the pair is read.
func TestEachPairWarningOnce(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	a := healthyAgent(t, clk)
	byAddr, byName := httptest.NewServer(a), httptest.NewServer(a.path(true))
	t.Cleanup(byAddr.Close)
	t.Cleanup(byName.Close)
	var logs strings.Builder
	src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{hostPort(byAddr), hostPort(byName)}, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.CloseIdleConnections()
	for _, up := range []bool{true, true, false, false, true} {
		a.set(a.h, up)
		if _, err := src.Baseline(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []string{"a GPU is served by two targets", "two targets serve the same node"} {
		if n := strings.Count(logs.String(), w); n != 1 {
			t.Errorf("%q logged %d times, want once; log:\n%s", w, n, logs.String())
		}
	}
}
