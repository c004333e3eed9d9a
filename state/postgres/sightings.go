package postgres

import (
	"context"
	"fmt"

	"github.com/spillway-io/spillway/state"
)

// NoteSighting implements state.Store.
func (s *Store) NoteSighting(ctx context.Context, g state.Sighting) error {
	g, err := g.Bounded()
	if err != nil {
		return err
	}
	err = s.write(ctx, false, func(q querier) error {
		_, err := q.Exec(ctx, noteSightingSQL, g.Provider, g.ID, nanos(g.At))
		return err
	})
	if err != nil {
		return fmt.Errorf("state/postgres: sighting of %s/%s: %w", g.Provider, g.ID, err)
	}
	return nil
}

// noteSightingSQL keeps the earlier at: the first sighting.
const noteSightingSQL = `INSERT INTO sightings (provider, id, at) VALUES ($1, $2, $3)
	ON CONFLICT (provider, id) DO UPDATE SET at = excluded.at WHERE excluded.at < sightings.at`

// Sightings implements state.Store.
func (s *Store) Sightings(ctx context.Context, provider string) ([]state.Sighting, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, at FROM sightings WHERE provider = $1 ORDER BY at, id`, provider)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: sightings on %s: %w", provider, err)
	}
	defer rows.Close()
	var out []state.Sighting
	for rows.Next() {
		g := state.Sighting{Provider: provider}
		var at int64
		if err := rows.Scan(&g.ID, &at); err != nil {
			return nil, fmt.Errorf("state/postgres: sightings on %s: %w", provider, err)
		}
		g.At = fromNanos(at)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/postgres: sightings on %s: %w", provider, err)
	}
	return out, nil
}

// DeleteSighting implements state.Store.
func (s *Store) DeleteSighting(ctx context.Context, provider, id string) error {
	err := s.write(ctx, false, func(q querier) error {
		_, err := q.Exec(ctx, `DELETE FROM sightings WHERE provider = $1 AND id = $2`, provider, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("state/postgres: delete sighting of %s/%s: %w", provider, id, err)
	}
	return nil
}
