package sqlite

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
	if _, err := s.exec(ctx, putUnavailableSQL, u.Kind, u.Provider, u.Region, u.Zone, u.InstanceType, u.Market,
		u.Why, nanos(u.At), nanos(u.Until)); err != nil {
		return fmt.Errorf("state/sqlite: unavailable %s %s/%s: %w", u.Kind, u.Provider, u.InstanceType, err)
	}
	return nil
}

// putUnavailableSQL keeps the later until: an entry is only ever extended.
const putUnavailableSQL = `INSERT INTO unavailable (kind, provider, region, zone, instance_type, market, why, at, until)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (kind, provider, region, zone, instance_type, market) DO UPDATE
	SET why = excluded.why, at = excluded.at, until = excluded.until
	WHERE excluded.until > unavailable.until`

// Unavailable implements state.Store.
func (s *Store) Unavailable(ctx context.Context, at time.Time) ([]state.Unavailable, error) {
	if err := state.CheckTime("Unavailable at", at); err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT kind, provider, region, zone, instance_type, market, why, at, until
		FROM unavailable WHERE until > ? ORDER BY until, kind, provider, region, zone, instance_type, market`, nanos(at))
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: unavailable: %w", err)
	}
	defer rows.Close()
	var out []state.Unavailable
	for rows.Next() {
		var u state.Unavailable
		var from, until int64
		if err := rows.Scan(&u.Kind, &u.Provider, &u.Region, &u.Zone, &u.InstanceType, &u.Market, &u.Why, &from, &until); err != nil {
			return nil, fmt.Errorf("state/sqlite: unavailable: %w", err)
		}
		u.At, u.Until = fromNanos(from), fromNanos(until)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/sqlite: unavailable: %w", err)
	}
	return out, nil
}

// DeleteUnavailable implements state.Store.
func (s *Store) DeleteUnavailable(ctx context.Context, u state.Unavailable) error {
	if _, err := s.exec(ctx, deleteUnavailableSQL, u.Kind, u.Provider, u.Region, u.Zone, u.InstanceType, u.Market); err != nil {
		return fmt.Errorf("state/sqlite: delete unavailable %s %s/%s: %w", u.Kind, u.Provider, u.InstanceType, err)
	}
	return nil
}

const deleteUnavailableSQL = `DELETE FROM unavailable
	WHERE kind = ? AND provider = ? AND region = ? AND zone = ? AND instance_type = ? AND market = ?`
