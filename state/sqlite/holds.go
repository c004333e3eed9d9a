package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/state"
)

// PutHold implements state.Store.
func (s *Store) PutHold(ctx context.Context, h state.Hold) error {
	h, err := h.Bounded()
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, putHoldSQL, h.Pool, h.Provider, h.Region, h.Zone, h.InstanceType, h.Market,
		nanos(h.At), nanos(h.Until), h.Reason); err != nil {
		return fmt.Errorf("state/sqlite: hold of %s/%s in pool %q: %w", h.Provider, h.InstanceType, h.Pool, err)
	}
	return nil
}

// putHoldSQL keeps the later until: a hold is only ever extended.
const putHoldSQL = `INSERT INTO holds (pool, provider, region, zone, instance_type, market, at, until, reason)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (pool, provider, region, zone, instance_type, market) DO UPDATE
	SET at = excluded.at, until = excluded.until, reason = excluded.reason
	WHERE excluded.until > holds.until`

// Holds implements state.Store.
func (s *Store) Holds(ctx context.Context, pool string, at time.Time) ([]state.Hold, error) {
	if err := state.CheckTime("Holds at", at); err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT provider, region, zone, instance_type, market, at, until, reason
		FROM holds WHERE pool = ? AND until > ? ORDER BY until, provider, region, zone, instance_type, market`, pool, nanos(at))
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: holds of pool %q: %w", pool, err)
	}
	defer rows.Close()
	var out []state.Hold
	for rows.Next() {
		h := state.Hold{Pool: pool}
		var from, until int64
		if err := rows.Scan(&h.Provider, &h.Region, &h.Zone, &h.InstanceType, &h.Market, &from, &until, &h.Reason); err != nil {
			return nil, fmt.Errorf("state/sqlite: holds of pool %q: %w", pool, err)
		}
		h.At, h.Until = fromNanos(from), fromNanos(until)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/sqlite: holds of pool %q: %w", pool, err)
	}
	return out, nil
}
