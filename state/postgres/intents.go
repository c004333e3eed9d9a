package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/state"
)

// CreateIntent implements state.Store. On a fenced store the epoch check
// and the insert are one transaction.
func (s *Store) CreateIntent(ctx context.Context, in state.Intent) error {
	in, err := in.Bounded()
	if err != nil {
		return err
	}
	ids, err := encodeIDs(in.InstanceIDs)
	if err != nil {
		return err
	}
	err = s.write(ctx, false, func(q querier) error {
		tag, err := q.Exec(ctx, `INSERT INTO intents
			(id, pool, provider, offering, count, floor, reason, client_token, epoch, params, status, error, instance_ids, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (id) DO NOTHING`,
			in.ID, in.Pool, in.Provider, in.Offering, in.Count, in.Floor, in.Reason, in.ClientToken, in.Epoch, in.Params,
			string(in.Status), in.Error, ids, nanos(in.CreatedAt), nanos(in.UpdatedAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return state.ErrExists
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state/postgres: create intent %q: %w", in.ID, err)
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
	err = s.write(ctx, false, func(q querier) error {
		tag, err := q.Exec(ctx, `UPDATE intents SET status = $1, error = $2, instance_ids = $3, updated_at = $4 WHERE id = $5`,
			string(status), errMsg, ids, nanos(at), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return state.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state/postgres: finish intent %q: %w", id, err)
	}
	return nil
}

// Intents implements state.Store.
func (s *Store) Intents(ctx context.Context, f state.IntentFilter) ([]state.Intent, error) {
	if err := state.ListLimit("IntentFilter.Limit", f.Limit); err != nil {
		return nil, err
	}
	var conds []string
	var args []any
	if f.Pool != "" {
		conds, args = append(conds, "pool = ?"), append(args, f.Pool)
	}
	if f.Status != "" {
		conds, args = append(conds, "status = ?"), append(args, string(f.Status))
	}
	q := `SELECT id, pool, provider, offering, count, floor, reason, client_token, epoch, params, status, error, instance_ids, created_at, updated_at
		FROM intents` + where(conds) + ` ORDER BY created_at, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.pool.Query(ctx, numbered(q), args...)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: list intents: %w", err)
	}
	defer rows.Close()
	var out []state.Intent
	for rows.Next() {
		var in state.Intent
		var status, ids string
		var created, updated int64
		if err := rows.Scan(&in.ID, &in.Pool, &in.Provider, &in.Offering, &in.Count, &in.Floor, &in.Reason, &in.ClientToken, &in.Epoch, &in.Params,
			&status, &in.Error, &ids, &created, &updated); err != nil {
			return nil, fmt.Errorf("state/postgres: list intents: %w", err)
		}
		in.Status = state.IntentStatus(status)
		in.CreatedAt, in.UpdatedAt = fromNanos(created), fromNanos(updated)
		if in.InstanceIDs, err = decodeIDs(ids); err != nil {
			return nil, fmt.Errorf("state/postgres: intent %q: instance ids: %w", in.ID, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/postgres: list intents: %w", err)
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
		return "", fmt.Errorf("state/postgres: encode instance ids: %w", err)
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
