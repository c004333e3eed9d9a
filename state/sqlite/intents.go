package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spillway-io/spillway/state"
)

// CreateIntent implements state.Store.
func (s *Store) CreateIntent(ctx context.Context, in state.Intent) error {
	in, err := in.Bounded()
	if err != nil {
		return err
	}
	ids, err := encodeIDs(in.InstanceIDs)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, `INSERT INTO intents
		(id, pool, provider, offering, count, floor, reason, client_token, epoch, params, status, error, instance_ids, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		in.ID, in.Pool, in.Provider, in.Offering, in.Count, in.Floor, in.Reason, in.ClientToken, in.Epoch, in.Params,
		string(in.Status), in.Error, ids, nanos(in.CreatedAt), nanos(in.UpdatedAt))
	if err != nil {
		return fmt.Errorf("state/sqlite: create intent %q: %w", in.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("state/sqlite: create intent %q: %w", in.ID, err)
	} else if n == 0 {
		return fmt.Errorf("state/sqlite: create intent %q: %w", in.ID, state.ErrExists)
	}
	return nil
}

// FinishIntent implements state.Store.
func (s *Store) FinishIntent(ctx context.Context, id string, status state.IntentStatus, instanceIDs []string, errMsg string, at time.Time) error {
	errMsg, err := state.FinishBounded(id, status, instanceIDs, errMsg, at)
	if err != nil {
		return err
	}
	ids, err := encodeIDs(instanceIDs)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, `UPDATE intents SET status = ?, error = ?, instance_ids = ?, updated_at = ? WHERE id = ?`,
		string(status), errMsg, ids, nanos(at), id)
	if err != nil {
		return fmt.Errorf("state/sqlite: finish intent %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("state/sqlite: finish intent %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("state/sqlite: finish intent %q: %w", id, state.ErrNotFound)
	}
	return nil
}

// Intents implements state.Store.
func (s *Store) Intents(ctx context.Context, f state.IntentFilter) ([]state.Intent, error) {
	if err := state.ListLimit("IntentFilter.Limit", f.Limit); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if f.Pool != "" {
		where, args = append(where, "pool = ?"), append(args, f.Pool)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	q := `SELECT id, pool, provider, offering, count, floor, reason, client_token, epoch, params, status, error, instance_ids, created_at, updated_at
		FROM intents` + whereClause(where) + ` ORDER BY created_at, id LIMIT ?`
	args = append(args, sqlLimit(f.Limit))
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: list intents: %w", err)
	}
	defer rows.Close()
	var out []state.Intent
	for rows.Next() {
		var in state.Intent
		var status, ids string
		var created, updated int64
		if err := rows.Scan(&in.ID, &in.Pool, &in.Provider, &in.Offering, &in.Count, &in.Floor, &in.Reason, &in.ClientToken, &in.Epoch, &in.Params,
			&status, &in.Error, &ids, &created, &updated); err != nil {
			return nil, fmt.Errorf("state/sqlite: list intents: %w", err)
		}
		in.Status = state.IntentStatus(status)
		in.CreatedAt, in.UpdatedAt = fromNanos(created), fromNanos(updated)
		if in.InstanceIDs, err = decodeIDs(ids); err != nil {
			return nil, fmt.Errorf("state/sqlite: intent %q: instance ids: %w", in.ID, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/sqlite: list intents: %w", err)
	}
	return out, nil
}

// encodeIDs stores a list of ids as a JSON array.
func encodeIDs(ids []string) (string, error) {
	if len(ids) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return "", fmt.Errorf("state/sqlite: encode instance ids: %w", err)
	}
	return string(b), nil
}

// decodeIDs reverses encodeIDs; an empty list reads as nil.
func decodeIDs(s string) ([]string, error) {
	var ids []string
	if err := json.Unmarshal([]byte(s), &ids); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// sqlLimit turns "0: no limit" into SQLite's LIMIT -1.
func sqlLimit(limit int) int {
	if limit == 0 {
		return -1
	}
	return limit
}
