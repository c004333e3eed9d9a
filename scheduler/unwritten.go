package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/spillway-io/spillway/state"
)

// While the state takes no writes (a full disk, a read-only file, a
// database refusing writes), a pool's ticks still stop spending: they go
// on from memory. What could not be written is kept in the pool's run and
// written by the next tick that can: the instance rows (unwritten, laid
// over the rows read back at the next observe, so that a drain that could
// not be recorded is not started again, its hook run again, at every
// tick) and the spend ledger's entries (unspent, counted into the spend
// the policy sees, so that a hard budget holds). Launches stop by
// themselves: each first writes its intent.

// writeFailed notes that a write to the state failed this tick; the first
// failure is what the decision, the status and the log say.
func (t *tick) writeFailed(what string, err error) {
	if t.writeErr == "" {
		t.writeErr = t.failure(what, err)
	}
}

// kept reports whether a failed write is one the tick keeps in memory and
// goes on from: any failure but a value the store refuses (which would
// never be written, and is a bug to surface).
func kept(err error) bool { return err != nil && !errors.Is(err, state.ErrInvalid) }

// putRow writes row r. A write that fails is kept (unwritten) for the
// next tick's flush, and the error returned for the caller to record.
// Once a row's write failed in a tick, the tick's other rows are kept
// without trying: each try could take the call timeout (a locked table),
// and a tick that takes minutes ends instances minutes late.
func (s *Scheduler) putRow(ctx context.Context, t *tick, r *state.Instance) error {
	if t.rowErr != nil {
		t.keepRow(*r)
		return t.rowErr
	}
	if err := s.opts.Store.PutInstance(ctx, *r); err != nil {
		if kept(err) {
			t.keepRow(*r)
			t.writeFailed("recording instance "+r.ID, err)
			t.rowErr = err
		}
		return err
	}
	delete(t.pr.unwritten, r.ID)
	return nil
}

func (t *tick) keepRow(r state.Instance) {
	if t.pr.unwritten == nil {
		t.pr.unwritten = map[string]state.Instance{}
	}
	t.pr.unwritten[r.ID] = r
}

// overlayUnwritten lays the rows whose writes failed over the live rows
// read from the state: they are newer. An ended one leaves the live rows;
// flush writes them all again.
func (t *tick) overlayUnwritten() {
	for id, u := range t.pr.unwritten {
		if u.State == state.InstanceEnded {
			delete(t.rows, id)
			continue
		}
		t.rows[id] = &u
	}
}

// spendKey names one ledger entry.
type spendKey struct {
	provider, instance string
	period             int64 // PeriodStart, Unix nanoseconds
}

func keyOf(e state.SpendEntry) spendKey {
	return spendKey{e.Provider, e.InstanceID, e.PeriodStart.UnixNano()}
}

// recordSpends writes entries to the ledger together with those earlier
// writes left unwritten. When the write fails, all are kept (unspent) for
// the next try; the ledger keeps the larger amount of an entry, so writing
// one again, or late, is harmless. An entry the store refuses as invalid
// fails the tick, as before, at every tick until fixed.
func (s *Scheduler) recordSpends(ctx context.Context, t *tick, entries []state.SpendEntry) error {
	pr := t.pr
	pr.keepUnspent(entries)
	if len(pr.unspent) == 0 {
		return nil
	}
	all := slices.SortedFunc(maps.Values(pr.unspent), func(a, b state.SpendEntry) int {
		return cmp.Or(a.PeriodStart.Compare(b.PeriodStart), cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.InstanceID, b.InstanceID))
	})
	if err := s.opts.Store.RecordSpends(ctx, all); err != nil {
		if !kept(err) {
			return err // the entries stay counted: dropping them could under-count
		}
		t.writeFailed("recording spend", err)
		return nil
	}
	if pr.ledger == nil {
		pr.ledger = map[spendKey]float64{}
	}
	for k, e := range pr.unspent {
		pr.ledger[k] = max(pr.ledger[k], e.Amount)
	}
	clear(pr.unspent)
	return nil
}

// keepUnspent adds entries to those the next recordSpends writes, the
// larger amount of each kept.
func (pr *poolRun) keepUnspent(entries []state.SpendEntry) {
	for _, e := range entries {
		k := keyOf(e)
		if old, ok := pr.unspent[k]; ok && old.Amount > e.Amount {
			continue
		}
		if pr.unspent == nil {
			pr.unspent = map[spendKey]state.SpendEntry{}
		}
		pr.unspent[k] = e
	}
}

// unspentIn is what the entries of the period starting at start that are
// not written yet add to the ledger's sum: each one's amount less what
// this process last wrote of it. The ledger holds at least that much of
// it (it keeps the larger amount), so the sum plus this is never less than
// the truth. An entry this process never wrote (a restart while the state
// takes no writes) is counted whole: the pool's spend is over-counted by
// what the ledger held of it, the instance's cost up to its last write.
func (pr *poolRun) unspentIn(start int64) float64 {
	var add float64
	for k, e := range pr.unspent {
		if k.period == start {
			add += max(e.Amount-pr.ledger[k], 0)
		}
	}
	return add
}

// forgetLedger drops what this process wrote of entries it will not write
// again: those of instances no longer live, nor held after they vanished,
// and not waiting to be written.
func (pr *poolRun) forgetLedger(rows map[string]*state.Instance, held map[string]state.Instance) {
	for k := range pr.ledger {
		if _, live := rows[k.instance]; live {
			continue
		}
		if _, ok := held[k.instance]; ok {
			continue
		}
		if _, waiting := pr.unspent[k]; waiting {
			continue
		}
		delete(pr.ledger, k)
	}
}

// stateNote is the decision's note while the state takes no writes.
func stateNote(why string) string {
	return fmt.Sprintf("state not writable: %s; instances are still drained and terminated, from memory, nothing is launched (each launch first writes its intent), and what was not written is written when the state takes writes again", why)
}
