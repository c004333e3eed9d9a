package postgres

import (
	"context"
	"fmt"
	"strconv"
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
		n            *int64
	}{
		{"decisions", "time < $1", &p.Decisions},
		{"audit", "time < $1", &p.Audit},
		{"intents", "status <> 'pending' AND GREATEST(created_at, updated_at) < $1", &p.Intents},
		{"instances", "state = 'ended' AND GREATEST(ended_at, updated_at) < $1", &p.Instances},
		{"floors", "((ended_at <> 0 AND ended_at < $1) OR (until <> 0 AND until < $1))", &p.Floors},
		{"idle_gaps", "at < $1", &p.IdleGaps},
		{"holds", "until < $1", &p.Holds},
		{"unavailable", "until < $1", &p.Unavailable},
		{"sightings", "at < $1", &p.Sightings},
		{"spend", "period_start < $1 - " + strconv.FormatInt(int64(state.LongestBudgetPeriod), 10), &p.Spend},
	} {
		q := `DELETE FROM ` + step.table + ` WHERE ctid IN (SELECT ctid FROM ` + step.table + ` WHERE ` + step.where + ` LIMIT $2)`
		for {
			var n int64
			err := s.write(ctx, false, func(qr querier) error {
				tag, err := qr.Exec(ctx, q, t, pruneChunk)
				n = tag.RowsAffected()
				return err
			})
			if err != nil {
				return p, fmt.Errorf("state/postgres: prune %s before %s: %w", step.table, before.UTC().Format(time.RFC3339), err)
			}
			*step.n += n
			if n < pruneChunk {
				break
			}
		}
	}
	return p, nil
}
