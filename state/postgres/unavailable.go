package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/state"
)

// PutUnavailable implements state.Store.
func (s *Store) PutUnavailable(ctx context.Context, u state.Unavailable) error {
	u, err := u.Bounded()
	if err != nil {
		return err
	}
	err = s.write(ctx, false, func(q querier) error {
		_, err := q.Exec(ctx, putUnavailableSQL, u.Kind, u.Provider, u.Region, u.Zone, u.InstanceType, u.Market, u.Why, nanos(u.At), nanos(u.Until))
		return err
	})
	if err != nil {
		return fmt.Errorf("state/postgres: unavailable %s %s/%s: %w", u.Kind, u.Provider, u.InstanceType, err)
	}
	return nil
}

// putUnavailableSQL keeps the later until: an entry is only ever extended.
const putUnavailableSQL = `INSERT INTO unavailable (kind, provider, region, zone, instance_type, market, why, at, until)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT (kind, provider, region, zone, instance_type, market) DO UPDATE
	SET why = excluded.why, at = excluded.at, until = excluded.until
	WHERE excluded.until > unavailable.until`

// Unavailable implements state.Store.
func (s *Store) Unavailable(ctx context.Context, at time.Time) ([]state.Unavailable, error) {
	if err := state.CheckTime("Unavailable at", at); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT kind, provider, region, zone, instance_type, market, why, at, until
		FROM unavailable WHERE until > $1 ORDER BY until, kind, provider, region, zone, instance_type, market`, nanos(at))
	if err != nil {
		return nil, fmt.Errorf("state/postgres: unavailable: %w", err)
	}
	defer rows.Close()
	var out []state.Unavailable
	for rows.Next() {
		var u state.Unavailable
		var from, until int64
		if err := rows.Scan(&u.Kind, &u.Provider, &u.Region, &u.Zone, &u.InstanceType, &u.Market, &u.Why, &from, &until); err != nil {
			return nil, fmt.Errorf("state/postgres: unavailable: %w", err)
		}
		u.At, u.Until = fromNanos(from), fromNanos(until)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/postgres: unavailable: %w", err)
	}
	return out, nil
}

// DeleteUnavailable implements state.Store.
func (s *Store) DeleteUnavailable(ctx context.Context, u state.Unavailable) error {
	err := s.write(ctx, false, func(q querier) error {
		_, err := q.Exec(ctx, deleteUnavailableSQL, u.Kind, u.Provider, u.Region, u.Zone, u.InstanceType, u.Market)
		return err
	})
	if err != nil {
		return fmt.Errorf("state/postgres: delete unavailable %s %s/%s: %w", u.Kind, u.Provider, u.InstanceType, err)
	}
	return nil
}

const deleteUnavailableSQL = `DELETE FROM unavailable
	WHERE kind = $1 AND provider = $2 AND region = $3 AND zone = $4 AND instance_type = $5 AND market = $6`
