package statetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

func instanceRoundTrip(t *testing.T, h *harness) {
	s := h.store(t)
	full := instance("aws", "i-0a", "train", t0)
	ended := instance("alicloud", "i-0b", "train", at(time.Hour))
	ended.State, ended.EndedAt, ended.EndReason = state.InstanceEnded, at(2*time.Hour), "drained: idle 10m"
	ended.RanUntil = ended.EndedAt // its terminate answered, not carried out: it ran on until then
	bare := state.Instance{ID: "i-0c", Provider: "aws", Pool: "train", State: state.InstanceBooting}
	for _, in := range []state.Instance{full, ended, bare} {
		ok(t, s.PutInstance(ctx(t), in), "PutInstance "+in.ID)
	}
	got, err := s.Instances(ctx(t), state.InstanceFilter{})
	ok(t, err, "Instances")
	same(t, "Instances", got, []state.Instance{bare, full, ended}) // bare has no LaunchedAt: first
}

func instanceUpsertKeepsLatest(t *testing.T, h *harness) {
	s := h.store(t)
	in := instance("aws", "i-0a", "train", t0)
	in.State, in.JoinedAt, in.BusyGPUs, in.DrainStartedAt, in.DrainHookAt, in.IdleSince = state.InstanceBooting, time.Time{}, 0, time.Time{}, time.Time{}, time.Time{}
	in.ReclaimedAt = time.Time{}
	ok(t, s.PutInstance(ctx(t), in), "PutInstance(booting)")
	// The same instance under another provider is another row.
	other := instance("alicloud", "i-0a", "infer", at(time.Second))
	ok(t, s.PutInstance(ctx(t), other), "PutInstance(other provider)")

	steps := []func(*state.Instance){
		func(in *state.Instance) {
			in.State, in.JoinedAt, in.UpdatedAt = state.InstanceRunning, at(3*time.Minute), at(3*time.Minute)
		},
		func(in *state.Instance) { in.BusyGPUs, in.UpdatedAt = 8, at(10*time.Minute) },
		func(in *state.Instance) {
			in.State, in.BusyGPUs, in.IdleSince, in.DrainStartedAt = state.InstanceDraining, 0, at(20*time.Minute), at(30*time.Minute)
		},
		func(in *state.Instance) { in.DrainHookAt = at(30*time.Minute + time.Second) },
		func(in *state.Instance) { in.ReclaimedAt = at(30*time.Minute + 2*time.Second) },
		func(in *state.Instance) {
			in.State, in.EndedAt, in.EndReason = state.InstanceTerminating, at(30*time.Minute+3*time.Second), "no busy GPU"
		},
		func(in *state.Instance) { in.RanUntil = at(31*time.Minute + 30*time.Second) }, // listed running past its terminate
		func(in *state.Instance) {
			in.State, in.EndedAt = state.InstanceEnded, in.RanUntil
		},
	}
	for i, step := range steps {
		step(&in)
		ok(t, s.PutInstance(ctx(t), in), "PutInstance")
		got, err := s.Instances(ctx(t), state.InstanceFilter{Provider: "aws"})
		ok(t, err, "Instances")
		same(t, "after step "+string(rune('1'+i)), got, []state.Instance{in})
	}
	got, err := s.Instances(ctx(t), state.InstanceFilter{})
	ok(t, err, "Instances")
	same(t, "all instances", got, []state.Instance{in, other})
}

func instancesFilterOldestFirst(t *testing.T, h *harness) {
	s := h.store(t)
	put := func(provider, id, pool, st string, launched time.Time) {
		in := instance(provider, id, pool, launched)
		in.State = st
		ok(t, s.PutInstance(ctx(t), in), "PutInstance "+id)
	}
	put("aws", "i-3", "train", state.InstanceRunning, at(3*time.Minute))
	put("aws", "i-1", "train", state.InstanceEnded, at(time.Minute))
	put("alicloud", "i-2", "infer", state.InstanceDraining, at(2*time.Minute))
	put("aws", "i-2", "train", state.InstanceBooting, at(2*time.Minute)) // same time: by provider, then ID
	put("alicloud", "i-4", "train", state.InstanceTerminating, at(4*time.Minute))
	for i, ended := range []time.Duration{10 * time.Minute, 20 * time.Minute} {
		in := instance("aws", fmt.Sprintf("i-e%d", i), "train", at(time.Duration(5+i)*time.Minute))
		in.State, in.EndedAt = state.InstanceEnded, at(ended)
		ok(t, s.PutInstance(ctx(t), in), "PutInstance "+in.ID)
	}
	for _, tc := range []struct {
		name string
		f    state.InstanceFilter
		want []string
	}{
		{"all", state.InstanceFilter{}, []string{"aws/i-1", "alicloud/i-2", "aws/i-2", "aws/i-3", "alicloud/i-4", "aws/i-e0", "aws/i-e1"}},
		{"live", state.InstanceFilter{Live: true}, []string{"alicloud/i-2", "aws/i-2", "aws/i-3", "alicloud/i-4"}},
		{"pool", state.InstanceFilter{Pool: "train"}, []string{"aws/i-1", "aws/i-2", "aws/i-3", "alicloud/i-4", "aws/i-e0", "aws/i-e1"}},
		{"live or ended since", state.InstanceFilter{Live: true, EndedSince: at(15 * time.Minute)}, []string{"alicloud/i-2", "aws/i-2", "aws/i-3", "alicloud/i-4", "aws/i-e1"}},
		{"live or ended at the time", state.InstanceFilter{Live: true, EndedSince: at(10 * time.Minute)}, []string{"alicloud/i-2", "aws/i-2", "aws/i-3", "alicloud/i-4", "aws/i-e0", "aws/i-e1"}},
		{"pool, live or ended since", state.InstanceFilter{Pool: "infer", Live: true, EndedSince: at(15 * time.Minute)}, []string{"alicloud/i-2"}},
		{"provider", state.InstanceFilter{Provider: "alicloud"}, []string{"alicloud/i-2", "alicloud/i-4"}},
		{"pool, provider, live", state.InstanceFilter{Pool: "train", Provider: "aws", Live: true}, []string{"aws/i-2", "aws/i-3"}},
		{"ids", state.InstanceFilter{IDs: []string{"i-2", "i-e1", "i-9"}}, []string{"alicloud/i-2", "aws/i-2", "aws/i-e1"}},
		{"ids, provider", state.InstanceFilter{Provider: "aws", IDs: []string{"i-1", "i-2"}}, []string{"aws/i-1", "aws/i-2"}},
		{"unknown pool", state.InstanceFilter{Pool: "nope"}, []string{}},
	} {
		got, err := s.Instances(ctx(t), tc.f)
		ok(t, err, tc.name)
		same(t, tc.name, instanceKeys(got), tc.want)
	}
}
