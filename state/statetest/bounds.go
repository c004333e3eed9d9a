package statetest

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

func longTextIsTruncated(t *testing.T, h *harness) {
	s := h.store(t)
	long := strings.Repeat("ü", state.MaxTextLen) // 2 bytes a rune: twice the bound
	in := intent("i-1", "train", t0)
	in.Reason, in.Error = long, long
	ok(t, s.CreateIntent(ctx(t), in), "CreateIntent")
	ok(t, s.FinishIntent(ctx(t), "i-1", state.IntentFailed, nil, "late: "+long, at(time.Second)), "FinishIntent")
	ins, err := s.Intents(ctx(t), state.IntentFilter{})
	ok(t, err, "Intents")
	checkTruncated(t, "Intent.Reason", ins[0].Reason, long, state.MaxTextLen)
	checkTruncated(t, "Intent.Error", ins[0].Error, "late: "+long, state.MaxTextLen)

	inst := instance("aws", "i-0a", "train", t0)
	inst.EndReason = long
	ok(t, s.PutInstance(ctx(t), inst), "PutInstance")
	insts, err := s.Instances(ctx(t), state.InstanceFilter{})
	ok(t, err, "Instances")
	checkTruncated(t, "Instance.EndReason", insts[0].EndReason, long, state.MaxTextLen)

	fl := floor("f-1", "train", t0, time.Hour)
	fl.Reason = long
	ok(t, s.CreateFloor(ctx(t), fl), "CreateFloor")
	ok(t, s.EndFloor(ctx(t), "f-1", at(time.Minute), long), "EndFloor")
	got, err := s.Floor(ctx(t), "f-1")
	ok(t, err, "Floor")
	checkTruncated(t, "Floor.Reason", got.Reason, long, state.MaxTextLen)
	checkTruncated(t, "Floor.EndReason", got.EndReason, long, state.MaxTextLen)

	_, err = s.AddDecision(ctx(t), state.Decision{Pool: "train", Time: t0, Summary: long})
	ok(t, err, "AddDecision")
	ds, err := s.Decisions(ctx(t), state.DecisionFilter{})
	ok(t, err, "Decisions")
	checkTruncated(t, "Decision.Summary", ds[0].Summary, long, state.MaxTextLen)
}

