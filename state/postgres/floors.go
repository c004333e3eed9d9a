package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spillway-io/spillway/state"
)

// CreateFloor implements state.Store.
func (s *Store) CreateFloor(ctx context.Context, fl state.Floor) error {
	fl, err := fl.Bounded()
	if err != nil {
		return err
	}
	err = s.unfenced(ctx, func(q querier) error {
		// ON CONFLICT without a target: a taken ID and a taken key of
		// the owner (floors_by_idem_key) are both ErrExists.
		tag, err := q.Exec(ctx, `INSERT INTO floors
			(id, pool, kind, owner, reason, gpus, offering, start, until, created_at, ended_at, end_reason, idem_key, idem_digest)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`,
			fl.ID, fl.Pool, fl.Kind, fl.Owner, fl.Reason, fl.GPUs, fl.Offering, nanos(fl.Start), nanos(fl.Until),
			nanos(fl.CreatedAt), nanos(fl.EndedAt), fl.EndReason, fl.IdempotencyKey, fl.RequestDigest)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return state.ErrExists
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state/postgres: create floor %q: %w", fl.ID, err)
	}
	return nil
}

// EndFloor implements state.Store.
func (s *Store) EndFloor(ctx context.Context, id string, at time.Time, reason string) error {
	reason, err := state.EndFloorBounded(id, at, reason)
	if err != nil {
		return err
	}
	return s.updateOpenFloor(ctx, "end floor", id, `UPDATE floors SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at = 0`,
		nanos(at), reason, id)
}

// SetFloorGPUs implements state.Store.
func (s *Store) SetFloorGPUs(ctx context.Context, id string, gpus int, reason string) error {
	reason, err := state.SetFloorGPUsBounded(id, gpus, reason)
	if err != nil {
		return err
	}
	return s.updateOpenFloor(ctx, "set gpus of floor", id, `UPDATE floors SET gpus = $1, reason = $2 WHERE id = $3 AND ended_at = 0`,
		gpus, reason, id)
}

// updateOpenFloor runs a conditional update of floor id (its query ends
// "AND ended_at = 0"): of concurrent calls only one finds the floor open
// (the others wait for its row lock, then see it ended). When it was not,
// a read tells an ended floor (state.ErrEnded) from none
// (state.ErrNotFound).
func (s *Store) updateOpenFloor(ctx context.Context, what, id, query string, args ...any) error {
	err := s.unfenced(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var found int
		err = q.QueryRow(ctx, `SELECT 1 FROM floors WHERE id = $1`, id).Scan(&found)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return state.ErrNotFound
		case err != nil:
			return err
		}
		return state.ErrEnded
	})
	if err != nil {
		return fmt.Errorf("state/postgres: %s %q: %w", what, id, err)
	}
	return nil
}

const floorColumns = `id, pool, kind, owner, reason, gpus, offering, start, until, created_at, ended_at, end_reason, idem_key, idem_digest`

// Floor implements state.Store.
func (s *Store) Floor(ctx context.Context, id string) (state.Floor, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+floorColumns+` FROM floors WHERE id = $1`, id)
	if err != nil {
		return state.Floor{}, fmt.Errorf("state/postgres: floor %q: %w", id, err)
	}
	fls, err := scanFloors(rows)
	if err != nil {
		return state.Floor{}, fmt.Errorf("state/postgres: floor %q: %w", id, err)
	}
	if len(fls) == 0 {
		return state.Floor{}, fmt.Errorf("state/postgres: floor %q: %w", id, state.ErrNotFound)
	}
	return fls[0], nil
}

// FloorByKey implements state.Store.
func (s *Store) FloorByKey(ctx context.Context, owner, key string) (state.Floor, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+floorColumns+` FROM floors WHERE owner = $1 AND idem_key = $2 AND idem_key <> ''`, owner, key)
	if err != nil {
		return state.Floor{}, fmt.Errorf("state/postgres: floor of %q with key %q: %w", owner, key, err)
	}
	fls, err := scanFloors(rows)
	if err != nil {
		return state.Floor{}, fmt.Errorf("state/postgres: floor of %q with key %q: %w", owner, key, err)
	}
	if len(fls) == 0 {
		return state.Floor{}, fmt.Errorf("state/postgres: floor of %q with key %q: %w", owner, key, state.ErrNotFound)
	}
	return fls[0], nil
}

// Floors implements state.Store.
func (s *Store) Floors(ctx context.Context, f state.FloorFilter) ([]state.Floor, error) {
	if err := state.ListLimit("FloorFilter.Limit", f.Limit); err != nil {
		return nil, err
	}
	if err := state.CheckTime("FloorFilter.ActiveAt", f.ActiveAt); err != nil {
		return nil, err
	}
	var conds []string
	var args []any
	if f.Pool != "" {
		conds, args = append(conds, "pool = ?"), append(args, f.Pool)
	}
	if f.Kind != "" {
		conds, args = append(conds, "kind = ?"), append(args, f.Kind)
	}
	if f.Open {
		conds = append(conds, "ended_at = 0")
	}
	if !f.ActiveAt.IsZero() {
		t := nanos(f.ActiveAt)
		conds = append(conds, "start <= ?", "(until = 0 OR ? < until)", "(ended_at = 0 OR ended_at > ?)")
		args = append(args, t, t, t)
	}
	order := "start, id"
	if f.ByID {
		order = `id COLLATE "C"`
		if f.AfterID != "" {
			conds, args = append(conds, `id COLLATE "C" > ?`), append(args, f.AfterID)
		}
	}
	q := `SELECT ` + floorColumns + ` FROM floors` + where(conds) + ` ORDER BY ` + order
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.pool.Query(ctx, numbered(q), args...)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: list floors: %w", err)
	}
	fls, err := scanFloors(rows)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: list floors: %w", err)
	}
	return fls, nil
}

func scanFloors(rows pgx.Rows) ([]state.Floor, error) {
	defer rows.Close()
	var out []state.Floor
	for rows.Next() {
		var fl state.Floor
		var start, until, created, ended int64
		if err := rows.Scan(&fl.ID, &fl.Pool, &fl.Kind, &fl.Owner, &fl.Reason, &fl.GPUs, &fl.Offering,
			&start, &until, &created, &ended, &fl.EndReason, &fl.IdempotencyKey, &fl.RequestDigest); err != nil {
			return nil, err
		}
		fl.Start, fl.Until, fl.CreatedAt, fl.EndedAt = fromNanos(start), fromNanos(until), fromNanos(created), fromNanos(ended)
		out = append(out, fl)
	}
	return out, rows.Err()
}
