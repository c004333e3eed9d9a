package statetest

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

func spendNeverDecreases(t *testing.T, h *harness) {
	s := h.store(t)
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	entry := func(id string, amount float64, d time.Duration) state.SpendEntry {
		return state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: id, PeriodStart: month, Amount: amount, At: at(d)}
	}
	for _, tc := range []struct {
		name string
		e    state.SpendEntry
		want float64 // the pool's spend afterwards
	}{
		{"first amount", entry("i-1", 10.5, time.Minute), 10.5},
		{"grows", entry("i-1", 12.25, 2*time.Minute), 12.25},
		{"a smaller amount is ignored", entry("i-1", 3, 3*time.Minute), 12.25},
		{"zero is ignored", entry("i-1", 0, 4*time.Minute), 12.25},
		{"the same amount is kept", entry("i-1", 12.25, 5*time.Minute), 12.25},
		{"another instance adds", entry("i-2", 1.75, 6*time.Minute), 14},
		{"it grows too", entry("i-2", 2, 7*time.Minute), 14.25},
		{"and never shrinks", entry("i-2", 1, 8*time.Minute), 14.25},
	} {
		ok(t, s.RecordSpend(ctx(t), tc.e), tc.name)
		got, err := s.Spend(ctx(t), "train", month)
		ok(t, err, "Spend")
		if got != tc.want {
			t.Fatalf("%s: Spend = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func spendSumsOnePoolAndPeriod(t *testing.T, h *harness) {
	s := h.store(t)
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	april := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range []state.SpendEntry{
		{Pool: "train", Provider: "aws", InstanceID: "i-1", PeriodStart: march, Amount: 100},
		{Pool: "train", Provider: "alicloud", InstanceID: "i-1", PeriodStart: march, Amount: 50}, // same ID, other provider
		{Pool: "train", Provider: "aws", InstanceID: "i-1", PeriodStart: april, Amount: 7},       // the same instance in the next period
		{Pool: "infer", Provider: "aws", InstanceID: "i-9", PeriodStart: march, Amount: 1000},
	} {
		ok(t, s.RecordSpend(ctx(t), e), "RecordSpend")
	}
	for _, tc := range []struct {
		pool   string
		period time.Time
		want   float64
	}{
		{"train", march, 150},
		{"train", april, 7},
		{"infer", march, 1000},
		{"infer", april, 0},
		{"nope", march, 0},
		{"train", march.Add(time.Nanosecond), 0}, // periods are matched exactly
	} {
		got, err := s.Spend(ctx(t), tc.pool, tc.period)
		ok(t, err, "Spend")
		if got != tc.want {
			t.Errorf("Spend(%q, %s) = %v, want %v", tc.pool, tc.period.Format(time.RFC3339Nano), got, tc.want)
		}
	}
}
