package main

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// TestAPIShowsThePriceTheBudgetCounts: an instance launched at $49/h,
// whose offering a restart raised to $98/h, is counted by the ledger and
// the budget at $98/h (the higher of the two), but the pool's
// spend.per_hour and the instance's price_per_hour (pool and instances
// list) showed the $49 it recorded at its launch, half what the budget
// counted.
func TestAPIShowsThePriceTheBudgetCounts(t *testing.T) {
	ctx := context.Background()
	st := tempState(t)
	now := time.Now().UTC()
	if err := st.PutInstances(ctx, []state.Instance{{ID: "i-0raised", Provider: "aws", Pool: "train", Offering: "p5",
		InstanceType: "p5.48xlarge", State: state.InstanceRunning, GPUs: 8, PricePerHour: 49, Billing: string(policy.BillingPerSecond),
		LaunchedAt: now.Add(-time.Hour), JoinedAt: now.Add(-time.Hour), UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	pool := policy.Pool{Name: "train", Offerings: []policy.Offering{{Name: "p5", Provider: "aws", InstanceType: "p5.48xlarge", GPUs: 8, PricePerHour: 98}}}
	srv := backendOverProviders(t, st, pool, map[string]providers.Provider{"aws": uncalledProvider{}})
	c, err := api.NewClient(srv.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Pool(ctx, "train")
	if err != nil {
		t.Fatal(err)
	}
	if d.Spend.PerHour != 98 || len(d.Instances) != 1 || d.Instances[0].PricePerHour != 98 {
		t.Errorf("pool: spend.per_hour $%.2f, instances %+v: want $98.00/h, the price the budget counts", d.Spend.PerHour, d.Instances)
	}
	list, err := c.Instances(ctx, "train")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].PricePerHour != 98 {
		t.Errorf("instances: %+v, want i-0raised at $98.00/h", list)
	}
}
