package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spillway-io/spillway/configs"
	"github.com/spillway-io/spillway/policy"
)

func dur(d time.Duration) *policy.Duration { p := policy.Duration(d); return &p }

func ptr[T any](v T) *T { return &v }

// TestSimulateSection: every field of the simulate section is read as
// written, a field left out stays nil (the simulator's default), and the
// section survives a round trip.
func TestSimulateSection(t *testing.T) {
	cfg, err := Load("testdata/simulate.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Simulate{
		Cloud: SimCloud{
			Seed:           ptr[uint64](42),
			MeanInStock:    dur(6 * time.Hour),
			MeanOutOfStock: dur(0),
			Offerings: map[string]SimOffering{
				"ali-spot":                            {MeanOutOfStock: dur(2 * time.Hour), SpotMeanLife: dur(24 * time.Hour), SpotNotice: dur(5 * time.Minute), SpotProtection: dur(time.Hour), BootP95: ptr(5.0)},
				"aws/us-east-1/p5.48xlarge/on-demand": {MeanInStock: dur(time.Hour)},
			},
			CapacityTTL:    dur(3 * time.Minute),
			BootP95:        ptr(3.0),
			SpotMeanLife:   dur(48 * time.Hour),
			SpotNotice:     dur(5 * time.Minute),
			SpotProtection: dur(0),
			Quota:          map[string]int{"aws": 64, "ali/cn-hangzhou": 32},
			QuotaTTL:       dur(15 * time.Minute),
		},
		Baselines: SimBaselines{
			Threshold: SimThreshold{Target: ptr(0.7), Cooldown: dur(2 * time.Minute), Interval: dur(30 * time.Second)},
			PerJob: SimPerJob{Suspend: dur(0), ResumeRate: ptr(100), ResumeTimeout: dur(10 * time.Minute),
				InsufficientCapacityTimeout: dur(0)},
			Karpenter: SimKarpenter{ConsolidateAfter: dur(5 * time.Minute), ConsolidationPolicy: ptr("WhenEmpty"), Evict: ptr(true), SpotToSpot: ptr(true)},
		},
	}
	if !reflect.DeepEqual(cfg.Simulate, want) {
		t.Errorf("simulate = %+v\nwant %+v", cfg.Simulate, want)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("testdata/simulate.good.yaml", out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(withoutPositions(cfg), withoutPositions(again)) {
		t.Errorf("round trip changed the config\nfirst  %+v\nsecond %+v", cfg.Simulate, again.Simulate)
	}

	bare, err := Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if bare.Simulate != nil {
		t.Errorf("a config without a simulate section has %+v", bare.Simulate)
	}
}

// TestPoolRunSettings: budget mode, checkpoint_interval and span are read
// into the pool; a budget without a mode is hard.
func TestPoolRunSettings(t *testing.T) {
	cfg, err := Load("testdata/simulate.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	train, eval := cfg.Pools[0].Policy, cfg.Pools[1].Policy
	if train.CheckpointInterval.D() != 30*time.Minute || train.Span != (policy.Span{MinGPUs: 4, Slowdown: 1.2}) ||
		train.Limits.Budget.Mode != policy.BudgetSoft || !train.Limits.Budget.Soft() {
		t.Errorf("train: checkpoint %s, span %+v, budget %+v", train.CheckpointInterval.D(), train.Span, *train.Limits.Budget)
	}
	if eval.CheckpointInterval != 0 || eval.SpanMin() != policy.SpanMinGPUs || eval.SpanSlowdown() != 1 ||
		eval.Limits.Budget.Mode != policy.BudgetHard || eval.Limits.Budget.Soft() {
		t.Errorf("eval: checkpoint %s, span %+v, budget %+v: want the defaults and a hard budget", eval.CheckpointInterval.D(), eval.Span, *eval.Limits.Budget)
	}
}

// TestSimulateExamples: the simulate sections shown commented out in
// configs/examples/backtest.yaml and in docs/backtest.md are valid
// configs, with the values they show.
func TestSimulateExamples(t *testing.T) {
	base := string(configs.BacktestYAML)
	i := strings.Index(base, "# simulate:")
	if i < 0 {
		t.Fatal("configs/examples/backtest.yaml has no commented simulate section")
	}
	var uncommented strings.Builder
	uncommented.WriteString(base[:i])
	for _, line := range strings.Split(base[i:], "\n") {
		uncommented.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ") + "\n")
	}
	doc, err := os.ReadFile("../docs/backtest.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```yaml\nsimulate:")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("docs/backtest.md has no simulate example")
	}
	for name, text := range map[string]string{"backtest.yaml": uncommented.String(), "docs/backtest.md": base[:i] + "simulate:" + block} {
		cfg, err := Parse(name, []byte(text))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		c := cfg.Simulate.Cloud
		if c.Seed == nil || c.BootP95 == nil || *c.BootP95 != 2 || len(c.Offerings) != 1 || len(c.Quota) != 2 || cfg.Simulate.Baselines.PerJob.ResumeRate == nil {
			t.Errorf("%s: simulate section %+v", name, cfg.Simulate)
		}
	}
}

// TestStockWindowsBounded: an offering's schedule may list MaxStockWindows
// windows, not one more.
func TestStockWindowsBounded(t *testing.T) {
	base, err := os.ReadFile("testdata/simulate_windows.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(base), "simulate:")
	if !ok {
		t.Fatal("testdata/simulate_windows.bad.yaml has no simulate section")
	}
	schedule := func(n int) []byte {
		var b strings.Builder
		b.WriteString(head + "simulate:\n  cloud:\n    offerings:\n      small:\n        out_of_stock:\n")
		for i := range n {
			fmt.Fprintf(&b, "          - {from: %dh, for: 30m}\n", i)
		}
		return []byte(b.String())
	}
	cfg, err := Parse("max.yaml", schedule(MaxStockWindows))
	if err != nil {
		t.Fatalf("%d windows: %v", MaxStockWindows, err)
	}
	if got := len(cfg.Simulate.Cloud.Offerings["small"].OutOfStock); got != MaxStockWindows {
		t.Fatalf("read %d windows, want %d", got, MaxStockWindows)
	}
	_, err = Parse("over.yaml", schedule(MaxStockWindows+1))
	want := fmt.Sprintf("simulate.cloud.offerings.small.out_of_stock: %d windows: want at most %d", MaxStockWindows+1, MaxStockWindows)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%d windows: error %v, want one saying %q", MaxStockWindows+1, err, want)
	}
}
