package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/state"
)

// TestServerBurstsThroughTerraform runs one burst end to end through a
// Terraform module and the real terraform binary: launch (apply), join (the
// instance's agent answers), drain (the pool's HTTP hook), destroy.
func TestServerBurstsThroughTerraform(t *testing.T) {
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Fatalf("terraform binary not found (install it: go install github.com/hashicorp/terraform@v1.5.7): %v", err)
	}
	var queue atomic.Value
	queue.Store(`{"job_gpus": [8], "oldest_wait_seconds": 600}`)
	qsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, queue.Load()) }))
	defer qsrv.Close()
	var busy atomic.Int64
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b := busy.Load() > 0
		fmt.Fprintf(w, `{"gpus": [{"busy": %v}, {"busy": %v}, {"busy": %v}, {"busy": %v}, {"busy": %v}, {"busy": %v}, {"busy": %v}, {"busy": %v}]}`, b, b, b, b, b, b, b, b)
	}))
	defer agent.Close()
	var mu sync.Mutex
	var drained []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		drained = append(drained, r.URL.Query().Get("id"))
		mu.Unlock()
	}))
	defer hook.Close()
	module, err := filepath.Abs("testdata/tfburst")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgText := fmt.Sprintf(`cluster: tf-test
server:
  state: state.db
  tick: 200ms
providers:
  tf:
    type: terraform
    module: %s
    zones: [zone-a]
    variables: {address: 127.0.0.1}
pools:
  - name: train
    onprem: {nodes: 1, gpus_per_node: 8}
    wait_target: 0s
    interval: 200ms
    offerings:
      - {provider: tf, instance_type: gpu8, gpus: 8, price_per_hour: 10, billing: per-second}
    scale_in: {idle: 1s, drain_timeout: 1m}
    join: {agent_url: "%s"}
    drain:
      http: {url: "%s/drain?id={{.ID}}"}
    signals:
      demand:
        - type: http
          http: {url: "%s", job_gpus: job_gpus, oldest_wait_seconds: oldest_wait_seconds}
`, module, agent.URL, hook.URL, qsrv.URL)
	path := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, loadConfig(t, path))
	rows := func() []state.Instance {
		rs, err := srv.store.Instances(context.Background(), state.InstanceFilter{Pool: "train"})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		if !waitFor(60*time.Second, cond) {
			t.Fatalf("%s: not within 60s; rows %+v", what, rows())
		}
	}
	wait("a Terraform instance launches and joins", func() bool {
		rs := rows()
		return len(rs) == 1 && rs[0].State == state.InstanceRunning
	})
	id := rows()[0].ID
	// The job starts on it and leaves the queue; later it ends.
	busy.Store(1)
	queue.Store(`{"job_gpus": [], "oldest_wait_seconds": 0}`)
	wait("the instance reports its GPUs busy", func() bool { rs := rows(); return len(rs) == 1 && rs[0].BusyGPUs == 8 })
	busy.Store(0)
	wait("the idle instance is drained and destroyed", func() bool {
		rs := rows()
		return len(rs) == 1 && rs[0].State == state.InstanceEnded
	})
	mu.Lock()
	got := append([]string(nil), drained...)
	mu.Unlock()
	if len(got) != 1 || got[0] != id {
		t.Fatalf("drain hook called for %v, want once for %s", got, id)
	}
	if r := rows()[0]; r.DrainStartedAt.IsZero() || r.EndedAt.Before(r.DrainStartedAt) {
		t.Fatalf("row %+v: want drained before it was destroyed", r)
	}
}

