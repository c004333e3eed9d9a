// Package state is the durable memory of one Spillway installation: the
// write-ahead intents of launches, the instances the scheduler manages, the
// floors opened by schedules and manual bursts, every decision with its plan,
// the spend ledger that keeps budgets across restarts, and the audit log of
// the operator API.
//
// The Store interface is owned by its consumer, the scheduler, and kept
// narrow so that several backends can implement it: state/sqlite (embedded,
// the default) and, later, a PostgreSQL store for several servers. Every
// implementation passes the same behavioural suite, state/statetest.
//
// Values are checked and bounded the same way by every backend (see
// limits.go): identifiers that are empty or too long are refused with an
// *InvalidError (errors.Is(err, ErrInvalid)); free text such as reasons,
// error messages and audited request bodies is truncated, so nothing a
// caller passes can grow the database without bound.
//
// Times are kept to the nanosecond in UTC; a zero time.Time means "unset"
// and round-trips as zero. Stores never read the wall clock for data: every
// timestamp is passed in by the caller, who owns the clock.
package state

import (
	"context"
	"errors"
	"time"
)

// Store is the durable state of one Spillway installation. Safe for
// concurrent use. Every method takes ctx first; a cancelled ctx aborts the
// call with an error wrapping ctx.Err().
//
// Methods that take a value check it first and return an *InvalidError
// (errors.Is(err, ErrInvalid)) naming the field, its value and what would be
// valid, before touching the database.
type Store interface {
	// CreateIntent records a write-ahead intent to launch. It returns an
	// error wrapping ErrExists if an intent with in.ID exists (the stored one
	// is left unchanged). An empty Status is stored as IntentPending.
	CreateIntent(ctx context.Context, in Intent) error
	// FinishIntent sets Status (IntentDone or IntentFailed), Error,
	// InstanceIDs and UpdatedAt of the intent id. It returns an error
	// wrapping ErrNotFound if no such intent exists.
	FinishIntent(ctx context.Context, id string, status IntentStatus, instanceIDs []string, errMsg string, at time.Time) error
	// Intents lists intents matching the filter, oldest CreatedAt first (ties
	// by ID).
	Intents(ctx context.Context, f IntentFilter) ([]Intent, error)

	// PutInstance inserts or replaces the instance row keyed by
	// (Provider, ID).
	PutInstance(ctx context.Context, in Instance) error
	// PutInstances puts every row as PutInstance does, in one transaction:
	// all are stored or none (one durable write, where a tick updating many
	// instances would otherwise pay one each). If a row is invalid, the
	// error names its index and nothing is stored.
	PutInstances(ctx context.Context, ins []Instance) error
	// Instances lists instance rows, oldest LaunchedAt first (ties by
	// Provider, then ID).
	Instances(ctx context.Context, f InstanceFilter) ([]Instance, error)

	// CreateFloor adds a floor. It returns an error wrapping ErrExists if a
	// floor with fl.ID exists (schedule floors use deterministic IDs, so
	// creating one again is harmless), or if fl.IdempotencyKey is set and
	// a floor of fl.Owner already holds that key (FloorByKey returns it);
	// the stored floor is left unchanged. Of several callers creating
	// floors with one owner's key at once, exactly one succeeds.
	CreateFloor(ctx context.Context, fl Floor) error
	// FloorByKey returns the floor of owner whose IdempotencyKey is key,
	// or an error wrapping ErrNotFound. A key is kept as long as its
	// floor is (see Prune).
	FloorByKey(ctx context.Context, owner, key string) (Floor, error)
	// EndFloor marks the floor id ended at `at` with reason, if it is
	// open. Ending an ended floor keeps the first end and returns an error
	// wrapping ErrEnded, so of several callers ending one floor at once
	// exactly one gets nil (one operator is told they cancelled a burst).
	// It returns an error wrapping ErrNotFound if no such floor exists.
	EndFloor(ctx context.Context, id string, at time.Time, reason string) error
	// SetFloorGPUs sets the GPUs and the reason of the open floor id: a
	// schedule's firing whose gpus changed in the config while it held.
	// It returns an error wrapping ErrEnded (the floor left unchanged) if
	// the floor has ended, or ErrNotFound if no such floor exists.
	SetFloorGPUs(ctx context.Context, id string, gpus int, reason string) error
	// Floor returns the floor id, or an error wrapping ErrNotFound.
	Floor(ctx context.Context, id string) (Floor, error)
	// Floors lists floors matching the filter, earliest Start first (ties by
	// ID).
	Floors(ctx context.Context, f FloorFilter) ([]Floor, error)

	// AddDecision stores a decision and returns its ID. IDs increase
	// strictly with every call and are never reused. d.ID is ignored.
	AddDecision(ctx context.Context, d Decision) (int64, error)
	// Decisions lists decisions newest (highest ID) first, paged by
	// BeforeID.
	Decisions(ctx context.Context, f DecisionFilter) ([]Decision, error)

	// RecordSpend sets the amount accrued by one instance in one budget
	// period, keyed by (Pool, Provider, InstanceID, PeriodStart), keeping the
	// larger of the stored and the new amount: spend never goes down. At is
	// updated only when the amount grows.
	RecordSpend(ctx context.Context, e SpendEntry) error
	// RecordSpends records every entry as RecordSpend does, in one
	// transaction: all are stored or none. If an entry is invalid, the error
	// names its index and nothing is stored.
	RecordSpends(ctx context.Context, es []SpendEntry) error
	// Spend sums the pool's entries for the period starting at periodStart
	// (0 when there are none).
	Spend(ctx context.Context, pool string, periodStart time.Time) (float64, error)

	// AddIdleGaps stores idle gaps, in one transaction: all are stored or
	// none. If one is invalid, the error names its index and nothing is
	// stored.
	AddIdleGaps(ctx context.Context, gs []IdleGap) error
	// IdleGaps lists the pool's newest perOffering gaps of each offering,
	// oldest (by At, then as stored) first.
	IdleGaps(ctx context.Context, pool string, perOffering int) ([]IdleGap, error)

	// PutHold stores h, keyed by its pool and offering. A hold of that
	// offering stored already is only ever extended: the one whose Until is
	// later is kept, with its At and Reason.
	PutHold(ctx context.Context, h Hold) error
	// Holds lists the pool's holds whose Until is after at, earliest Until
	// first (ties by provider, region, zone, instance type, market).
	Holds(ctx context.Context, pool string, at time.Time) ([]Hold, error)

	// PutUnavailable stores u, keyed by its kind and what it names (the
	// offering, the region or the provider). An entry stored already is only
	// ever extended: the one whose Until is later is kept, with its At and
	// Why.
	PutUnavailable(ctx context.Context, u Unavailable) error
	// Unavailable lists the entries whose Until is after at, earliest Until
	// first (ties by kind, provider, region, zone, instance type, market).
	Unavailable(ctx context.Context, at time.Time) ([]Unavailable, error)
	// DeleteUnavailable deletes the entry of u's kind and identity (an
	// offering that launched again before its entry lapsed); none stored
	// is no error.
	DeleteUnavailable(ctx context.Context, u Unavailable) error

	// NoteSighting stores g, keyed by its Provider and ID. A sighting of
	// that instance stored already keeps the earlier At: the first
	// sighting is kept.
	NoteSighting(ctx context.Context, g Sighting) error
	// Sightings lists provider's sightings, earliest At first (ties by
	// ID).
	Sightings(ctx context.Context, provider string) ([]Sighting, error)
	// DeleteSighting deletes the sighting of provider's instance id (no
	// longer a stranger, or no longer listed); none stored is no error.
	DeleteSighting(ctx context.Context, provider, id string) error

	// AddAudit stores an audit entry and returns its ID (strictly
	// increasing, never reused). e.ID is ignored. Over-long strings are
	// truncated, never refused: an audit entry is always kept.
	AddAudit(ctx context.Context, e AuditEntry) (int64, error)
	// Audit lists audit entries newest (highest ID) first, paged by
	// BeforeID.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// Prune deletes the history older than before: decisions and audit
	// entries whose Time is before it, finished intents last written before
	// it, ended instances that ended before it, floors that ended or
	// whose Until passed before it, idle gaps that resolved before it, and
	// holds and unavailable entries that lapsed before it, sightings made
	// before it (a stranger listed that long was swept, or its provider
	// is no longer listed), and the spend
	// entries of budget periods that ended before it (those that started
	// more than LongestBudgetPeriod before it: no budget reads them again).
	// Pending intents, instances not ended, open floors and the spend of a
	// period that may still run are never pruned. It deletes in small
	// transactions, so writers wait at most a moment, and returns what it
	// deleted. IDs of decisions and audit entries are not reused after a
	// prune.
	Prune(ctx context.Context, before time.Time) (Pruned, error)

	// Close releases the store. Calls after Close fail.
	Close() error
}

// Errors callers act on; match them with errors.Is.
var (
	// ErrExists: a row with that identity is already stored.
	ErrExists = errors.New("already exists")
	// ErrNotFound: no row with that identity is stored.
	ErrNotFound = errors.New("not found")
	// ErrEnded: the floor was ended already (EndFloor); its first end is
	// kept.
	ErrEnded = errors.New("already ended")
	// ErrInvalid: a value cannot be stored (see *InvalidError).
	ErrInvalid = errors.New("invalid value")
	// ErrSchemaTooNew: the database was written by a newer Spillway whose
	// schema this binary does not know (see *SchemaError).
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrNoWrites: the database takes no writes (SQLite: a file or a
	// filesystem that cannot be written; PostgreSQL: a hot standby,
	// default_transaction_read_only on); reads may go on. The backend's
	// typed error, which NoWrites finds, says which and what to do.
	ErrNoWrites = errors.New("the state database takes no writes")
)

// NoWrites returns the error in err's tree that says the database takes
// no writes (the backend's typed error, whose Is matches ErrNoWrites:
// *sqlite.UnwritableError, *postgres.ReadOnlyError), or nil.
func NoWrites(err error) error {
	if err == nil {
		return nil
	}
	if is, ok := err.(interface{ Is(error) bool }); ok && is.Is(ErrNoWrites) {
		return err
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return NoWrites(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if found := NoWrites(e); found != nil {
				return found
			}
		}
	}
	return nil
}

// Pruned counts the rows a Prune deleted.
type Pruned struct {
	Decisions, Audit, Intents, Instances, Floors, IdleGaps, Holds, Unavailable, Sightings, Spend int64
}

// LongestBudgetPeriod is the longest a budget period lasts (a month of 31
// days): the spend of a period that started this long before a Prune's cut
// has ended before it.
const LongestBudgetPeriod = 31 * 24 * time.Hour

// Migrated is implemented by stores with a versioned schema: it lists the
// migrations applied to the database, lowest version first.
type Migrated interface {
	Migrations(ctx context.Context) ([]Migration, error)
}

// Migration is one schema migration applied to a database.
type Migration struct {
	Version   int
	Name      string
	AppliedAt time.Time
}
