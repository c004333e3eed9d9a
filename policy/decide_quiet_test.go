package policy

import (
	"reflect"
	"testing"
	"time"
)

// TestDecideWithoutNotesFormatsNone: a queue of 8-GPU jobs that only an
// offering blocked by quota holds, beside a schedule floor that a cheaper
// shape keeps (the simulator's case 292, evaluated about 828,000 times a
// run) costs Decide a dozen formatted notes and reasons each evaluation;
// DecideWithoutNotes, whose caller reads none, formats none of them and
// plans the same.
func TestDecideWithoutNotesFormatsNone(t *testing.T) {
	now := dtT0
	one, gn7 := dtOne(), dtGn7()
	one.Region = "us-west-2"
	pool := dtPool(one, gn7, dtP4d())
	pool.Limits = Limits{MaxGPUs: 64, Budget: &Budget{Amount: 1e6, Period: PeriodMonth}}
	snap := dtBusySnap(20*time.Minute, 8, 8, 8, 1)
	snap.Blocked = map[string]time.Time{"aws/us-east-1": now.Add(time.Minute)}
	snap.Unavailable = map[OfferingKey]time.Time{gn7.Key(): now.Add(time.Minute)}
	snap.Floors = []Floor{{Kind: FloorSchedule, Owner: "nightly", Reason: "schedule \"nightly\" holds 4 GPUs", GPUs: 4, Until: now.Add(time.Hour)}}
	inst := []Instance{dtInst("i-1", one, StateRunning, now.Add(-time.Hour), 1)}
	spend := Spend{Accrued: 10}
	p := Decide(pool, snap, inst, spend, now)
	if len(p.Notes) == 0 || len(p.Launches) == 0 {
		t.Fatalf("Decide = %+v: want a note for the held queue and a launch for the floor, or the case tests nothing", p)
	}
	if got, want := withoutWords(DecideWithoutNotes(pool, snap, inst, spend, now)), withoutWords(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("DecideWithoutNotes = %+v, want Decide's plan %+v", got, want)
	}
	noisy := testing.AllocsPerRun(50, func() { Decide(pool, snap, inst, spend, now) })
	quiet := testing.AllocsPerRun(50, func() { DecideWithoutNotes(pool, snap, inst, spend, now) })
	// The queue's overflow text, the held queue's note, the floor's
	// launch reason and the skip texts with their times: at least 10
	// allocations, and most of Decide's.
	if quiet > noisy-10 || quiet > noisy/2 {
		t.Errorf("DecideWithoutNotes allocates %.0f times an evaluation, Decide %.0f: notes and reasons are still formatted", quiet, noisy)
	}
}