// TestServerRefusesABadTerraformModuleBeforeItsState: a terraform
// provider whose module is missing or breaks the module contract stops
// `spillway server` with exit 2 and the problem at the module's line,
// before the state is opened (it used to migrate the state and then fail
// with exit 1; `policy validate --server` passed it).
func TestServerRefusesABadTerraformModuleBeforeItsState(t *testing.T) {
	tests := []struct {
		name, module, want string
	}{
		{"missing", "", "does not satisfy the Spillway module contract: cannot be read: no such file or directory"},
		{"outside the contract", `variable "cluster" { type = string }`, `declares no output "instances"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			module := filepath.Join(dir, "module")
			if tt.module != "" {
				if err := os.Mkdir(module, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(module, "main.tf"), []byte(tt.module+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "spillway.yaml")
			cfgText := `cluster: tf-test
server:
  state: state.db
providers:
  tf:
    type: terraform
    module: module
    zones: [zone-a]
pools:
  - name: train
    offerings: [{provider: tf, instance_type: gpu8, gpus: 8, price_per_hour: 10}]
    signals:
      demand:
        - type: command
          command: {command: [echo, "1"]}
`
			if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := runServer(ctx, serverOptions{config: path, logLevel: "warn", listen: "127.0.0.1:0"})
			var ee *exitCodeError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, path+":7:13: providers.tf.module: terraform module "+module) || !strings.Contains(ee.msg, tt.want) {
				t.Fatalf("server with a bad module: %v, want exit 2 with %s:7:13: providers.tf.module: ... %s", err, path, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "state.db")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the server opened its state before refusing the module (stat state.db: %v)", err)
			}
		})
	}
}

// TestServerRefusesTerraformSettingsBeforeItsState: what terraform.New
// checks beyond the module (a zone's name, a work_dir it cannot make, the
// terraform binary on PATH) stops `spillway server` with exit 2 and the
// problem at its key's line, before the state is opened (it used to open
// and migrate the state, then fail with exit 1; `policy validate
// --server` passed it).
func TestServerRefusesTerraformSettingsBeforeItsState(t *testing.T) {
	module, err := filepath.Abs("testdata/tfburst")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		zones       string
		workDir     string
		noTerraform bool
		at, want    string
	}{
		{name: "a zone that is not a zone's name", zones: "[us-east-1a, US East 1b]",
			at: ":9:25: providers.tf.zones[1]", want: `"US East 1b" is not a zone name: want lower-case letters, digits and '-', at most 63, e.g. us-east-1a`},
		{name: "a work_dir under a file", workDir: "spillway.yaml/tf",
			at: ":11:15: providers.tf.work_dir", want: "spillway.yaml is a file, not a directory"},
		{name: "no terraform on PATH", noTerraform: true,
			at: ":7:11: providers.tf.type", want: "no terraform binary on PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "spillway.yaml")
			zones, workDir := "[zone-a]", filepath.Join(dir, "tf")
			if tt.zones != "" {
				zones = tt.zones
			}
			if tt.workDir != "" {
				workDir = tt.workDir
			}
			cfgText := fmt.Sprintf(`cluster: tf-test
server:
  state: state.db
providers:
  tf:
    module: %s
    type: terraform
    variables: {address: 127.0.0.1}
    zones: %s
    # the work directory
    work_dir: %s
pools:
  - name: train
    offerings: [{provider: tf, instance_type: gpu8, gpus: 8, price_per_hour: 10}]
    signals:
      demand:
        - type: command
          command: {command: [echo, "1"]}
`, module, zones, workDir)
			if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.noTerraform {
				t.Setenv("PATH", t.TempDir())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := runServer(ctx, serverOptions{config: path, logLevel: "warn", listen: "127.0.0.1:0"})
			var ee *exitCodeError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, path+tt.at+": ") || !strings.Contains(ee.msg, tt.want) {
				t.Fatalf("server: %v, want exit 2 with %s%s: ... %s", err, path, tt.at, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "state.db")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the server opened its state before refusing the provider (stat state.db: %v)", err)
			}
		})
	}
}

// TestServerBoundsEachProviderByItsCallTimeout: the scheduler the server
// builds bounds each provider's calls by the provider's call_timeout, so a
// Terraform apply gets its 10 minutes rather than the SDK providers' one.
func TestServerBoundsEachProviderByItsCallTimeout(t *testing.T) {
	cfg, err := config.Parse("spillway.yaml", []byte(`cluster: c
providers:
  aws: {type: aws, region: us-east-1}
  slow: {type: aws, region: us-east-1, call_timeout: 2m}
  tf: {type: terraform, module: ./m}
pools:
  - name: p
    offerings: [{provider: aws, instance_type: p5.48xlarge}]
`))
	if err != nil {
		t.Fatal(err)
	}
	got := schedulerOptions(cfg, serverDeps{log: slog.New(slog.DiscardHandler)}).CallTimeouts
	want := map[string]time.Duration{"aws": time.Minute, "slow": 2 * time.Minute, "tf": 10 * time.Minute}
	if !maps.Equal(got, want) {
		t.Fatalf("call timeouts %v, want %v", got, want)
	}
}
