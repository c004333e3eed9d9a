package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/spillway-io/spillway/state"
)

// PutInstance implements state.Store.
func (s *Store) PutInstance(ctx context.Context, in state.Instance) error {
	in, err := in.Bounded()
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, putInstanceSQL, instanceArgs(in)...); err != nil {
		return fmt.Errorf("state/sqlite: put instance %s/%s: %w", in.Provider, in.ID, err)
	}
	return nil
}

// PutInstances implements state.Store.
func (s *Store) PutInstances(ctx context.Context, ins []state.Instance) error {
	wrap, err := state.BatchBounded("PutInstances", len(ins))
	if err != nil {
		return err
	}
	rows := make([]state.Instance, len(ins))
	for i, in := range ins {
		if rows[i], err = in.Bounded(); err != nil {
			return wrap(i, err)
		}
	}
	err = s.inTx(ctx, putInstanceSQL, func(stmt *sql.Stmt) error {
		for _, in := range rows {
			if _, err := stmt.ExecContext(ctx, instanceArgs(in)...); err != nil {
				return fmt.Errorf("instance %s/%s: %w", in.Provider, in.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state/sqlite: put %d instances: %w", len(rows), err)
	}
	return nil
}

const putInstanceSQL = `INSERT OR REPLACE INTO instances
	(provider, id, pool, offering, intent_id, floor, zone, instance_type, market, private_ip, state, gpus,
	 price_per_hour, billing, launched_at, joined_at, busy_gpus, idle_since, drain_started_at, drain_hook_at,
	 ended_at, end_reason, updated_at, reclaimed_at, ran_until)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func instanceArgs(in state.Instance) []any {
	return []any{in.Provider, in.ID, in.Pool, in.Offering, in.IntentID, in.Floor, in.Zone, in.InstanceType, in.Market,
		in.PrivateIP, in.State, in.GPUs, in.PricePerHour, in.Billing, nanos(in.LaunchedAt), nanos(in.JoinedAt),
		in.BusyGPUs, nanos(in.IdleSince), nanos(in.DrainStartedAt), nanos(in.DrainHookAt), nanos(in.EndedAt),
		in.EndReason, nanos(in.UpdatedAt), nanos(in.ReclaimedAt), nanos(in.RanUntil)}
}

// Instances implements state.Store.
func (s *Store) Instances(ctx context.Context, f state.InstanceFilter) ([]state.Instance, error) {
	if err := state.CheckTime("InstanceFilter.EndedSince", f.EndedSince); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if f.Pool != "" {
		where, args = append(where, "pool = ?"), append(args, f.Pool)
	}
	if f.Provider != "" {
		where, args = append(where, "provider = ?"), append(args, f.Provider)
	}
	if len(f.IDs) > 0 {
		where = append(where, "id IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.IDs)), ", ")+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	switch {
	case f.Live && !f.EndedSince.IsZero():
		where, args = append(where, "(state <> ? OR ended_at >= ?)"), append(args, state.InstanceEnded, nanos(f.EndedSince))
	case f.Live:
		where, args = append(where, "state <> ?"), append(args, state.InstanceEnded)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT provider, id, pool, offering, intent_id, floor, zone, instance_type,
		market, private_ip, state, gpus, price_per_hour, billing, launched_at, joined_at, busy_gpus, idle_since,
		drain_started_at, drain_hook_at, ended_at, end_reason, updated_at, reclaimed_at, ran_until
		FROM instances`+whereClause(where)+` ORDER BY launched_at, provider, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: list instances: %w", err)
	}
	defer rows.Close()
	var out []state.Instance
	for rows.Next() {
		var in state.Instance
		var launched, joined, idle, drainStarted, drainHook, ended, updated, reclaimed, ranUntil int64
		if err := rows.Scan(&in.Provider, &in.ID, &in.Pool, &in.Offering, &in.IntentID, &in.Floor, &in.Zone,
			&in.InstanceType, &in.Market, &in.PrivateIP, &in.State, &in.GPUs, &in.PricePerHour, &in.Billing,
			&launched, &joined, &in.BusyGPUs, &idle, &drainStarted, &drainHook, &ended, &in.EndReason, &updated, &reclaimed, &ranUntil); err != nil {
			return nil, fmt.Errorf("state/sqlite: list instances: %w", err)
		}
		in.LaunchedAt, in.JoinedAt, in.IdleSince = fromNanos(launched), fromNanos(joined), fromNanos(idle)
		in.DrainStartedAt, in.DrainHookAt = fromNanos(drainStarted), fromNanos(drainHook)
		in.EndedAt, in.UpdatedAt, in.ReclaimedAt = fromNanos(ended), fromNanos(updated), fromNanos(reclaimed)
		in.RanUntil = fromNanos(ranUntil)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/sqlite: list instances: %w", err)
	}
	return out, nil
}
