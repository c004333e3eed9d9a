package statetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

func pruneKeepsWhatIsLive(t *testing.T, h *harness) {
	s := h.store(t)
	cut := at(24 * time.Hour)
	old, recent := at(time.Hour), at(25*time.Hour)
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

	// Intents: finished old (pruned), pending old (kept), finished recently (kept).
	for _, id := range []string{"old-done", "old-pending", "new-done"} {
		ok(t, s.CreateIntent(ctx(t), intent(id, "train", old)), "CreateIntent")
	}
	ok(t, s.FinishIntent(ctx(t), "old-done", state.IntentDone, []string{"i-1"}, "", old.Add(time.Minute)), "FinishIntent")
	ok(t, s.FinishIntent(ctx(t), "new-done", state.IntentFailed, nil, "capacity", recent), "FinishIntent")

	// Instances: ended long ago (pruned), ended recently, still running since long ago (kept).
	endedOld := instance("aws", "i-ended-old", "train", old)
	endedOld.State, endedOld.EndedAt, endedOld.UpdatedAt = state.InstanceEnded, old.Add(time.Hour), old.Add(time.Hour)
	endedNew := instance("aws", "i-ended-new", "train", old)
	endedNew.State, endedNew.EndedAt, endedNew.UpdatedAt = state.InstanceEnded, recent, recent
	running := instance("aws", "i-running", "train", old)
	running.UpdatedAt = old
	ok(t, s.PutInstances(ctx(t), []state.Instance{endedOld, endedNew, running}), "PutInstances")

	// Floors: ended old, expired old, open with Until ahead, open without Until.
	for _, fl := range []state.Floor{
		floor("f-ended", "train", old, 48*time.Hour),
		floor("f-expired", "train", old, time.Hour),
		floor("f-ahead", "train", old, 48*time.Hour),
		{ID: "f-forever", Pool: "train", Kind: state.FloorManual, GPUs: 8, Start: old},
	} {
		ok(t, s.CreateFloor(ctx(t), fl), "CreateFloor")
	}
	ok(t, s.EndFloor(ctx(t), "f-ended", old.Add(time.Minute), "cancelled"), "EndFloor")

	// Decisions and audit: 30 before the cut, 2 after.
	var lastDecision int64
	for i := range 32 {
		when := old.Add(time.Duration(i) * time.Minute)
		if i >= 30 {
			when = recent.Add(time.Duration(i) * time.Minute)
		}
		id, err := s.AddDecision(ctx(t), state.Decision{Pool: "train", Time: when, Summary: fmt.Sprint(i)})
		ok(t, err, "AddDecision")
		lastDecision = id
		_, err = s.AddAudit(ctx(t), state.AuditEntry{Time: when, Principal: "alice", Status: 200})
		ok(t, err, "AddAudit")
	}
	ok(t, s.RecordSpend(ctx(t), state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-ended-old", PeriodStart: month, Amount: 99}), "RecordSpend")
	// Spend of periods that ended before the cut (pruned: no budget reads
	// them again); March's, which holds the cut, is kept.
	january, february := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	ok(t, s.RecordSpends(ctx(t), []state.SpendEntry{
		{Pool: "train", Provider: "aws", InstanceID: "i-ended-old", PeriodStart: january, Amount: 5},
		{Pool: "train", Provider: "aws", InstanceID: "i-ended-old", PeriodStart: february, Amount: 7},
	}), "RecordSpends")

	ok(t, s.AddIdleGaps(ctx(t), []state.IdleGap{
		{Pool: "train", Provider: "aws", InstanceType: "p5.48xlarge", At: old, Gap: time.Minute},
		{Pool: "train", Provider: "aws", InstanceType: "p5.48xlarge", At: recent, Gap: 2 * time.Minute},
	}), "AddIdleGaps")

	// Holds: lapsed before the cut (pruned), lapsing after it (kept).
	ok(t, s.PutHold(ctx(t), state.Hold{Pool: "train", Provider: "aws", InstanceType: "g5.xlarge", At: old, Until: old.Add(time.Hour)}), "PutHold")
	ok(t, s.PutHold(ctx(t), state.Hold{Pool: "train", Provider: "aws", InstanceType: "p5.48xlarge", At: old, Until: recent}), "PutHold")

	// Unavailable entries likewise.
	ok(t, s.PutUnavailable(ctx(t), state.Unavailable{Kind: state.UnavailableOffering, Provider: "aws", InstanceType: "g5.xlarge", At: old, Until: old.Add(3 * time.Minute)}), "PutUnavailable")
	ok(t, s.PutUnavailable(ctx(t), state.Unavailable{Kind: state.UnavailableQuota, Provider: "aws", Region: "us-east-1", At: old, Until: recent}), "PutUnavailable")

	// Sightings: made before the cut (pruned), after it (kept).
	ok(t, s.NoteSighting(ctx(t), state.Sighting{Provider: "aws", ID: "i-seen-old", At: old}), "NoteSighting")
	ok(t, s.NoteSighting(ctx(t), state.Sighting{Provider: "aws", ID: "i-seen-recent", At: recent}), "NoteSighting")

	got, err := s.Prune(ctx(t), cut)
	ok(t, err, "Prune")
	same(t, "pruned", got, state.Pruned{Decisions: 30, Audit: 30, Intents: 1, Instances: 1, Floors: 2, IdleGaps: 1, Holds: 1, Unavailable: 1, Sightings: 1, Spend: 2})
	again, err := s.Prune(ctx(t), cut)
	ok(t, err, "Prune again")
	same(t, "pruned again", again, state.Pruned{})

	ins, err := s.Intents(ctx(t), state.IntentFilter{})
	ok(t, err, "Intents")
	same(t, "intents kept", intentIDs(ins), []string{"new-done", "old-pending"})
	insts, err := s.Instances(ctx(t), state.InstanceFilter{})
	ok(t, err, "Instances")
	same(t, "instances kept", instanceKeys(insts), []string{"aws/i-ended-new", "aws/i-running"})
	fls, err := s.Floors(ctx(t), state.FloorFilter{})
	ok(t, err, "Floors")
	same(t, "floors kept", floorIDs(fls), []string{"f-ahead", "f-forever"})
	ds, err := s.Decisions(ctx(t), state.DecisionFilter{})
	ok(t, err, "Decisions")
	if len(ds) != 2 || ds[0].ID != lastDecision {
		t.Fatalf("decisions kept: %v, want the 2 newest", decisionIDs(ds))
	}
	es, err := s.Audit(ctx(t), state.AuditFilter{})
	ok(t, err, "Audit")
	if len(es) != 2 {
		t.Fatalf("audit entries kept: %d, want 2", len(es))
	}
	gaps, err := s.IdleGaps(ctx(t), "train", 10)
	ok(t, err, "IdleGaps")
	if len(gaps) != 1 || gaps[0].Gap != 2*time.Minute {
		t.Fatalf("idle gaps kept: %+v, want the one after the cut", gaps)
	}
	holds, err := s.Holds(ctx(t), "train", old)
	ok(t, err, "Holds")
	if len(holds) != 1 || holds[0].InstanceType != "p5.48xlarge" {
		t.Fatalf("holds kept: %+v, want the one lapsing after the cut", holds)
	}
	un, err := s.Unavailable(ctx(t), old)
	ok(t, err, "Unavailable")
	if len(un) != 1 || un[0].Kind != state.UnavailableQuota {
		t.Fatalf("unavailable entries kept: %+v, want the one lapsing after the cut", un)
	}
	seen, err := s.Sightings(ctx(t), "aws")
	ok(t, err, "Sightings")
	same(t, "sightings kept", seen, []state.Sighting{{Provider: "aws", ID: "i-seen-recent", At: recent}})
	spent, err := s.Spend(ctx(t), "train", month)
	ok(t, err, "Spend")
	same(t, "spend of a pruned instance", spent, 99.0)
	for _, period := range []time.Time{january, february} {
		spent, err := s.Spend(ctx(t), "train", period)
		ok(t, err, "Spend")
		same(t, "spend of a period ended before the cut", spent, 0.0)
	}
	next, err := s.AddDecision(ctx(t), state.Decision{Pool: "train", Time: recent})
	ok(t, err, "AddDecision")
	if next <= lastDecision {
		t.Fatalf("decision ID %d after pruning, want more than %d", next, lastDecision)
	}
	_, err = s.Prune(ctx(t), time.Time{})
	wantErr(t, err, state.ErrInvalid, "Prune(zero time)")
}
