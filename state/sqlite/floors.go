package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/state"
)

// CreateFloor implements state.Store.
func (s *Store) CreateFloor(ctx context.Context, fl state.Floor) error {
	fl, err := fl.Bounded()
	if err != nil {
		return err
	}
	// ON CONFLICT without a target: a taken ID and a taken key of the
	// owner (floors_by_idem_key) are both ErrExists.
	res, err := s.exec(ctx, `INSERT INTO floors
		(id, pool, kind, owner, reason, gpus, offering, start, until, created_at, ended_at, end_reason, idem_key, idem_digest)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		fl.ID, fl.Pool, fl.Kind, fl.Owner, fl.Reason, fl.GPUs, fl.Offering, nanos(fl.Start), nanos(fl.Until),
		nanos(fl.CreatedAt), nanos(fl.EndedAt), fl.EndReason, fl.IdempotencyKey, fl.RequestDigest)
	if err != nil {
		return fmt.Errorf("state/sqlite: create floor %q: %w", fl.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("state/sqlite: create floor %q: %w", fl.ID, err)
	} else if n == 0 {
		return fmt.Errorf("state/sqlite: create floor %q: %w", fl.ID, state.ErrExists)
	}
	return nil
}

// EndFloor implements state.Store.
func (s *Store) EndFloor(ctx context.Context, id string, at time.Time, reason string) error {
	reason, err := state.EndFloorBounded(id, at, reason)
	if err != nil {
		return err
	}
	return s.updateOpenFloor(ctx, "end floor", id, `UPDATE floors SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at = 0`,
		nanos(at), reason, id)
}

// SetFloorGPUs implements state.Store.
func (s *Store) SetFloorGPUs(ctx context.Context, id string, gpus int, reason string) error {
	reason, err := state.SetFloorGPUsBounded(id, gpus, reason)
	if err != nil {
		return err
	}
	return s.updateOpenFloor(ctx, "set gpus of floor", id, `UPDATE floors SET gpus = ?, reason = ? WHERE id = ? AND ended_at = 0`,
		gpus, reason, id)
}

// updateOpenFloor runs a conditional update of floor id (its query ends
// "AND ended_at = 0"): of concurrent calls only one finds the floor open.
// When it was not, a read tells an ended floor (state.ErrEnded) from none
// (state.ErrNotFound).
func (s *Store) updateOpenFloor(ctx context.Context, what, id, query string, args ...any) error {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("state/sqlite: %s %q: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("state/sqlite: %s %q: %w", what, id, err)
	}
	if n == 1 {
		return nil
	}
	var found int
	err = s.write.QueryRowContext(ctx, `SELECT 1 FROM floors WHERE id = ?`, id).Scan(&found)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("state/sqlite: %s %q: %w", what, id, state.ErrNotFound)
	case err != nil:
		return fmt.Errorf("state/sqlite: %s %q: %w", what, id, err)
	}
	return fmt.Errorf("state/sqlite: %s %q: %w", what, id, state.ErrEnded)
}

const floorColumns = `id, pool, kind, owner, reason, gpus, offering, start, until, created_at, ended_at, end_reason, idem_key, idem_digest`

// Floor implements state.Store.
func (s *Store) Floor(ctx context.Context, id string) (state.Floor, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+floorColumns+` FROM floors WHERE id = ?`, id)
	if err != nil {
		return state.Floor{}, fmt.Errorf("state/sqlite: floor %q: %w", id, err)
	}
	fls, err := scanFloors(rows)
	if err != nil {
		return state.Floor{}, fmt.Errorf("state/sqlite: floor %q: %w", id, err)
	}
	if len(fls) == 0 {
		return state.Floor{}, fmt.Errorf("state/sqlite: floor %q: %w", id, state.ErrNotFound)
	}
	return fls[0], nil
}

// FloorByKey implements state.Store.
func (s *Store) FloorByKey(ctx context.Context, owner, key string) (state.Floor, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+floorColumns+` FROM floors WHERE owner = ? AND idem_key = ? AND idem_key <> ''`, owner, key)
	if err != nil {
		return state.Floor{}, fmt.Errorf("state/sqlite: floor of %q with key %q: %w", owner, key, err)
	}
	fls, err := scanFloors(rows)
	if err != nil {
		return state.Floor{}, fmt.Errorf("state/sqlite: floor of %q with key %q: %w", owner, key, err)
	}
	if len(fls) == 0 {
		return state.Floor{}, fmt.Errorf("state/sqlite: floor of %q with key %q: %w", owner, key, state.ErrNotFound)
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
	var where []string
	var args []any
	if f.Pool != "" {
		where, args = append(where, "pool = ?"), append(args, f.Pool)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if f.Open {
		where = append(where, "ended_at = 0")
	}
	if !f.ActiveAt.IsZero() {
		t := nanos(f.ActiveAt)
		where = append(where, "start <= ?", "(until = 0 OR ? < until)", "(ended_at = 0 OR ended_at > ?)")
		args = append(args, t, t, t)
	}
	order := "start, id"
	if f.ByID {
		order = "id"
		if f.AfterID != "" {
			where, args = append(where, `id > ?`), append(args, f.AfterID)
		}
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+floorColumns+` FROM floors`+whereClause(where)+
		` ORDER BY `+order+` LIMIT ?`, append(args, sqlLimit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: list floors: %w", err)
	}
	fls, err := scanFloors(rows)
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: list floors: %w", err)
	}
	return fls, nil
}

func scanFloors(rows *sql.Rows) ([]state.Floor, error) {
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
