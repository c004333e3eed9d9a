package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	mockserver "github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/signals/nvml"
)

// TestStatusShowsUnhealthyOnPremGPUs: a real agent on a DGX H100 mock
// whose GPUs 2 and 5 had a row remapping fail (broken memory: unhealthy
// at once), read by a real server's agents source. The server counts
// them busy (they take no job) and spillway_pool_onprem_unhealthy_gpus
// says 2; before, spillway status, GET /v1/pools and the page counted
// them in ON-PREM BUSY with nothing saying so: a node to reboot read as
// work running.
func TestStatusShowsUnhealthyOnPremGPUs(t *testing.T) {
	agent := brokenMemoryAgent(t, "gpu-07", 2, 5)
	srv, tok := startUnhealthyServer(t, agent)
	t.Setenv("SPILLWAY_TOKEN", tok)
	t.Setenv("SPILLWAY_SERVER", srv)
	c, err := api.NewClient(srv, tok, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var pool api.PoolSummary
	eventually(t, "the pool evaluated with the agent's GPUs", func() bool {
		st, err := c.Status(context.Background())
		if err != nil || len(st.Pools) != 1 || st.Pools[0].Evaluated.IsZero() {
			return false
		}
		pool = st.Pools[0]
		return true
	})
	if pool.OnPremTotal != 8 || pool.OnPremBusy != 2 || pool.OnPremUnhealthy != 2 {
		t.Errorf("/v1/status pool on-prem %d total, %d busy, %d unhealthy; want 8, 2 busy, both unhealthy", pool.OnPremTotal, pool.OnPremBusy, pool.OnPremUnhealthy)
	}
	if body := getPools(t, srv, tok); !strings.Contains(body, `"onprem_unhealthy_gpus":2`) {
		t.Errorf("GET /v1/pools: %s\nwant train with onprem_unhealthy_gpus 2", body)
	}
	out, _, err := runCLI(t, "status")
	want := "train: 2 of the 2 on-prem GPUs counted busy are unhealthy (a wedged driver, broken memory, fallen off the bus): they take no job until their node is rebooted; their agent's /healthz says why"
	if err != nil || !strings.Contains(out, want) {
		t.Errorf("spillway status: %v\n%s\nwant the line %q", err, out, want)
	}
}

// brokenMemoryAgent serves, through the real agent handler, a DGX H100
// mock node, idle, whose GPUs at bad had a row remapping fail, sampled
// once.
func brokenMemoryAgent(t *testing.T, node string, bad ...int) string {
	t.Helper()
	mock := dgxh100.New()
	for i, d := range mock.Devices {
		d := d.(*mockserver.Device)
		nvml.IdleMock(d)
		if slices.Contains(bad, i) {
			d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 1, false, true, nv.SUCCESS }
		}
	}
	s, err := nvml.NewSampler(mock, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := nvml.NewAgent(s)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// startUnhealthyServer starts a server of one pool, train (one node of 8
// GPUs, an empty queue), whose baseline is the agent at agentURL; it
// returns the server's URL and a viewer's token.
func startUnhealthyServer(t *testing.T, agentURL string) (url, token string) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	emu := emulator.New(emulator.Options{Seed: 9})
	ec2 := httptest.NewServer(emu.EC2Handler())
	t.Cleanup(ec2.Close)
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"job_gpus": [], "oldest_wait_seconds": 0}`)
	}))
	t.Cleanup(queue.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "spillway.yaml")
	cfg := fmt.Sprintf(`cluster: unhealthy
server: {state: state.db, tick: 100ms, tokens_file: tokens.yaml}
%spools:
  - name: train
    onprem: {nodes: 1, gpus_per_node: 8}
    interval: 100ms
    offerings: [{provider: emu, instance_type: p4d.24xlarge}]
    limits: {max_gpus: 8}
    signals:
      baseline: {agents: {urls: [%s]}}
      demand:
        - type: http
          http: {url: %s, job_gpus: job_gpus, oldest_wait_seconds: oldest_wait_seconds}
`, emuProvider(ec2.URL), agentURL, queue.URL)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := tokens.Add(filepath.Join(dir, "tokens.yaml"), "victor", tokens.Viewer, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + startServer(t, loadConfig(t, path)).addr, tok
}

// getPools is the body of GET /v1/pools.
func getPools(t *testing.T, url, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/v1/pools", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/pools: %s, %v\n%s", resp.Status, err, b)
	}
	return string(b)
}

// TestSignalsCheckShowsUnhealthyGPUs: spillway signals check on a real
// agent (a DGX H100 mock, idle) whose GPUs 2 and 5 had a row remapping
// fail. Before, its baseline line counted them free ("0 busy, 8 free")
// while the snapshot below counted them busy ("2 busy, 6 free"), and
// nothing said why: the check read as two disagreeing counts of one
// node. Both now count them busy and say they are unhealthy.
func TestSignalsCheckShowsUnhealthyGPUs(t *testing.T) {
	signalsLeakCheck(t)
	agent := brokenMemoryAgent(t, "gpu-07", 2, 5)
	path := writeSignalsFile(t, signalsFile(agent, queueServer(t, nil).URL, ""))
	out, stderr, err := runSignals(t.Context(), "check", path)
	if err != nil {
		t.Fatalf("check: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	outputSays(t, out,
		"8 GPUs on 1 node: 2 busy (2 unhealthy), 6 free, 0 allocated but idle",
		"on-prem GPUs  8 total, 2 busy, 6 free (2 of the busy unhealthy: they take no job until their node is rebooted; its agent's /healthz says why)",
	)
}

// TestSignalsCheckShowsWedgedNodes: an agent answering /v1/gpus 503 with
// the agent's own body (nvml.NoSample) saying its driver wedged before it
// opened any GPU. The node lists no GPU, so the check's baseline line
// counted none and said nothing of it, while the snapshot counted its
// gpus_per_node GPUs busy and unhealthy. It names the node, wedged, with
// the agent's error. (The agent's side, a real agent whose Init hangs,
// is baseline's TestAgentWedgedBeforeOpeningCountsUnhealthy.)
func TestSignalsCheckShowsWedgedNodes(t *testing.T) {
	signalsLeakCheck(t)
	since := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	why := "nvml: Init has not returned since 2026-03-02T09:00:00Z (1m0s or more): the driver is wedged"
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(nvml.NoSample{Error: why, Node: "gpu-09", WedgedSince: since})
	}))
	t.Cleanup(agent.Close)
	path := writeSignalsFile(t, signalsFile(agent.URL, queueServer(t, nil).URL, ""))
	out, stderr, err := runSignals(t.Context(), "check", path)
	if err != nil {
		t.Fatalf("check: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	outputSays(t, out,
		"node gpu-09 wedged, its GPUs counted unhealthy (gpus_per_node): "+why,
		"on-prem GPUs  8 total, 8 busy, 0 free (8 of the busy unhealthy",
	)
}

// TestUnhealthyLineCountsOne: one unhealthy GPU was "1 of the 8 on-prem
// GPUs counted busy are unhealthy ...: they take no job until their node
// is rebooted"; it is "is", "it", "its", and one busy GPU "1 on-prem GPU".
func TestUnhealthyLineCountsOne(t *testing.T) {
	evaluated := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		unhealthy, busy int
		want            string
	}{
		{1, 8, "1 of the 8 on-prem GPUs counted busy is unhealthy (a wedged driver, broken memory, fallen off the bus): it takes no job until its node is rebooted; its agent's /healthz says why"},
		{1, 1, "1 of the 1 on-prem GPU counted busy is unhealthy"},
		{2, 8, "2 of the 8 on-prem GPUs counted busy are unhealthy (a wedged driver, broken memory, fallen off the bus): they take no job until their node is rebooted; their agent's /healthz says why"},
	} {
		got := unhealthyLine(api.PoolSummary{Evaluated: evaluated, OnPremUnhealthy: tc.unhealthy, OnPremBusy: tc.busy})
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%d of %d unhealthy: %q, want %q", tc.unhealthy, tc.busy, got, tc.want)
		}
	}
}
