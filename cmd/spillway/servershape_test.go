package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/internal/fixture"
)

// TestServerLaunchesTheShapeAJobNeeds: a real Slurm queue holds a 1-GPU job
// asking for 2 CPUs. The cheapest GPU is a 1-GPU shape with one vCPU, which
// could never start it; the server reads the job's CPUs through squeue and
// launches the 4-GPU shape with two vCPUs instead, on the EC2 emulator. A
// job constrained to on-prem nodes is not demand, and the pool's API says
// so.
func TestServerLaunchesTheShapeAJobNeeds(t *testing.T) {
	slurm, err := fixture.StartSlurm()
	if err != nil {
		t.Fatalf("start Slurm (install slurm-wlm, slurmctld, slurmd, slurm-client, munge): %v", err)
	}
	t.Cleanup(func() { _ = slurm.Stop() })
	for _, opts := range [][]string{{"--gres=gpu:" + fmt.Sprint(fixture.GPUs)}, {"--gres=gpu:1", "--cpus-per-task=2"}, {"--gres=gpu:1", "--constraint=onprem"}} {
		id, err := slurm.Submit(opts...)
		if err != nil {
			t.Fatal(err)
		}
		want := "RUNNING"
		if len(opts) > 1 {
			want = "PENDING" // behind the first, which holds every GPU
		}
		if err := slurm.WaitState(id, want, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	emu := emulator.New(emulator.Options{Seed: 5, BootDelay: 100 * time.Millisecond})
	ec2 := httptest.NewServer(emu.EC2Handler())
	t.Cleanup(ec2.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`cluster: shape-test
server: {state: state.db, tick: 100ms, anonymous_read: true}
%spools:
  - name: train
    onprem: {nodes: 1, gpus_per_node: 8}
    wait_target: 0s
    interval: 100ms
    offerings:
      - {name: small, provider: emu, instance_type: g5.xlarge, vcpus: 1}
      - {name: quad, provider: emu, instance_type: g5.12xlarge, vcpus: 2}
    limits: {max_gpus: 8}
    signals:
      demand:
        - type: slurm
          slurm: {slurm_conf: %s, partition: %s, features: [ib]}
`, emuProvider(ec2.URL), slurm.Conf, slurm.Partition)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, loadConfig(t, path))

	eventually(t, "a launch for the pending job", func() bool { return len(emu.Instances()) > 0 })
	if ins := emu.Instances(); len(ins) != 1 || ins[0].InstanceType != "g5.12xlarge" {
		t.Fatalf("launched %+v, want one g5.12xlarge: the job's 2 CPUs do not fit g5.xlarge's one", ins)
	}
	// The pool's API says why: one job counted as a larger shape, one,
	// constrained to on-prem nodes, not counted at all. It shows the last
	// published tick's snapshot: the tick that launched publishes its own
	// when it ends, after the emulator already lists the instance (under
	// load the API was read in between and showed no tick yet).
	want := []string{"slurm:" + slurm.Partition + ": 1 job asking for nodes with onprem, not in features"}
	var d api.PoolDetail
	read := func() bool {
		resp, err := http.Get("http://" + srv.addr + "/v1/pools/train")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		d = api.PoolDetail{}
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			t.Fatal(err)
		}
		return d.Snapshot.CountedLarger == 1 && slices.Equal(d.Snapshot.LeftOut, want)
	}
	if !waitFor(10*time.Second, read) {
		t.Errorf("snapshot counted larger %d, left out %q (stale: %q); want 1 and %q", d.Snapshot.CountedLarger, d.Snapshot.LeftOut, d.Snapshot.Stale, want)
	}
}
