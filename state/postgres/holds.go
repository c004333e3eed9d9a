package postgres

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
	err = s.write(ctx, false, func(q querier) error {
		_, err := q.Exec(ctx, putHoldSQL, h.Pool, h.Provider, h.Region, h.Zone, h.InstanceType, h.Market, nanos(h.At), nanos(h.Until), h.Reason)
		return err
	})
	if err != nil {
		return fmt.Errorf("state/postgres: hold of %s/%s in pool %q: %w", h.Provider, h.InstanceType, h.Pool, err)
	}
	return nil
}

// putHoldSQL keeps the later until: a hold is only ever extended.
const putHoldSQL = `INSERT INTO holds (pool, provider, region, zone, instance_type, market, at, until, reason)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT (pool, provider, region, zone, instance_type, market) DO UPDATE
	SET at = excluded.at, until = excluded.until, reason = excluded.reason
	WHERE excluded.until > holds.until`

// Holds implements state.Store.
func (s *Store) Holds(ctx context.Context, pool string, at time.Time) ([]state.Hold, error) {
	if err := state.CheckTime("Holds at", at); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT provider, region, zone, instance_type, market, at, until, reason
		FROM holds WHERE pool = $1 AND until > $2 ORDER BY until, provider, region, zone, instance_type, market`, pool, nanos(at))
	if err != nil {
		return nil, fmt.Errorf("state/postgres: holds of pool %q: %w", pool, err)
	}
	defer rows.Close()
	var out []state.Hold
	for rows.Next() {
		h := state.Hold{Pool: pool}
		var from, until int64
		if err := rows.Scan(&h.Provider, &h.Region, &h.Zone, &h.InstanceType, &h.Market, &from, &until, &h.Reason); err != nil {
			return nil, fmt.Errorf("state/postgres: holds of pool %q: %w", pool, err)
		}
		h.At, h.Until = fromNanos(from), fromNanos(until)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/postgres: holds of pool %q: %w", pool, err)
	}
	return out, nil
}
