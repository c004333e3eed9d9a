package postgres

import (
	"context"
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
	args := make([][]any, len(rows))
	for i, g := range rows {
		args[i] = []any{g.Pool, g.Provider, g.Region, g.Zone, g.InstanceType, g.Market, nanos(g.At), int64(g.Gap)}
	}
	err = s.write(ctx, true, func(q querier) error {
		return execBatch(ctx, q, `INSERT INTO idle_gaps (pool, provider, region, zone, instance_type, market, at, gap)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, args, func(i int) string {
			return fmt.Sprintf("idle gap of %s/%s in pool %q", rows[i].Provider, rows[i].InstanceType, rows[i].Pool)
		})
	})
	if err != nil {
		return fmt.Errorf("state/postgres: add %d idle gaps: %w", len(rows), err)
	}
	return nil
}

// IdleGaps implements state.Store.
func (s *Store) IdleGaps(ctx context.Context, pool string, perOffering int) ([]state.IdleGap, error) {
	if err := state.IdleGapsLimit(perOffering); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT provider, region, zone, instance_type, market, at, gap FROM (
		SELECT *, ROW_NUMBER() OVER (PARTITION BY provider, region, zone, instance_type, market ORDER BY at DESC, id DESC) AS n
		FROM idle_gaps WHERE pool = $1) AS g WHERE n <= $2 ORDER BY at, id`, pool, perOffering)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: idle gaps of pool %q: %w", pool, err)
	}
	defer rows.Close()
	var out []state.IdleGap
	for rows.Next() {
		g := state.IdleGap{Pool: pool}
		var at, gap int64
		if err := rows.Scan(&g.Provider, &g.Region, &g.Zone, &g.InstanceType, &g.Market, &at, &gap); err != nil {
			return nil, fmt.Errorf("state/postgres: idle gaps of pool %q: %w", pool, err)
		}
		g.At, g.Gap = fromNanos(at), time.Duration(gap)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/postgres: idle gaps of pool %q: %w", pool, err)
	}
	return out, nil
}
