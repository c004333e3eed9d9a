package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/state"
)

// BenchmarkTick measures one steady tick of a pool (two burst instances
// running, demand pending: observe, floors, spend, decide, record) on each
// state: SQLite, and PostgreSQL with the leader lease and fenced writes.
// Run it with -benchtime 20x: the AWS provider paces DescribeInstances
// (burst 100, then 20/s), so a longer run measures that pacer (about 50ms
// a tick), not the state.
func BenchmarkTick(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchTick(b, "state.db") })
	b.Run("postgres", func(b *testing.B) {
		pg, db := postgresDatabase(b, "bench")
		benchTick(b, pg.DSN(db))
	})
}

func benchTick(b *testing.B, stateAddr string) {
	b.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	emu := emulator.New(emulator.Options{Seed: 17})
	ec2 := httptest.NewServer(emu.EC2Handler())
	defer ec2.Close()
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"job_gpus": [8, 8], "oldest_wait_seconds": 600}`)
	}))
	defer queue.Close()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"node": "burst", "gpus": [{"index": 0, "busy": true}]}`)
	}))
	defer agent.Close()
	dir := b.TempDir()
	path := filepath.Join(dir, "spillway.yaml")
	cfgText := fmt.Sprintf(`cluster: bench
server:
  state: %q
providers:
  emu:
    type: aws
    region: us-east-1
    endpoint: %s
    subnets: [{zone: us-east-1a, id: subnet-us-east-1a}]
    image: ami-0123456789abcdef0
pools:
  - name: train
    onprem: {nodes: 1, gpus_per_node: 8}
    wait_target: 0s
    offerings:
      - provider: emu
        instance_type: p4d.24xlarge
    limits: {max_gpus: 16, budget: {amount: 100000, period: month}}
    join: {agent_url: %s}
    signals:
      demand:
        - type: http
          http: {url: %s, job_gpus: job_gpus, oldest_wait_seconds: oldest_wait_seconds}
`, stateAddr, ec2.URL, agent.URL, queue.URL)
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	srv, err := newServer(ctx, cfg, serverDeps{log: slog.New(slog.DiscardHandler), clock: clock.RealClock{}, listener: ln})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.close()
	defer ln.Close()
	if srv.elector != nil {
		srv.elector.Step(ctx)
		wg.Go(func() { srv.elector.Run(ctx) })
	}
	// Warm up: the spike launches two instances, which boot and join.
	for i := 0; ; i++ {
		if err := srv.sched.Tick(ctx, "train"); err != nil {
			b.Fatal(err)
		}
		rows, err := srv.store.Instances(ctx, state.InstanceFilter{Live: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(rows) == 2 && rows[0].State == state.InstanceRunning && rows[1].State == state.InstanceRunning {
			break
		}
		if i > 200 {
			b.Fatalf("instances did not join: %+v", rows)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := srv.sched.Tick(ctx, "train"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st, _ := srv.sched.LastStatus("train"); st.Err != "" || st.Time.IsZero() {
		b.Fatalf("last tick: %+v: want an evaluated pool", st)
	}
	if srv.elector != nil {
		if _, ok := srv.elector.Acting(); !ok {
			b.Fatal("the server lost the lease during the benchmark: the ticks measured did nothing")
		}
	}
	if n := emu.Calls("RunInstances"); n != 1 {
		b.Fatalf("%d RunInstances calls, want 1 (the warm-up's spike)", n)
	}
}
