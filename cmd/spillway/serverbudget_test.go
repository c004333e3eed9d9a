package main

import (
	"os"
	"strings"
	"testing"
)

// TestServerRefusesABudgetItsSlackLeavesNoLaunchIn: the server's tick of a
// pool may take two call_timeouts (a list and a terminate call, its aws
// provider's 1m each), so it may evaluate the pool that late and end an
// instance that long after deciding to, and a hard budget counts each
// instance until then, so a p4d pool (interval and tick 100ms,
// drain_timeout 10m) needs 2.93 USD a day before any launch fits (half a
// launch's 5.86, as a period's end may split it), where a backtest needs
// 1.83. A 2 USD budget passed `policy
// validate` and the server started, ticked and launched nothing, the
// reason only in each decision's note; it is now refused at start, naming
// the least budget and the call_timeout. A budget that holds a launch on
// the server still launches.
func TestServerRefusesABudgetItsSlackLeavesNoLaunchIn(t *testing.T) {
	for _, tc := range []struct {
		name, budget string
		refused      string // "" when the server starts and launches
	}{
		{name: "between", budget: "2", refused: "budget 2 USD per day is below 2.93 USD"},
		{name: "enough", budget: "7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, path := startServerFixtures(t)
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			text = []byte(strings.Replace(string(text), "limits: {max_gpus: 16}", "limits: {max_gpus: 16, budget: {amount: "+tc.budget+", period: day}}", 1))
			if err := os.WriteFile(path, text, 0o600); err != nil {
				t.Fatal(err)
			}
			err = runFor(t, serverOptions{config: path, logLevel: "warn", listen: "127.0.0.1:0"}, func() bool {
				return emu.Calls("RunInstances") > 0 || emu.Calls("DescribeInstances") >= 5
			})
			launched := emu.Calls("RunInstances")
			if tc.refused == "" {
				if err != nil || launched == 0 {
					t.Fatalf("budget %s: server returned %v with %d RunInstances, want it to launch", tc.budget, err, launched)
				}
				return
			}
			if err == nil {
				t.Fatalf("budget %s: the server started, ticked %d times and launched %d, want it refused at start", tc.budget, emu.Calls("DescribeInstances"), launched)
			}
			for _, want := range []string{tc.refused, "providers.emu.call_timeout", "give at least 2.93"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
			if launched != 0 || emu.Calls("DescribeInstances") != 0 {
				t.Errorf("a refused server called the cloud: %d RunInstances, %d DescribeInstances", launched, emu.Calls("DescribeInstances"))
			}
		})
	}
}

// TestServerPolicyIsTheSchedulers: the config check counts the slack and
// interval the server's scheduler sets (config.ServerPolicy), no other.
func TestServerPolicyIsTheSchedulers(t *testing.T) {
	_, path := startServerFixtures(t)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second provider with a longer call_timeout, and an interval below
	// the tick.
	text = []byte(strings.NewReplacer(
		"providers:\n", "providers:\n  slow: {type: aws, region: us-east-1, endpoint: \"http://127.0.0.1:1\", subnets: [{zone: us-east-1a, id: subnet-a}], image: ami-0123456789abcdef0, call_timeout: 7m}\n",
		"interval: 100ms", "interval: 50ms",
		"        instance_type: p4d.24xlarge\n", "        instance_type: p4d.24xlarge\n      - provider: slow\n        instance_type: p5.48xlarge\n",
	).Replace(string(text)))
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, path)
	srv := startServer(t, cfg)
	want, from := cfg.ServerPolicy(0)
	got, ok := srv.sched.PoolSpec("train")
	if !ok || got.TickSlack != want.TickSlack || got.Interval != want.Interval || from != "slow" {
		t.Fatalf("scheduler runs slack %s interval %s; config.ServerPolicy says %s, %s (from %q)", got.TickSlack.D(), got.Interval.D(), want.TickSlack.D(), want.Interval.D(), from)
	}
}

// TestPolicyValidateWarnsOfTheServersLeastBudget: the budget the server
// refuses is fit for a backtest, so `policy validate` accepts it, and its
// summary says what the server needs; `--server` refuses it.
func TestPolicyValidateWarnsOfTheServersLeastBudget(t *testing.T) {
	_, path := startServerFixtures(t)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), "limits: {max_gpus: 16}", "limits: {max_gpus: 16, budget: {amount: 2, period: day}}", 1))
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runPolicyCmd(t, "validate", path)
	if err != nil || !strings.Contains(out, "warning: on spillway server, budget 2 USD per day is below 2.93 USD") {
		t.Fatalf("policy validate: %v\n%s\nwant the config valid, with a warning that the server needs 2.93", err, out)
	}
	_, errOut, err := runPolicyCmd(t, "validate", "--server", path)
	if err == nil || !strings.Contains(errOut, "pools[0].limits.budget.amount: budget 2 USD per day is below 2.93 USD") {
		t.Fatalf("policy validate --server: %v\n%s\nwant the budget refused", err, errOut)
	}
}
