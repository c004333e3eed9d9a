package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/state"
)

// RecordSpend implements state.Store.
func (s *Store) RecordSpend(ctx context.Context, e state.SpendEntry) error {
	e, err := e.Bounded()
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, recordSpendSQL, spendArgs(e)...); err != nil {
		return fmt.Errorf("state/sqlite: record spend of %s/%s in pool %q: %w", e.Provider, e.InstanceID, e.Pool, err)
	}
	return nil
}

// RecordSpends implements state.Store.
func (s *Store) RecordSpends(ctx context.Context, es []state.SpendEntry) error {
	wrap, err := state.BatchBounded("RecordSpends", len(es))
	if err != nil {
		return err
	}
	rows := make([]state.SpendEntry, len(es))
	for i, e := range es {
		if rows[i], err = e.Bounded(); err != nil {
			return wrap(i, err)
		}
	}
	err = s.inTx(ctx, recordSpendSQL, func(stmt *sql.Stmt) error {
		for _, e := range rows {
			if _, err := stmt.ExecContext(ctx, spendArgs(e)...); err != nil {
				return fmt.Errorf("spend of %s/%s in pool %q: %w", e.Provider, e.InstanceID, e.Pool, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state/sqlite: record %d spend entries: %w", len(rows), err)
	}
	return nil
}

// recordSpendSQL keeps the larger amount: spend never goes down.
const recordSpendSQL = `INSERT INTO spend (pool, period_start, provider, instance_id, amount, at)
	VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (pool, period_start, provider, instance_id) DO UPDATE
	SET amount = excluded.amount, at = excluded.at
	WHERE excluded.amount > spend.amount`

func spendArgs(e state.SpendEntry) []any {
	return []any{e.Pool, nanos(e.PeriodStart), e.Provider, e.InstanceID, e.Amount, nanos(e.At)}
}

// Spend implements state.Store.
func (s *Store) Spend(ctx context.Context, pool string, periodStart time.Time) (float64, error) {
	if err := state.CheckTime("Spend periodStart", periodStart); err != nil {
		return 0, err
	}
	var total float64
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM spend WHERE pool = ? AND period_start = ?`,
		pool, nanos(periodStart)).Scan(&total)
	if err != nil {
		return 0, fmt.Errorf("state/sqlite: spend of pool %q in period %s: %w", pool, periodStart.UTC().Format(time.RFC3339), err)
	}
	return total, nil
}
