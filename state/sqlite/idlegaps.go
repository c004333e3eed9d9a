package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/state"
)

// AddIdleGaps implements state.Store.
func (s *Store) AddIdleGaps(ctx context.Context, gs []state.IdleGap) error {
	rows, err := state.IdleGapsBounded(gs)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, addIdleGapSQL, func(stmt *sql.Stmt) error {
		for _, g := range rows {
			if _, err := stmt.ExecContext(ctx, idleGapArgs(g)...); err != nil {
				return fmt.Errorf("idle gap of %s/%s in pool %q: %w", g.Provider, g.InstanceType, g.Pool, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state/sqlite: add %d idle gaps: %w", len(rows), err)
	}
	return nil
}

const addIdleGapSQL = `INSERT INTO idle_gaps (pool, provider, region, zone, instance_type, market, at, gap)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

func idleGapArgs(g state.IdleGap) []any {
	return []any{g.Pool, g.Provider, g.Region, g.Zone, g.InstanceType, g.Market, nanos(g.At), int64(g.Gap)}
}

// IdleGaps implements state.Store.
func (s *Store) IdleGaps(ctx context.Context, pool string, perOffering int) ([]state.IdleGap, error) {
	if err := state.IdleGapsLimit(perOffering); err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT provider, region, zone, instance_type, market, at, gap FROM (
		SELECT *, ROW_NUMBER() OVER (PARTITION BY provider, region, zone, instance_type, market ORDER BY at DESC, id DESC) AS n
		FROM idle_gaps WHERE pool = ?) WHERE n <= ? ORDER BY at, id`, pool, perOffering)
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: idle gaps of pool %q: %w", pool, err)
	}
	defer rows.Close()
	var out []state.IdleGap
	for rows.Next() {
		g := state.IdleGap{Pool: pool}
		var at, gap int64
		if err := rows.Scan(&g.Provider, &g.Region, &g.Zone, &g.InstanceType, &g.Market, &at, &gap); err != nil {
			return nil, fmt.Errorf("state/sqlite: idle gaps of pool %q: %w", pool, err)
		}
		g.At, g.Gap = fromNanos(at), time.Duration(gap)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/sqlite: idle gaps of pool %q: %w", pool, err)
	}
	return out, nil
}
