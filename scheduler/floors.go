package scheduler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
)

// scheduleFloorPrefix starts the deterministic id of a schedule's firing:
// "schedule/POOL/NAME/UNTIL" (UNTIL in Unix seconds), so every server and
// every restart names a firing the same.
const scheduleFloorPrefix = "schedule/"

func scheduleFloorID(pool, name string, until time.Time) string {
	return scheduleFloorPrefix + pool + "/" + name + "/" + strconv.FormatInt(until.Unix(), 10)
}

// scheduleName returns the schedule name of a schedule floor id.
func scheduleName(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, scheduleFloorPrefix)
	if !ok {
		return "", false
	}
	i, j := strings.IndexByte(rest, '/'), strings.LastIndexByte(rest, '/')
	if i < 0 || j <= i {
		return "", false
	}
	return rest[i+1 : j], true
}

// floors returns the pool's active floors: the schedules' current firings
// (recorded as rows, so the API shows them and they survive restarts) and
// the open manual bursts. Floors whose end passed are closed on time.
func (s *Scheduler) floors(ctx context.Context, t *tick) ([]policy.Floor, error) {
	pool := &t.pr.spec.Policy
	t.scheduleIDs = map[string]string{}
	out := policy.ScheduleFloors(*pool, t.now)
	opened := map[string]time.Time{}
	var stale []state.Floor // open schedule firings, read when a firing is new
	for i := range out {
		f := &out[i]
		id := scheduleFloorID(pool.Name, f.Owner, f.Until)
		t.scheduleIDs[f.Owner] = id
		start := f.Until.Add(-scheduleDuration(pool, f.Owner))
		at, known := t.pr.opened[id]
		var stored *state.Floor // the firing's row, when read here
		if !known && !s.opts.DryRun && !t.unread() {
			// A firing recorded before (an earlier tick, or a server
			// before a restart) was opened when its row was written; one
			// not read here is read again at the next tick.
			if fl, err := s.opts.Store.Floor(ctx, id); err == nil {
				at, known, stored = fl.CreatedAt, true, &fl
			}
		}
		if !known {
			at = t.now
			// A firing of this schedule still open under another id (the
			// config changed its duration or cron since, and the loop
			// below ends it) opened this window first.
			if !s.opts.DryRun && !t.unread() {
				if stale == nil {
					stale, _ = s.opts.Store.Floors(ctx, state.FloorFilter{Pool: pool.Name, Kind: state.FloorSchedule, Open: true})
				}
				for _, fl := range stale {
					if sameWindow(pool, fl, f.Owner, start, f.Until) && t.now.Before(fl.Until) && fl.CreatedAt.Before(at) {
						at = fl.CreatedAt
					}
				}
			}
		}
		opened[id] = at
		if late := at.Sub(start); late > pool.Interval.D()+time.Minute {
			f.Reason += fmt.Sprintf("; opened late, at %s, %s after it fired at %s: no server opened it then (none ran or led the pool, or only with --dry-run)",
				at.UTC().Format("15:04 MST"), strings.TrimSuffix(late.Round(time.Minute).String(), "0s"), start.UTC().Format("15:04 MST"))
		}
		if s.opts.DryRun {
			continue
		}
		err := s.opts.Store.CreateFloor(ctx, state.Floor{
			ID: id, Pool: pool.Name, Kind: state.FloorSchedule, Owner: f.Owner, Reason: f.Reason,
			GPUs: f.GPUs, Start: start, Until: f.Until, CreatedAt: t.now,
		})
		if kept(err) && !errors.Is(err, state.ErrExists) {
			// The firing holds all the same; the next tick records it.
			t.writeFailed("recording floor "+id, err)
		} else if err != nil && !errors.Is(err, state.ErrExists) {
			return nil, fmt.Errorf("record floor %s: %w", id, err)
		}
		if errors.Is(err, state.ErrExists) && stored != nil && stored.EndedAt.IsZero() && stored.GPUs != f.GPUs {
			// The schedule's gpus changed in the config during the
			// firing (with a restart): its id is the same, so its row
			// takes the GPUs it holds now, or the followers' page and the
			// floors' history would show the old number to its end.
			again, err := s.setFiringGPUs(ctx, t, id, stored.GPUs, f)
			if err != nil {
				return nil, err
			}
			if again {
				delete(opened, id) // read, and resized, at the next tick
			}
		}
	}
	t.pr.opened = opened
	var open []state.Floor
	if !t.unread() {
		var err error
		open, err = s.opts.Store.Floors(ctx, state.FloorFilter{Pool: pool.Name, Open: true})
		switch {
		case err == nil:
			t.pr.mem.open = open
		case !t.readFailed("reading the floors of pool "+pool.Name, err):
			return nil, fmt.Errorf("floors of pool %s: %w", pool.Name, err)
		}
	}
	if t.unread() {
		// As last read: one past its end holds no more (below); a burst
		// opened or cancelled since is not known until the state can be
		// read.
		open = slices.Clone(t.pr.mem.open)
	}
	current := map[string]bool{}
	for _, id := range t.scheduleIDs {
		current[id] = true
	}
	for _, fl := range open {
		if fl.Kind == state.FloorSchedule && !current[fl.ID] && t.now.Before(fl.Until) {
			// A firing the config no longer has (the schedule was removed,
			// or its cron, duration or name changed, and the server
			// restarted): it holds nothing now, so its row ends now and
			// says why, rather than stay open on the page to its old end.
			if s.opts.DryRun {
				continue
			}
			why := staleFiringReason(pool, fl, out)
			err := s.opts.Store.EndFloor(ctx, fl.ID, t.now, why)
			switch {
			case errors.Is(err, state.ErrEnded):
			case kept(err):
				t.writeFailed("ending floor "+fl.ID, err)
			case err != nil:
				return nil, fmt.Errorf("end floor %s: %w", fl.ID, err)
			default:
				s.log.Info("floor ended", "pool", pool.Name, "floor", fl.ID, "at", t.now, "reason", why)
			}
			continue
		}
		if !fl.Until.IsZero() && !t.now.Before(fl.Until) {
			if s.opts.DryRun {
				continue
			}
			err := s.opts.Store.EndFloor(ctx, fl.ID, fl.Until, "ended on time")
			if errors.Is(err, state.ErrEnded) {
				continue // cancelled since it was listed
			}
			if kept(err) {
				// Past its end all the same; the next tick records it.
				t.writeFailed("ending floor "+fl.ID, err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("end floor %s: %w", fl.ID, err)
			}
			s.log.Info("floor ended", "pool", pool.Name, "floor", fl.ID, "at", fl.Until)
			continue
		}
		// A manual burst holds from when it was opened, whatever the
		// clock of the server that opened it read (its Start): a burst
		// opened through a server whose clock runs ahead of this one's
		// would otherwise wait for this clock to catch up.
		if fl.Kind != state.FloorManual {
			continue
		}
		out = append(out, manualFloor(fl))
	}
	return out, nil
}

// setFiringGPUs records that the firing id, stored with was GPUs, holds
// f.GPUs now; again says to try at the next tick (the write was refused).
func (s *Scheduler) setFiringGPUs(ctx context.Context, t *tick, id string, was int, f *policy.Floor) (again bool, err error) {
	err = s.opts.Store.SetFloorGPUs(ctx, id, f.GPUs, f.Reason)
	switch {
	case err == nil:
		s.log.Info("floor resized", "pool", t.pr.spec.Policy.Name, "floor", id, "gpus", f.GPUs, "was", was)
	case errors.Is(err, state.ErrEnded), errors.Is(err, state.ErrNotFound):
		// Ended (or pruned) since it was read: nothing holds to show.
	case kept(err):
		t.writeFailed("resizing floor "+id, err)
		return true, nil
	default:
		return false, fmt.Errorf("resize floor %s: %w", id, err)
	}
	return false, nil
}

// manualFloor is a manual burst's floor as the policy knows it: by the
// burst's ID.
func manualFloor(fl state.Floor) policy.Floor {
	return policy.Floor{
		Kind: policy.FloorManual, Owner: fl.ID, GPUs: fl.GPUs, Until: fl.Until, Offering: fl.Offering,
		Reason: fmt.Sprintf("manual burst %s by %s: %s", fl.ID, fl.Owner, fl.Reason),
	}
}

// Holder is the floor that holds an instance.
type Holder struct {
	// Floor is the floor's id; Owner the schedule's name, or the principal
	// who opened the manual burst ("" when its row is gone).
	Floor string
	Owner string
	// Burst is the manual burst's id; "" for a schedule's floor.
	Burst string
}

// Holders says which floor holds each of rows (live instances, of any
// pool) at now, as the pools' ticks count floors: an active floor holds
// the instances launched for it and those of no active floor it keeps
// (policy.FloorHolds), so that a manual burst that found capacity launched
// for queue demand shows it as its own. One no active floor holds is held
// by the floor it was launched for, if any (a cancelled burst's draining
// instances); one held by none is absent. A cancelled burst's instances
// that the next tick drains (drainCancelled, before the policy counts
// what floors hold) are kept by no other floor.
func (s *Scheduler) Holders(ctx context.Context, rows []state.Instance, now time.Time) (map[string]Holder, error) {
	byPool := map[string][]*state.Instance{}
	for i := range rows {
		byPool[rows[i].Pool] = append(byPool[rows[i].Pool], &rows[i])
	}
	out := map[string]Holder{}
	floorRows := map[string]state.Floor{} // manual floor id → its row (zero when gone), read once
	floorRow := func(id string) (state.Floor, error) {
		if fl, ok := floorRows[id]; ok {
			return fl, nil
		}
		fl, err := s.opts.Store.Floor(ctx, id)
		if errors.Is(err, state.ErrNotFound) {
			fl, err = state.Floor{}, nil
		}
		if err != nil {
			return state.Floor{}, fmt.Errorf("floor %s: %w", id, err)
		}
		floorRows[id] = fl
		return fl, nil
	}
	for _, pool := range slices.Sorted(maps.Keys(byPool)) {
		rs := byPool[pool]
		if pr, ok := s.pools[pool]; ok { // a pool gone from the config has no floors
			floors, held, err := s.activeFloors(ctx, pr, now)
			if err != nil {
				return nil, err
			}
			ins := make([]policy.Instance, 0, len(rs))
			for _, r := range rs {
				in, ok := s.policyInstance(pr, r)
				if !ok {
					continue
				}
				if _, active := held[in.Floor]; !active && cancelDrains(r) {
					fl, err := floorRow(r.Floor)
					if err != nil {
						return nil, err
					}
					if cancelled(fl) {
						continue
					}
				}
				ins = append(ins, in)
			}
			for id, owner := range policy.FloorHolds(floors, ins, now) {
				out[id] = held[owner]
			}
		}
		for _, r := range rs {
			if _, ok := out[r.ID]; ok || r.Floor == "" {
				continue
			}
			if name, ok := scheduleName(r.Floor); ok {
				out[r.ID] = Holder{Floor: r.Floor, Owner: name}
				continue
			}
			fl, err := floorRow(r.Floor)
			if err != nil {
				return nil, err
			}
			out[r.ID] = Holder{Floor: r.Floor, Owner: fl.Owner, Burst: r.Floor}
		}
	}
	return out, nil
}

// activeFloors reads pool pr's floors active at now in the order its tick
// gives them to the policy (floors), without recording or ending any, and
// each one's holder by the owner the policy knows it by.
func (s *Scheduler) activeFloors(ctx context.Context, pr *poolRun, now time.Time) ([]policy.Floor, map[string]Holder, error) {
	pool := &pr.spec.Policy
	out := policy.ScheduleFloors(*pool, now)
	held := map[string]Holder{}
	for _, f := range out {
		held[f.Owner] = Holder{Floor: scheduleFloorID(pool.Name, f.Owner, f.Until), Owner: f.Owner}
	}
	manual, err := s.opts.Store.Floors(ctx, state.FloorFilter{Pool: pool.Name, Kind: state.FloorManual, Open: true})
	if err != nil {
		return nil, nil, fmt.Errorf("floors of pool %s: %w", pool.Name, err)
	}
	for _, fl := range manual {
		if !fl.Until.IsZero() && !now.Before(fl.Until) {
			continue // past its end: the next tick ends it (floors)
		}
		out = append(out, manualFloor(fl))
		held[fl.ID] = Holder{Floor: fl.ID, Owner: fl.Owner, Burst: fl.ID}
	}
	return out, held, nil
}

// staleFiringReason says why schedule firing fl, open in the state, is
// not one of pool's current firings (current: the floors the schedules
// hold now).
func staleFiringReason(pool *policy.Pool, fl state.Floor, current []policy.Floor) string {
	name, _ := scheduleName(fl.ID)
	for i, sc := range pool.Schedules {
		if sc.Name == name || (sc.Name == "" && name == fmt.Sprintf("schedule[%d]", i)) {
			if next, ok := nextFiring(sc, name, fl.Until, current); ok {
				d := sc.Duration.D()
				return fmt.Sprintf("ended early: schedule %q fired again at %s, before this firing's end, and its new firing holds its %d GPUs until %s: a schedule's own firings do not add up",
					name, next.Add(-d).UTC().Format("15:04 MST"), sc.GPUs, next.UTC().Format("Mon 2 Jan 15:04 MST"))
			}
			return fmt.Sprintf("ended early: schedule %q changed in the config (now %q for %s), and this firing is not one of its firings", name, sc.Cron, sc.Duration.D())
		}
	}
	return fmt.Sprintf("ended early: schedule %q is no longer in the config of pool %s", name, pool.Name)
}

// nextFiring returns the end of schedule sc's current firing (among
// current, by name) when the firing that ends at until is an earlier one
// of sc as the config has it now: sc fired again before that one ended (a
// duration longer than the time between its firings).
func nextFiring(sc policy.Schedule, name string, until time.Time, current []policy.Floor) (time.Time, bool) {
	i := slices.IndexFunc(current, func(f policy.Floor) bool { return f.Kind == policy.FloorSchedule && f.Owner == name })
	if i < 0 || !until.Before(current[i].Until) {
		return time.Time{}, false
	}
	then := policy.ScheduleFloorsWithoutReasons(policy.Pool{Schedules: []policy.Schedule{sc}}, until.Add(-sc.Duration.D()))
	if len(then) != 1 || !then[0].Until.Equal(until) {
		return time.Time{}, false
	}
	return current[i].Until, true
}

// sameWindow reports whether open firing fl opened the window of the
// firing of schedule name from start to until first: it is a firing of
// that schedule, or, when the config no longer has fl's schedule (renamed
// since), one of the very same window.
func sameWindow(pool *policy.Pool, fl state.Floor, name string, start, until time.Time) bool {
	was, _ := scheduleName(fl.ID)
	if was == name {
		return true
	}
	if scheduleDuration(pool, was) > 0 {
		return false // still a schedule of its own
	}
	return fl.Start.Equal(start) && fl.Until.Equal(until)
}

func scheduleDuration(pool *policy.Pool, name string) time.Duration {
	for i, sc := range pool.Schedules {
		if sc.Name == name || (sc.Name == "" && name == fmt.Sprintf("schedule[%d]", i)) {
			return sc.Duration.D()
		}
	}
	return 0
}

// cancelDrains reports whether drainCancelled drains row r when the
// manual burst it was launched for is cancelled.
func cancelDrains(r *state.Instance) bool {
	if r.Floor == "" || strings.HasPrefix(r.Floor, scheduleFloorPrefix) {
		return false
	}
	return r.State == state.InstanceBooting || r.State == state.InstanceRunning
}

// cancelled reports whether floor row fl is a cancelled one.
func cancelled(fl state.Floor) bool {
	return !fl.EndedAt.IsZero() && strings.HasPrefix(fl.EndReason, cancelledPrefix)
}

// drainCancelled drains the instances of manual bursts that were cancelled:
// their work finishes, then the policy terminates them.
func (s *Scheduler) drainCancelled(ctx context.Context, t *tick) error {
	cache := map[string]state.Floor{}
	for _, r := range sortedRows(t.rows) {
		if !cancelDrains(r) {
			continue
		}
		fl, ok := cache[r.Floor]
		if !ok {
			var err error
			fl, _, err = s.floorRow(ctx, t, r.Floor)
			if err != nil {
				return err
			}
			cache[r.Floor] = fl
		}
		if !cancelled(fl) {
			continue
		}
		s.drain(ctx, t, r, fmt.Sprintf("manual burst %s %s", fl.ID, fl.EndReason))
	}
	return nil
}

// floorRow reads the floor row of id (found false when there is none);
// a tick that cannot read the state gets the row as it last read it, and
// none (found false) for a floor it never read.
func (s *Scheduler) floorRow(ctx context.Context, t *tick, id string) (fl state.Floor, found bool, err error) {
	if !t.unread() {
		fl, err := s.opts.Store.Floor(ctx, id)
		switch {
		case errors.Is(err, state.ErrNotFound):
			delete(t.pr.mem.floors, id)
			return state.Floor{}, false, nil
		case err == nil:
			if t.pr.mem.floors == nil {
				t.pr.mem.floors = map[string]state.Floor{}
			}
			t.pr.mem.floors[id] = fl
			return fl, true, nil
		case !t.readFailed("reading floor "+id, err):
			return state.Floor{}, false, fmt.Errorf("floor %s: %w", id, err)
		}
	}
	fl, found = t.pr.mem.floors[id]
	return fl, found, nil
}

// PendingGPUs counts, by floor id, the GPUs that the pending launch
// intents written for floors may still launch at now, as the pools' ticks
// count them (pendingInstances): each intent's instances less those
// recorded under it among rows (live instances, of any pool), of an
// offering its pool's config has, until the intent is abandoned. Between
// an intent's commit and the record of its instances (a launch in flight,
// or one that failed transiently and waits to be resumed) a burst holds
// these GPUs and no instance.
func (s *Scheduler) PendingGPUs(ctx context.Context, rows []state.Instance, now time.Time) (map[string]int, error) {
	recorded := map[string]int{}
	for _, r := range rows {
		if r.IntentID != "" {
			recorded[r.IntentID]++
		}
	}
	out := map[string]int{}
	for _, name := range s.order {
		pending, err := s.opts.Store.Intents(ctx, state.IntentFilter{Pool: name, Status: state.IntentPending})
		if err != nil {
			return nil, fmt.Errorf("pending intents of pool %s: %w", name, err)
		}
		for _, in := range pending {
			o, ok := s.pools[name].offs[in.Offering]
			if !ok || in.Floor == "" || now.Sub(in.CreatedAt) > intentMaxAge {
				continue
			}
			if n := in.Count - recorded[in.ID]; n > 0 {
				out[in.Floor] += n * o.GPUs
			}
		}
	}
	return out, nil
}

const cancelledPrefix = "cancelled"

// BurstRequest asks for a manual burst: a floor of GPUs for a while.
type BurstRequest struct {
	Pool      string
	GPUs      int
	For       time.Duration
	Reason    string
	Offering  string // optional: pin to one offering name
	Principal string // who asks
	// ManualChecked says the caller has applied the pool's manual limits
	// as far as Principal is bound by them (the API: an operator is, an
	// admin is not), so CreateBurst does not apply them again.
	ManualChecked bool
	// IdempotencyKey, when set, is stored on the burst with RequestDigest:
	// a second burst of Principal with that key is refused with an error
	// wrapping state.ErrExists (state.Store.CreateFloor), and
	// state.Store.FloorByKey finds the first.
	IdempotencyKey string
	RequestDigest  string
}

// LimitError refuses a manual burst beyond the pool's manual limits.
type LimitError struct {
	Pool  string
	Limit string // the config field, e.g. "manual.max_gpus"
	Max   string
	Asked string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("pool %s allows at most %s (%s); asked for %s", e.Pool, e.Max, e.Limit, e.Asked)
}

// RequestError is a manual burst request that cannot be valid.
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

// ErrUnknownPool and ErrUnknownBurst: what was named does not exist.
// ErrBurstEnded: the burst had ended already (cancelled, or its time ran
// out).
var (
	ErrUnknownPool  = errors.New("no such pool")
	ErrUnknownBurst = errors.New("no such burst")
	ErrBurstEnded   = errors.New("burst already ended")
)

// CreateBurst opens a manual floor after checking the pool's manual limits
// (unless req.ManualChecked).
// The burst's instances launch at the pool's next tick.
func (s *Scheduler) CreateBurst(ctx context.Context, req BurstRequest) (state.Floor, error) {
	pr, ok := s.pools[req.Pool]
	if !ok {
		return state.Floor{}, fmt.Errorf("pool %q: %w (pools: %s)", req.Pool, ErrUnknownPool, strings.Join(s.order, ", "))
	}
	m := pr.spec.Policy.Manual
	switch {
	case req.GPUs <= 0:
		return state.Floor{}, &RequestError{fmt.Sprintf("gpus %d: want 1 or more", req.GPUs)}
	case req.For <= 0:
		return state.Floor{}, &RequestError{fmt.Sprintf("for %s: want a duration greater than 0, e.g. 2h", req.For)}
	case strings.TrimSpace(req.Reason) == "":
		return state.Floor{}, &RequestError{"reason is empty: say why the burst is needed (it is shown with every decision it causes)"}
	case req.ManualChecked:
		// The limits below are the caller's to apply.
	case m.MaxGPUs <= 0:
		return state.Floor{}, &LimitError{Pool: req.Pool, Limit: "manual.max_gpus", Max: "0 GPUs (manual bursts are off)", Asked: strconv.Itoa(req.GPUs) + " GPUs"}
	case req.GPUs > m.MaxGPUs:
		return state.Floor{}, &LimitError{Pool: req.Pool, Limit: "manual.max_gpus", Max: strconv.Itoa(m.MaxGPUs) + " GPUs", Asked: strconv.Itoa(req.GPUs) + " GPUs"}
	case m.MaxTTL > 0 && req.For > m.MaxTTL.D():
		return state.Floor{}, &LimitError{Pool: req.Pool, Limit: "manual.max_ttl", Max: m.MaxTTL.D().String(), Asked: req.For.String()}
	}
	if req.Offering != "" {
		if _, ok := pr.offs[req.Offering]; !ok {
			return state.Floor{}, &RequestError{fmt.Sprintf("offering %q is not one of pool %s's offerings: %s", req.Offering, req.Pool, strings.Join(slices.Sorted(maps.Keys(pr.offs)), ", "))}
		}
	}
	now := s.clock.Now()
	fl := state.Floor{
		ID: "b-" + s.newIntentID(now), Pool: req.Pool, Kind: state.FloorManual, Owner: req.Principal, Reason: req.Reason,
		GPUs: req.GPUs, Offering: req.Offering, Start: now, Until: now.Add(req.For), CreatedAt: now,
		IdempotencyKey: req.IdempotencyKey, RequestDigest: req.RequestDigest,
	}
	if err := s.opts.Store.CreateFloor(ctx, fl); err != nil {
		return state.Floor{}, fmt.Errorf("record burst: %w", err)
	}
	s.log.Info("manual burst opened", "pool", req.Pool, "burst", fl.ID, "gpus", fl.GPUs, "until", fl.Until, "by", req.Principal, "reason", req.Reason)
	return fl, nil
}

// CancelBurst ends a manual burst now; its instances are drained, then
// terminated. Of several callers cancelling one burst at once, one ends
// it; the others, and any caller after it ended, get the ended burst and an
// error wrapping ErrBurstEnded.
func (s *Scheduler) CancelBurst(ctx context.Context, id, principal string) (state.Floor, error) {
	fl, err := s.opts.Store.Floor(ctx, id)
	if errors.Is(err, state.ErrNotFound) || (err == nil && fl.Kind != state.FloorManual) {
		return state.Floor{}, fmt.Errorf("burst %q: %w", id, ErrUnknownBurst)
	}
	if err != nil {
		return state.Floor{}, err
	}
	if !fl.EndedAt.IsZero() {
		return fl, fmt.Errorf("burst %s: %w", id, ErrBurstEnded)
	}
	now := s.clock.Now()
	err = s.opts.Store.EndFloor(ctx, id, now, cancelledPrefix+" by "+principal)
	if errors.Is(err, state.ErrEnded) { // another caller ended it since the read
		if fl, err = s.opts.Store.Floor(ctx, id); err != nil {
			return state.Floor{}, err
		}
		return fl, fmt.Errorf("burst %s: %w", id, ErrBurstEnded)
	}
	if err != nil {
		return state.Floor{}, fmt.Errorf("end burst %s: %w", id, err)
	}
	s.log.Info("manual burst cancelled", "burst", id, "by", principal)
	return s.opts.Store.Floor(ctx, id)
}
