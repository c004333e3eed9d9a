package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/state"
)

// pruneChunk is how many rows one pruning transaction deletes at most.
const pruneChunk = 1000

// Prune implements state.Store.
func (s *Store) Prune(ctx context.Context, before time.Time) (state.Pruned, error) {
	var p state.Pruned
	c := state.CheckTime("Prune before", before)
	if c == nil && before.IsZero() {
		c = &state.InvalidError{Field: "Prune before", Value: "0001-01-01T00:00:00Z (zero)", Want: "a time after 1970-01-01T00:00:00Z"}
	}
	if c != nil {
		return p, c
	}
	t := nanos(before)
	for _, step := range []struct {
		table, where string
		args         []any
		n            *int64
	}{
		{"decisions", "time < ?", []any{t}, &p.Decisions},
		{"audit", "time < ?", []any{t}, &p.Audit},
		{"intents", "status <> 'pending' AND max(created_at, updated_at) < ?", []any{t}, &p.Intents},
		{"instances", "state = 'ended' AND max(ended_at, updated_at) < ?", []any{t}, &p.Instances},
		{"floors", "((ended_at <> 0 AND ended_at < ?) OR (until <> 0 AND until < ?))", []any{t, t}, &p.Floors},
		{"idle_gaps", "at < ?", []any{t}, &p.IdleGaps},
		{"holds", "until < ?", []any{t}, &p.Holds},
		{"unavailable", "until < ?", []any{t}, &p.Unavailable},
		{"sightings", "at < ?", []any{t}, &p.Sightings},
		{"spend", "period_start < ?", []any{t - int64(state.LongestBudgetPeriod)}, &p.Spend},
	} {
		q := `DELETE FROM ` + step.table + ` WHERE rowid IN (SELECT rowid FROM ` + step.table + ` WHERE ` + step.where + ` LIMIT ?)`
		for {
			res, err := s.exec(ctx, q, append(step.args, pruneChunk)...)
			if err != nil {
				return p, fmt.Errorf("state/sqlite: prune %s before %s: %w", step.table, before.UTC().Format(time.RFC3339), err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return p, fmt.Errorf("state/sqlite: prune %s before %s: %w", step.table, before.UTC().Format(time.RFC3339), err)
			}
			*step.n += n
			if n < pruneChunk {
				break
			}
		}
	}
	return p, nil
}
