package sqlite

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
	if _, err := s.exec(ctx, noteSightingSQL, g.Provider, g.ID, nanos(g.At)); err != nil {
		return fmt.Errorf("state/sqlite: sighting of %s/%s: %w", g.Provider, g.ID, err)
	}
	return nil
}

// noteSightingSQL keeps the earlier at: the first sighting.
const noteSightingSQL = `INSERT INTO sightings (provider, id, at) VALUES (?, ?, ?)
	ON CONFLICT (provider, id) DO UPDATE SET at = excluded.at WHERE excluded.at < sightings.at`

// Sightings implements state.Store.
func (s *Store) Sightings(ctx context.Context, provider string) ([]state.Sighting, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, at FROM sightings WHERE provider = ? ORDER BY at, id`, provider)
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: sightings on %s: %w", provider, err)
	}
	defer rows.Close()
	var out []state.Sighting
	for rows.Next() {
		g := state.Sighting{Provider: provider}
		var at int64
		if err := rows.Scan(&g.ID, &at); err != nil {
			return nil, fmt.Errorf("state/sqlite: sightings on %s: %w", provider, err)
		}
		g.At = fromNanos(at)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/sqlite: sightings on %s: %w", provider, err)
	}
	return out, nil
}

// DeleteSighting implements state.Store.
func (s *Store) DeleteSighting(ctx context.Context, provider, id string) error {
	if _, err := s.exec(ctx, `DELETE FROM sightings WHERE provider = ? AND id = ?`, provider, id); err != nil {
		return fmt.Errorf("state/sqlite: delete sighting of %s/%s: %w", provider, id, err)
	}
	return nil
}
