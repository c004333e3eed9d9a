// Package statetest is the behavioural suite every state.Store passes: what
// the scheduler relies on, named after behaviours (DuplicateIntentIsErrExists,
// SpendNeverDecreases...), so a PostgreSQL store can be held to exactly the
// same contract as the SQLite one.
//
// A backend's test calls Run with a function that opens a fresh, empty
// store:
//
//	func TestContract(t *testing.T) {
//		statetest.Run(t, func(t *testing.T) state.Store { ... })
//	}
//
// A backend whose data outlives a Store (a file, a server) also calls
// RunDurable, which adds the cases that close and reopen a database or open
// it twice at once (SpendSurvivesReopen, MigrationsAppliedOnce,
// TwoOpenersRace...).
//
// The suite closes every store it is given (open must not register a
// Close of its own) and checks that Close succeeds. Cases run in parallel,
// each on its own store.
package statetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// Durable reaches the same database again.
type Durable struct {
	// New returns the address of a fresh, empty database (a file path, a
	// DSN, a schema name) that lives until the end of t.
	New func(t *testing.T) string
	// Open opens the database at addr. It may be called several times,
	// also concurrently, for one addr; each Store is closed by the suite.
	Open func(ctx context.Context, addr string) (state.Store, error)
}

// testCase is one behaviour, run on a harness.
type testCase struct {
	name string
	run  func(t *testing.T, h *harness)
}

// harness gives a case its stores and closes them at its end.
type harness struct {
	open    func(t *testing.T) state.Store
	durable *Durable
	addr    string // the durable case's database

	mu     sync.Mutex
	closed map[state.Store]bool // closed by the case itself
}

// store opens the case's store (for a durable harness: the case's
// database) and closes it at the end of the case.
func (h *harness) store(t *testing.T) state.Store {
	t.Helper()
	if h.durable == nil {
		s := h.open(t)
		h.closeAtEnd(t, s)
		return s
	}
	return h.reopen(t)
}

// reopen opens the durable case's database again.
func (h *harness) reopen(t *testing.T) state.Store {
	t.Helper()
	s, err := h.durable.Open(ctx(t), h.addr)
	if err != nil {
		t.Fatalf("open %s: %v", h.addr, err)
	}
	h.closeAtEnd(t, s)
	return s
}

func (h *harness) closeAtEnd(t *testing.T, s state.Store) {
	t.Cleanup(func() {
		h.mu.Lock()
		done := h.closed[s]
		h.mu.Unlock()
		if done {
			return
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// closeNow closes s in the middle of a case.
func (h *harness) closeNow(t *testing.T, s state.Store) {
	t.Helper()
	h.mu.Lock()
	if h.closed == nil {
		h.closed = map[state.Store]bool{}
	}
	h.closed[s] = true
	h.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// Run runs the behavioural cases, each on a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) state.Store) {
	t.Helper()
	runCases(t, behaviours(), func(t *testing.T) *harness { return &harness{open: open} })
}

// RunDurable runs the behavioural cases and the durability cases, each on a
// fresh database from d.New.
func RunDurable(t *testing.T, d Durable) {
	t.Helper()
	cases := append(behaviours(), durability()...)
	runCases(t, cases, func(t *testing.T) *harness { return &harness{durable: &d, addr: d.New(t)} })
}

func runCases(t *testing.T, cases []testCase, newHarness func(t *testing.T) *harness) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newHarness(t))
		})
	}
}

func behaviours() []testCase {
	return []testCase{
		{"IntentRoundTrip", intentRoundTrip},
		{"DuplicateIntentIsErrExists", duplicateIntentIsErrExists},
		{"FinishIntentRecordsOutcome", finishIntentRecordsOutcome},
		{"FinishUnknownIntentIsNotFound", finishUnknownIntentIsNotFound},
		{"IntentsFilterOldestFirst", intentsFilterOldestFirst},
		{"InstanceRoundTrip", instanceRoundTrip},
		{"InstanceUpsertKeepsLatest", instanceUpsertKeepsLatest},
		{"InstancesFilterOldestFirst", instancesFilterOldestFirst},
		{"PutInstancesIsAllOrNothing", putInstancesIsAllOrNothing},
		{"ReadersSeeWholeBatches", readersSeeWholeBatches},
		{"FloorRoundTrip", floorRoundTrip},
		{"DuplicateFloorIsErrExists", duplicateFloorIsErrExists},
		{"SetFloorGPUsOfOpenFloorOnly", setFloorGPUsOfOpenFloorOnly},
		{"UnknownFloorIsNotFound", unknownFloorIsNotFound},
		{"FloorsActiveAt", floorsActiveAt},
		{"FloorsFilter", floorsFilter},
		{"EndFloorKeepsFirstEnd", endFloorKeepsFirstEnd},
		{"ConcurrentEndFloorEndsOnce", concurrentEndFloorEndsOnce},
		{"FloorKeyNamesOneFloor", floorKeyNamesOneFloor},
		{"ConcurrentCreateWithOneKeyCreatesOnce", concurrentCreateWithOneKeyCreatesOnce},
		{"DecisionRoundTrip", decisionRoundTrip},
		{"DecisionIDsIncrease", decisionIDsIncrease},
		{"DecisionsPageNewestFirst", decisionsPageNewestFirst},
		{"DecisionsFilter", decisionsFilter},
		{"DecisionsSinceOutOfOrder", decisionsSinceOutOfOrder},
		{"DecisionPageLimits", decisionPageLimits},
		{"SpendNeverDecreases", spendNeverDecreases},
		{"SpendSumsOnePoolAndPeriod", spendSumsOnePoolAndPeriod},
		{"RecordSpendsIsAllOrNothing", recordSpendsIsAllOrNothing},
		{"IdleGapsNewestPerOffering", idleGapsNewestPerOffering},
		{"AddIdleGapsIsAllOrNothing", addIdleGapsIsAllOrNothing},
		{"HoldsLiveAndExtended", holdsLiveAndExtended},
		{"InvalidHoldsAreRefused", invalidHoldsAreRefused},
		{"UnavailableLiveAndExtended", unavailableLiveAndExtended},
		{"InvalidUnavailableIsRefused", invalidUnavailableIsRefused},
		{"SightingsKeepTheFirst", sightingsKeepTheFirst},
		{"InvalidSightingsAreRefused", invalidSightingsAreRefused},
		{"AuditRoundTrip", auditRoundTrip},
		{"AuditPaging", auditPaging},
		{"AuditKeepsOverlongEntries", auditKeepsOverlongEntries},
		{"LongTextIsTruncated", longTextIsTruncated},
		{"InvalidValuesAreRefused", invalidValuesAreRefused},
		{"PruneKeepsWhatIsLive", pruneKeepsWhatIsLive},
		{"ConcurrentWriters", concurrentWriters},
		{"CancelledContextFails", cancelledContextFails},
	}
}

func durability() []testCase {
	return []testCase{
		{"SpendSurvivesReopen", spendSurvivesReopen},
		{"PendingIntentSurvivesReopen", pendingIntentSurvivesReopen},
		{"IDsNeverReusedAfterReopen", idsNeverReusedAfterReopen},
		{"MigrationsAppliedOnce", migrationsAppliedOnce},
		{"TwoOpenersRace", twoOpenersRace},
		{"TwoStoresWriteConcurrently", twoStoresWriteConcurrently},
		{"ClosedStoreFails", closedStoreFails},
	}
}

// ctx is a case's context, cancelled at its end.
func ctx(t *testing.T) context.Context { return t.Context() }

// t0 is the suite's epoch: a time with nanoseconds, in UTC.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }
