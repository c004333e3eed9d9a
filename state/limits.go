package state

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on stored values, the same for every backend.
const (
	// MaxIDLen bounds identifiers and names (IDs, pools, providers,
	// offerings, zones, tokens, owners...). Longer ones are refused.
	MaxIDLen = 256
	// MaxTextLen bounds free text (reasons, error messages, summaries,
	// outcomes, actions). Longer text is truncated. It holds a manual
	// burst's reason whole: the API takes 500 characters, of up to four
	// bytes each.
	MaxTextLen = 2048
	// MaxRequestLen bounds AuditEntry.Request. Longer bodies are truncated.
	MaxRequestLen = 4096
	// MaxPlanLen bounds Decision.Plan. Longer plans are refused (a cut JSON
	// document is worth nothing).
	MaxPlanLen = 1 << 20
	// MaxInstanceIDs bounds Intent.InstanceIDs.
	MaxInstanceIDs = 10000
	// MaxCount bounds Intent.Count.
	MaxCount = 10000
	// MaxGPUs bounds GPU counts (Instance.GPUs, Instance.BusyGPUs,
	// Floor.GPUs).
	MaxGPUs = 1 << 20
	// MaxBatch bounds the rows of one PutInstances or RecordSpends call.
	MaxBatch = 10000
)

// truncMark ends a truncated string.
const truncMark = "…"

var (
	// minTime and maxTime bound non-zero times: after the Unix epoch and
	// within int64 nanoseconds.
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(0, math.MaxInt64)
)

// InvalidError says which value cannot be stored and what would be valid.
// errors.Is(err, ErrInvalid) holds for it.
type InvalidError struct {
	Field string // e.g. "Intent.ID"
	Value string // the bad value, quoted and shortened for people
	Want  string // what would be valid
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("state: %s %s is invalid: want %s", e.Field, e.Value, e.Want)
}

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// SchemaError says that a database's schema is newer than this binary's.
// errors.Is(err, ErrSchemaTooNew) holds for it.
type SchemaError struct {
	Database string // where the database is, for people
	Have     int    // the database's schema version
	Know     int    // the newest version this binary knows
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("state: %s has schema version %d, newer than the %d this binary knows: upgrade spillway, or restore a backup made before the upgrade", e.Database, e.Have, e.Know)
}

// Is makes errors.Is(err, ErrSchemaTooNew) hold.
func (e *SchemaError) Is(target error) bool { return target == ErrSchemaTooNew }

// checker collects the problems of one value.
type checker struct {
	kind string
	errs []error
}

func (c *checker) bad(field, value, want string) {
	c.errs = append(c.errs, &InvalidError{Field: c.kind + "." + field, Value: value, Want: want})
}

func (c *checker) err() error { return errors.Join(c.errs...) }

// id checks an identifier: at most MaxIDLen bytes, non-empty if required.
func (c *checker) id(field, v string, required bool) {
	switch {
	case required && v == "":
		c.bad(field, `""`, fmt.Sprintf("a non-empty string of at most %d bytes", MaxIDLen))
	case len(v) > MaxIDLen:
		c.bad(field, quote(v), fmt.Sprintf("at most %d bytes, not %d", MaxIDLen, len(v)))
	case !utf8.ValidString(v):
		c.bad(field, quote(v), "valid UTF-8")
	}
}

// offering checks a pool's offering identity (policy.OfferingKey): the
// pool, provider and instance type are required.
func (c *checker) offering(pool, provider, region, zone, instanceType, market string) {
	c.id("Pool", pool, true)
	c.id("Provider", provider, true)
	c.id("Region", region, false)
	c.id("Zone", zone, false)
	c.id("InstanceType", instanceType, true)
	c.id("Market", market, false)
}

// time checks a time: zero (unless required) or within the storable range.
func (c *checker) time(field string, t time.Time, required bool) {
	if t.IsZero() {
		if required {
			c.bad(field, "0001-01-01T00:00:00Z (zero)", "a time after 1970-01-01T00:00:00Z")
		}
		return
	}
	if !t.After(minTime) || t.After(maxTime) {
		c.bad(field, t.UTC().Format(time.RFC3339Nano), "zero (unset) or a time after 1970-01-01T00:00:00Z and before "+maxTime.UTC().Format(time.RFC3339))
	}
}

// lapse checks a span recorded at At that lapses at Until: both set,
// Until after At.
func (c *checker) lapse(at, until time.Time) {
	c.time("At", at, true)
	c.time("Until", until, true)
	if !at.IsZero() && !until.After(at) {
		c.bad("Until", until.UTC().Format(time.RFC3339Nano), "a time after At ("+at.UTC().Format(time.RFC3339Nano)+")")
	}
}

// count checks 0 <= n <= max.
func (c *checker) count(field string, n, max int) {
	if n < 0 || n > max {
		c.bad(field, strconv.Itoa(n), fmt.Sprintf("0 to %d", max))
	}
}

// money checks a finite, non-negative amount.
func (c *checker) money(field string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		c.bad(field, strconv.FormatFloat(v, 'g', -1, 64), "a finite amount >= 0")
	}
}

// oneOf checks that v is one of valid.
func (c *checker) oneOf(field, v string, valid ...string) {
	for _, ok := range valid {
		if v == ok {
			return
		}
	}
	c.bad(field, quote(v), "one of "+strings.Join(valid, ", "))
}

// quote shows a value to people, shortened.
func quote(v string) string {
	const show = 64
	if len(v) > show {
		return strconv.Quote(Truncate(v, show)) + fmt.Sprintf(" (%d bytes)", len(v))
	}
	return strconv.Quote(v)
}

// Truncate returns s cut to at most max bytes at a rune boundary, ending in
// "…" when it was cut. Invalid UTF-8 is replaced by U+FFFD first, so the
// result is always valid UTF-8.
func Truncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	if max < len(truncMark) {
		return ""
	}
	cut := max - len(truncMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncMark
}

// Bounded checks an intent for CreateIntent and returns it with its free
// text truncated and an empty Status set to IntentPending.
func (in Intent) Bounded() (Intent, error) {
	c := checker{kind: "Intent"}
	c.id("ID", in.ID, true)
	c.id("Pool", in.Pool, true)
	c.id("Provider", in.Provider, true)
	c.id("Offering", in.Offering, false)
	c.count("Count", in.Count, MaxCount)
	c.id("Floor", in.Floor, false)
	c.id("ClientToken", in.ClientToken, false)
	if in.Epoch < 0 {
		c.bad("Epoch", fmt.Sprint(in.Epoch), "0 or more")
	}
	c.id("Params", in.Params, false)
	if in.Status == "" {
		in.Status = IntentPending
	}
	c.oneOf("Status", string(in.Status), string(IntentPending), string(IntentDone), string(IntentFailed))
	c.instanceIDs("InstanceIDs", in.InstanceIDs)
	c.time("CreatedAt", in.CreatedAt, true)
	c.time("UpdatedAt", in.UpdatedAt, false)
	in.Reason = Truncate(in.Reason, MaxTextLen)
	in.Error = Truncate(in.Error, MaxTextLen)
	return in, c.err()
}

func (c *checker) instanceIDs(field string, ids []string) {
	if len(ids) > MaxInstanceIDs {
		c.bad(field, fmt.Sprintf("(%d ids)", len(ids)), fmt.Sprintf("at most %d ids", MaxInstanceIDs))
		return
	}
	for i, id := range ids {
		c.id(fmt.Sprintf("%s[%d]", field, i), id, true)
	}
}

// FinishBounded checks the arguments of FinishIntent and returns errMsg
// truncated.
func FinishBounded(id string, status IntentStatus, instanceIDs []string, errMsg string, at time.Time) (string, error) {
	c := checker{kind: "FinishIntent"}
	c.id("id", id, true)
	c.oneOf("status", string(status), string(IntentDone), string(IntentFailed))
	c.instanceIDs("instanceIDs", instanceIDs)
	c.time("at", at, true)
	return Truncate(errMsg, MaxTextLen), c.err()
}

// Bounded checks an instance for PutInstance and returns it with its free
// text truncated.
func (in Instance) Bounded() (Instance, error) {
	c := checker{kind: "Instance"}
	c.id("ID", in.ID, true)
	c.id("Provider", in.Provider, true)
	c.id("Pool", in.Pool, true)
	for _, f := range []struct{ name, v string }{
		{"Offering", in.Offering}, {"IntentID", in.IntentID}, {"Floor", in.Floor},
		{"Zone", in.Zone}, {"InstanceType", in.InstanceType}, {"Market", in.Market},
		{"PrivateIP", in.PrivateIP}, {"Billing", in.Billing},
	} {
		c.id(f.name, f.v, false)
	}
	c.oneOf("State", in.State, InstanceBooting, InstanceRunning, InstanceDraining, InstanceTerminating, InstanceEnded)
	c.count("GPUs", in.GPUs, MaxGPUs)
	c.count("BusyGPUs", in.BusyGPUs, MaxGPUs)
	c.money("PricePerHour", in.PricePerHour)
	for _, f := range []struct {
		name string
		t    time.Time
	}{
		{"LaunchedAt", in.LaunchedAt}, {"JoinedAt", in.JoinedAt}, {"IdleSince", in.IdleSince},
		{"DrainStartedAt", in.DrainStartedAt}, {"DrainHookAt", in.DrainHookAt}, {"ReclaimedAt", in.ReclaimedAt},
		{"EndedAt", in.EndedAt}, {"RanUntil", in.RanUntil}, {"UpdatedAt", in.UpdatedAt},
	} {
		c.time(f.name, f.t, false)
	}
	in.EndReason = Truncate(in.EndReason, MaxTextLen)
	return in, c.err()
}

// Bounded checks a floor for CreateFloor and returns it with its free text
// truncated.
func (fl Floor) Bounded() (Floor, error) {
	c := checker{kind: "Floor"}
	c.id("ID", fl.ID, true)
	c.id("Pool", fl.Pool, true)
	c.oneOf("Kind", fl.Kind, FloorSchedule, FloorManual)
	c.id("Owner", fl.Owner, false)
	c.count("GPUs", fl.GPUs, MaxGPUs)
	c.id("Offering", fl.Offering, false)
	c.time("Start", fl.Start, true)
	c.time("Until", fl.Until, false)
	if !fl.Until.IsZero() && !fl.Start.IsZero() && !fl.Until.After(fl.Start) {
		c.bad("Until", fl.Until.UTC().Format(time.RFC3339Nano), "zero (no end) or after Start "+fl.Start.UTC().Format(time.RFC3339Nano))
	}
	c.time("CreatedAt", fl.CreatedAt, false)
	c.time("EndedAt", fl.EndedAt, false)
	c.id("IdempotencyKey", fl.IdempotencyKey, false)
	c.id("RequestDigest", fl.RequestDigest, false)
	fl.Reason = Truncate(fl.Reason, MaxTextLen)
	fl.EndReason = Truncate(fl.EndReason, MaxTextLen)
	return fl, c.err()
}

// SetFloorGPUsBounded checks the arguments of SetFloorGPUs and returns
// reason truncated.
func SetFloorGPUsBounded(id string, gpus int, reason string) (string, error) {
	c := checker{kind: "SetFloorGPUs"}
	c.id("id", id, true)
	c.count("gpus", gpus, MaxGPUs)
	return Truncate(reason, MaxTextLen), c.err()
}

// EndFloorBounded checks the arguments of EndFloor and returns reason
// truncated.
func EndFloorBounded(id string, at time.Time, reason string) (string, error) {
	c := checker{kind: "EndFloor"}
	c.id("id", id, true)
	c.time("at", at, true)
	return Truncate(reason, MaxTextLen), c.err()
}

// Bounded checks a decision for AddDecision and returns it with its summary
// truncated.
func (d Decision) Bounded() (Decision, error) {
	c := checker{kind: "Decision"}
	c.id("Pool", d.Pool, false)
	c.time("Time", d.Time, true)
	if len(d.Plan) > MaxPlanLen {
		c.bad("Plan", fmt.Sprintf("(%d bytes)", len(d.Plan)), fmt.Sprintf("at most %d bytes", MaxPlanLen))
	}
	d.Summary = Truncate(d.Summary, MaxTextLen)
	return d, c.err()
}

// Bounded checks a spend entry for RecordSpend.
func (e SpendEntry) Bounded() (SpendEntry, error) {
	c := checker{kind: "SpendEntry"}
	c.id("Pool", e.Pool, true)
	c.id("Provider", e.Provider, true)
	c.id("InstanceID", e.InstanceID, true)
	c.time("PeriodStart", e.PeriodStart, true)
	c.money("Amount", e.Amount)
	c.time("At", e.At, false)
	return e, c.err()
}

// Bounded checks an idle gap for AddIdleGaps.
func (g IdleGap) Bounded() (IdleGap, error) {
	c := checker{kind: "IdleGap"}
	c.offering(g.Pool, g.Provider, g.Region, g.Zone, g.InstanceType, g.Market)
	c.time("At", g.At, true)
	if g.Gap <= 0 && g.Gap != IdleGapNever {
		c.bad("Gap", g.Gap.String(), "a positive duration, or IdleGapNever (-1ns)")
	}
	return g, c.err()
}

// Bounded checks a hold for PutHold and returns it with its Reason
// truncated.
func (h Hold) Bounded() (Hold, error) {
	c := checker{kind: "Hold"}
	c.offering(h.Pool, h.Provider, h.Region, h.Zone, h.InstanceType, h.Market)
	c.lapse(h.At, h.Until)
	h.Reason = Truncate(h.Reason, MaxTextLen)
	return h, c.err()
}

// Bounded checks a sighting for NoteSighting.
func (g Sighting) Bounded() (Sighting, error) {
	c := checker{kind: "Sighting"}
	c.id("Provider", g.Provider, true)
	c.id("ID", g.ID, true)
	c.time("At", g.At, true)
	return g, c.err()
}

// Bounded checks an unavailable entry for PutUnavailable and returns it
// with its Why truncated. An offering names its instance type; a quota
// block its provider (and region); a provider's back-off nothing more.
func (u Unavailable) Bounded() (Unavailable, error) {
	c := checker{kind: "Unavailable"}
	c.oneOf("Kind", u.Kind, UnavailableOffering, UnavailableQuota, UnavailableThrottled, UnavailableInvalid)
	c.id("Provider", u.Provider, true)
	c.id("Region", u.Region, false)
	c.id("Zone", u.Zone, false)
	c.id("InstanceType", u.InstanceType, u.Kind == UnavailableOffering)
	c.id("Market", u.Market, false)
	if u.Kind != UnavailableOffering {
		for _, f := range []struct{ name, v string }{{"Zone", u.Zone}, {"InstanceType", u.InstanceType}, {"Market", u.Market}} {
			if f.v != "" {
				c.bad(f.name, quote(f.v), "empty for a kind other than "+UnavailableOffering)
			}
		}
	}
	if (u.Kind == UnavailableThrottled || u.Kind == UnavailableInvalid) && u.Region != "" {
		c.bad("Region", quote(u.Region), "empty for a provider's back-off ("+u.Kind+")")
	}
	c.lapse(u.At, u.Until)
	u.Why = Truncate(u.Why, MaxTextLen)
	return u, c.err()
}

// Bounded checks an audit entry for AddAudit and returns it with every
// string truncated: only a time that cannot be stored or a status outside
// 0..999 is refused.
func (e AuditEntry) Bounded() (AuditEntry, error) {
	c := checker{kind: "AuditEntry"}
	c.time("Time", e.Time, true)
	c.count("Status", e.Status, 999)
	e.Principal = Truncate(e.Principal, MaxIDLen)
	e.Role = Truncate(e.Role, MaxIDLen)
	e.Source = Truncate(e.Source, MaxIDLen)
	e.Action = Truncate(e.Action, MaxTextLen)
	e.Request = Truncate(e.Request, MaxRequestLen)
	e.Outcome = Truncate(e.Outcome, MaxTextLen)
	return e, c.err()
}

// BatchBounded checks the size of a batch of n rows of kind (e.g.
// "PutInstances") and returns a function that wraps the error of its i-th
// row so that the message names the index.
func BatchBounded(kind string, n int) (func(i int, err error) error, error) {
	if n > MaxBatch {
		return nil, &InvalidError{Field: kind, Value: fmt.Sprintf("(%d rows)", n), Want: fmt.Sprintf("at most %d rows a call", MaxBatch)}
	}
	return func(i int, err error) error { return fmt.Errorf("%s[%d]: %w", kind, i, err) }, nil
}

// CheckTime checks a time argument (a filter's, a period start): zero or
// storable.
func CheckTime(field string, t time.Time) error {
	c := checker{kind: "filter"}
	c.time(field, t, false)
	return c.err()
}

// PageLimit returns the number of rows a newest-first listing returns for
// limit: DefaultPageLimit for 0, at most MaxPageLimit. A negative limit is
// refused.
func PageLimit(field string, limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, &InvalidError{Field: field, Value: strconv.Itoa(limit), Want: fmt.Sprintf("0 (default %d) to %d", DefaultPageLimit, MaxPageLimit)}
	case limit == 0:
		return DefaultPageLimit, nil
	case limit > MaxPageLimit:
		return MaxPageLimit, nil
	}
	return limit, nil
}

// ListLimit checks the limit of a listing whose 0 means "no limit".
func ListLimit(field string, limit int) error {
	if limit < 0 {
		return &InvalidError{Field: field, Value: strconv.Itoa(limit), Want: "0 (no limit) or more"}
	}
	return nil
}

// MaxIdleGapsPerOffering bounds IdleGaps' perOffering.
const MaxIdleGapsPerOffering = 1000

// IdleGapsLimit checks IdleGaps' perOffering: 1 to MaxIdleGapsPerOffering.
func IdleGapsLimit(perOffering int) error {
	if perOffering < 1 || perOffering > MaxIdleGapsPerOffering {
		return &InvalidError{Field: "IdleGaps perOffering", Value: strconv.Itoa(perOffering), Want: fmt.Sprintf("1 to %d", MaxIdleGapsPerOffering)}
	}
	return nil
}

// IdleGapsBounded checks a batch for AddIdleGaps: its size and each gap
// (the error names the index of the first bad one).
func IdleGapsBounded(gs []IdleGap) ([]IdleGap, error) {
	wrap, err := BatchBounded("AddIdleGaps", len(gs))
	if err != nil {
		return nil, err
	}
	rows := make([]IdleGap, len(gs))
	for i, g := range gs {
		if rows[i], err = g.Bounded(); err != nil {
			return nil, wrap(i, err)
		}
	}
	return rows, nil
}