func invalidValuesAreRefused(t *testing.T, h *harness) {
	s := h.store(t)
	good := intent("i-ok", "train", t0)
	ok(t, s.CreateIntent(ctx(t), good), "CreateIntent")
	ok(t, s.CreateFloor(ctx(t), floor("f-ok", "train", t0, time.Hour)), "CreateFloor")
	longID := strings.Repeat("x", state.MaxIDLen+1)
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	with := func(f func(*state.Intent)) state.Intent { in := intent("i-bad", "train", t0); f(&in); return in }
	withInst := func(f func(*state.Instance)) state.Instance {
		in := instance("aws", "i-bad", "train", t0)
		f(&in)
		return in
	}
	withFloor := func(f func(*state.Floor)) state.Floor {
		fl := floor("f-bad", "train", t0, time.Hour)
		f(&fl)
		return fl
	}
	spend := func(f func(*state.SpendEntry)) state.SpendEntry {
		e := state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-1", PeriodStart: month, Amount: 1}
		f(&e)
		return e
	}
	for _, tc := range []struct {
		field string // named in the message
		call  func(context.Context) error
	}{
		{"Intent.ID", func(c context.Context) error { return s.CreateIntent(c, with(func(in *state.Intent) { in.ID = "" })) }},
		{"Intent.ID", func(c context.Context) error {
			return s.CreateIntent(c, with(func(in *state.Intent) { in.ID = longID }))
		}},
		{"Intent.Pool", func(c context.Context) error { return s.CreateIntent(c, with(func(in *state.Intent) { in.Pool = "" })) }},
		{"Intent.Provider", func(c context.Context) error {
			return s.CreateIntent(c, with(func(in *state.Intent) { in.Provider = "" }))
		}},
		{"Intent.Count", func(c context.Context) error {
			return s.CreateIntent(c, with(func(in *state.Intent) { in.Count = -1 }))
		}},
		{"Intent.Count", func(c context.Context) error {
			return s.CreateIntent(c, with(func(in *state.Intent) { in.Count = state.MaxCount + 1 }))
		}},
		{"Intent.Status", func(c context.Context) error {
			return s.CreateIntent(c, with(func(in *state.Intent) { in.Status = "lost" }))
		}},
		{"Intent.CreatedAt", func(c context.Context) error {
			return s.CreateIntent(c, with(func(in *state.Intent) { in.CreatedAt = time.Time{} }))
		}},
		{"Intent.CreatedAt", func(c context.Context) error {
			return s.CreateIntent(c, with(func(in *state.Intent) { in.CreatedAt = time.Unix(0, 0) }))
		}},
		{"Intent.CreatedAt", func(c context.Context) error {
			return s.CreateIntent(c, with(func(in *state.Intent) { in.CreatedAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }))
		}},
		{"Intent.InstanceIDs[1]", func(c context.Context) error {
			return s.CreateIntent(c, with(func(in *state.Intent) { in.InstanceIDs = []string{"i-1", ""} }))
		}},
		{"FinishIntent.status", func(c context.Context) error {
			return s.FinishIntent(c, "i-ok", state.IntentPending, nil, "", at(time.Minute))
		}},
		{"FinishIntent.at", func(c context.Context) error {
			return s.FinishIntent(c, "i-ok", state.IntentDone, nil, "", time.Time{})
		}},
		{"FinishIntent.instanceIDs", func(c context.Context) error {
			return s.FinishIntent(c, "i-ok", state.IntentDone, make([]string, state.MaxInstanceIDs+1), "", at(time.Minute))
		}},
		{"Instance.ID", func(c context.Context) error {
			return s.PutInstance(c, withInst(func(in *state.Instance) { in.ID = "" }))
		}},
		{"Instance.Provider", func(c context.Context) error {
			return s.PutInstance(c, withInst(func(in *state.Instance) { in.Provider = "" }))
		}},
		{"Instance.Pool", func(c context.Context) error {
			return s.PutInstance(c, withInst(func(in *state.Instance) { in.Pool = "" }))
		}},
		{"Instance.State", func(c context.Context) error {
			return s.PutInstance(c, withInst(func(in *state.Instance) { in.State = "zombie" }))
		}},
		{"Instance.GPUs", func(c context.Context) error {
			return s.PutInstance(c, withInst(func(in *state.Instance) { in.GPUs = -8 }))
		}},
		{"Instance.PricePerHour", func(c context.Context) error {
			return s.PutInstance(c, withInst(func(in *state.Instance) { in.PricePerHour = math.NaN() }))
		}},
		{"Instance.Zone", func(c context.Context) error {
			return s.PutInstance(c, withInst(func(in *state.Instance) { in.Zone = longID }))
		}},
		{"Floor.Kind", func(c context.Context) error {
			return s.CreateFloor(c, withFloor(func(fl *state.Floor) { fl.Kind = "cron" }))
		}},
		{"Floor.Start", func(c context.Context) error {
			return s.CreateFloor(c, withFloor(func(fl *state.Floor) { fl.Start = time.Time{} }))
		}},
		{"Floor.Until", func(c context.Context) error {
			return s.CreateFloor(c, withFloor(func(fl *state.Floor) { fl.Until = fl.Start }))
		}},
		{"EndFloor.at", func(c context.Context) error { return s.EndFloor(c, "f-ok", time.Time{}, "now") }},
		{"Decision.Time", func(c context.Context) error {
			_, err := s.AddDecision(c, state.Decision{Pool: "train", Summary: "hold"})
			return err
		}},
		{"Decision.Plan", func(c context.Context) error {
			_, err := s.AddDecision(c, state.Decision{Pool: "train", Time: t0, Plan: make([]byte, state.MaxPlanLen+1)})
			return err
		}},
		{"SpendEntry.Amount", func(c context.Context) error {
			return s.RecordSpend(c, spend(func(e *state.SpendEntry) { e.Amount = -1 }))
		}},
		{"SpendEntry.Amount", func(c context.Context) error {
			return s.RecordSpend(c, spend(func(e *state.SpendEntry) { e.Amount = math.Inf(1) }))
		}},
		{"SpendEntry.PeriodStart", func(c context.Context) error {
			return s.RecordSpend(c, spend(func(e *state.SpendEntry) { e.PeriodStart = time.Time{} }))
		}},
		{"SpendEntry.InstanceID", func(c context.Context) error {
			return s.RecordSpend(c, spend(func(e *state.SpendEntry) { e.InstanceID = "" }))
		}},
		{"AuditEntry.Time", func(c context.Context) error {
			_, err := s.AddAudit(c, state.AuditEntry{Principal: "alice", Status: 200})
			return err
		}},
		{"AuditEntry.Status", func(c context.Context) error {
			_, err := s.AddAudit(c, state.AuditEntry{Time: t0, Status: 1000})
			return err
		}},
		{"IntentFilter.Limit", func(c context.Context) error {
			_, err := s.Intents(c, state.IntentFilter{Limit: -1})
			return err
		}},
		{"DecisionFilter.Limit", func(c context.Context) error {
			_, err := s.Decisions(c, state.DecisionFilter{Limit: -1})
			return err
		}},
		{"AuditFilter.Limit", func(c context.Context) error {
			_, err := s.Audit(c, state.AuditFilter{Limit: -5})
			return err
		}},
		{"FloorFilter.Limit", func(c context.Context) error {
			_, err := s.Floors(c, state.FloorFilter{Limit: -1})
			return err
		}},
	} {
		err := tc.call(ctx(t))
		wantErr(t, err, state.ErrInvalid, tc.field)
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: the message %q does not name the field", tc.field, err)
		}
	}

	// Nothing was stored, and the good rows are unchanged.
	ins, err := s.Intents(ctx(t), state.IntentFilter{})
	ok(t, err, "Intents")
	same(t, "intents", ins, []state.Intent{good})
	insts, err := s.Instances(ctx(t), state.InstanceFilter{})
	ok(t, err, "Instances")
	same(t, "instances", instanceKeys(insts), []string{})
	fls, err := s.Floors(ctx(t), state.FloorFilter{Open: true})
	ok(t, err, "Floors")
	same(t, "open floors", floorIDs(fls), []string{"f-ok"})
	ds, err := s.Decisions(ctx(t), state.DecisionFilter{})
	ok(t, err, "Decisions")
	same(t, "decisions", decisionIDs(ds), []int64{})
	es, err := s.Audit(ctx(t), state.AuditFilter{})
	ok(t, err, "Audit")
	same(t, "audit", auditIDs(es), []int64{})
	spent, err := s.Spend(ctx(t), "train", month)
	ok(t, err, "Spend")
	same(t, "spend", spent, 0.0)
}

func cancelledContextFails(t *testing.T, h *harness) {
	s := h.store(t)
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	for name, call := range map[string]func() error{
		"CreateIntent": func() error { return s.CreateIntent(c, intent("i-1", "train", t0)) },
		"PutInstance":  func() error { return s.PutInstance(c, instance("aws", "i-1", "train", t0)) },
		"Intents":      func() error { _, err := s.Intents(c, state.IntentFilter{}); return err },
		"AddDecision": func() error {
			_, err := s.AddDecision(c, state.Decision{Pool: "train", Time: t0})
			return err
		},
	} {
		wantErr(t, call(), context.Canceled, name+" with a cancelled context")
	}
	ins, err := s.Intents(ctx(t), state.IntentFilter{})
	ok(t, err, "Intents")
	same(t, "intents written with a cancelled context", intentIDs(ins), []string{})
}
