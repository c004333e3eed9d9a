package scheduler

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/spillway-io/spillway/state"
)

// While the state cannot be read (a database stopped or restarting, its
// connections cut, a table locked, SQLite busy or failing with an I/O
// error), a pool's ticks still stop spending: they go on from what the
// pool's ticks last read and kept since (recall), as they go on from
// memory while the state takes no writes (unwritten.go). From memory a tick
// may end, drain and terminate, never launch: no launch, and no resume of
// a pending intent, while a read of its tick failed. What a tick knows of
// the state is its own term's: a new leader term, or a restart, starts
// with nothing recalled, and its ticks fail until a read succeeds.
//
// Once a read of a tick fails, its other reads are not tried: each could
// take the whole call timeout (a locked table), and what they would read
// is recalled.

// recall is what a pool's ticks last read from the state, brought up to
// date with what they did since (guarded by the pool's mu).
type recall struct {
	// known: a tick of this term read everything below at least once.
	known bool
	// rows are the live instance rows as the last tick left them.
	rows map[string]state.Instance
	// pending are the pending intents as the last tick left them.
	pending map[string]state.Intent
	// open are the pool's open floors as last read.
	open []state.Floor
	// floors are the floor rows last read by id (a cancelled burst's).
	floors map[string]state.Floor
	// spend is the period whose ledger sum was last read or counted, that
	// sum, and the amount of each entry counted in it.
	period  int64
	sum     float64
	amounts map[spendKey]float64
}

// readFailed notes that a read of the state failed this tick and that the
// tick goes on from what it recalls; the first failure is what the
// decision, the status and the log say. It reports false, and notes
// nothing, when nothing is recalled (the tick fails, as it must).
func (t *tick) readFailed(what string, err error) bool {
	if !t.pr.mem.known {
		return false
	}
	if t.readErr == "" {
		t.readErr = t.failure(what, err)
	}
	return true
}

// unread reports whether the tick goes on from memory: a read of it failed.
func (t *tick) unread() bool { return t.readErr != "" }

// remember keeps what the tick leaves as what the next one recalls should
// its reads fail: the live rows and the pending intents.
func (t *tick) remember() {
	m := &t.pr.mem
	m.rows = make(map[string]state.Instance, len(t.rows))
	for id, r := range t.rows {
		m.rows[id] = *r
	}
	m.pending = maps.Clone(t.pending)
	if len(m.floors) == 0 {
		return
	}
	used := make(map[string]bool, len(m.rows)+len(m.pending))
	for _, r := range m.rows {
		used[r.Floor] = true
	}
	for _, in := range m.pending {
		used[in.Floor] = true
	}
	for id := range m.floors {
		if !used[id] {
			delete(m.floors, id) // read again should it be needed
		}
	}
}

// recalledRows are the live rows the last tick left, for a tick that
// cannot read them.
func (m *recall) recalledRows() []state.Instance {
	return slices.SortedFunc(maps.Values(m.rows), func(a, b state.Instance) int { return cmp.Compare(a.ID, b.ID) })
}

// recalledPending are the pending intents the last tick left, oldest
// first.
func (m *recall) recalledPending() []state.Intent {
	return slices.SortedFunc(maps.Values(m.pending), func(a, b state.Intent) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}

// amountsIn is the amount of each ledger entry of the period starting at
// start that this process knows: computed this tick (entries), not yet
// written (unspent), or last written (ledger).
func (pr *poolRun) amountsIn(start int64, entries []state.SpendEntry) map[spendKey]float64 {
	out := map[spendKey]float64{}
	add := func(k spendKey, a float64) {
		if k.period == start {
			out[k] = max(out[k], a)
		}
	}
	for _, e := range entries {
		add(keyOf(e), e.Amount)
	}
	for k, e := range pr.unspent {
		add(k, e.Amount)
	}
	for k, a := range pr.ledger {
		add(k, a)
	}
	return out
}

// spendRead keeps the ledger's sum of the period starting at start, as
// read (with what is not written yet), and the entries it counts.
func (pr *poolRun) spendRead(start int64, sum float64, entries []state.SpendEntry) {
	pr.mem.period, pr.mem.sum, pr.mem.amounts = start, sum, pr.amountsIn(start, entries)
}

// spendRecalled is the pool's spend in the period starting at start for a
// tick that cannot read the ledger: the sum last read plus what each entry
// grew by since; in a period begun since, every entry this process knows
// of it. Entries only grow, and an entry counted once stays counted (an
// instance ended since keeps its share), so the sum is never less than
// what this process spent.
func (pr *poolRun) spendRecalled(start int64, entries []state.SpendEntry) float64 {
	m := &pr.mem
	now := pr.amountsIn(start, entries)
	if m.period != start || m.amounts == nil {
		m.period, m.sum, m.amounts = start, 0, map[spendKey]float64{}
	}
	for k, a := range now {
		if a > m.amounts[k] {
			m.sum += a - m.amounts[k]
			m.amounts[k] = a
		}
	}
	return m.sum
}

// readNote is the decision's note while the state cannot be read.
func readNote(why string) string {
	return fmt.Sprintf("state not readable: %s; the tick went on from what it last read: instances are still drained and terminated, the budget counts the spend since, nothing is launched or resumed until the state can be read", why)
}
