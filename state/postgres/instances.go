package postgres

import (
	"context"
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
	err = s.write(ctx, false, func(q querier) error {
		_, err := q.Exec(ctx, putInstanceSQL, instanceArgs(in)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("state/postgres: put instance %s/%s: %w", in.Provider, in.ID, err)
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
	args := make([][]any, len(rows))
	for i, in := range rows {
		args[i] = instanceArgs(in)
	}
	err = s.write(ctx, true, func(q querier) error {
		return execBatch(ctx, q, putInstanceSQL, args, func(i int) string { return "instance " + rows[i].Provider + "/" + rows[i].ID })
	})
	if err != nil {
		return fmt.Errorf("state/postgres: put %d instances: %w", len(rows), err)
	}
	return nil
}

const putInstanceSQL = `INSERT INTO instances
	(provider, id, pool, offering, intent_id, floor, zone, instance_type, market, private_ip, state, gpus,
	 price_per_hour, billing, launched_at, joined_at, busy_gpus, idle_since, drain_started_at, drain_hook_at,
	 ended_at, end_reason, updated_at, reclaimed_at, ran_until)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
	ON CONFLICT (provider, id) DO UPDATE SET
	 pool = excluded.pool, offering = excluded.offering, intent_id = excluded.intent_id, floor = excluded.floor,
	 zone = excluded.zone, instance_type = excluded.instance_type, market = excluded.market,
	 private_ip = excluded.private_ip, state = excluded.state, gpus = excluded.gpus,
	 price_per_hour = excluded.price_per_hour, billing = excluded.billing, launched_at = excluded.launched_at,
	 joined_at = excluded.joined_at, busy_gpus = excluded.busy_gpus, idle_since = excluded.idle_since,
	 drain_started_at = excluded.drain_started_at, drain_hook_at = excluded.drain_hook_at,
	 ended_at = excluded.ended_at, end_reason = excluded.end_reason, updated_at = excluded.updated_at,
	 reclaimed_at = excluded.reclaimed_at, ran_until = excluded.ran_until`

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
	var conds []string
	var args []any
	if f.Pool != "" {
		conds, args = append(conds, "pool = ?"), append(args, f.Pool)
	}
	if f.Provider != "" {
		conds, args = append(conds, "provider = ?"), append(args, f.Provider)
	}
	if len(f.IDs) > 0 {
		conds = append(conds, "id IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.IDs)), ", ")+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	switch {
	case f.Live && !f.EndedSince.IsZero():
		conds, args = append(conds, "(state <> ? OR ended_at >= ?)"), append(args, state.InstanceEnded, nanos(f.EndedSince))
	case f.Live:
		conds, args = append(conds, "state <> ?"), append(args, state.InstanceEnded)
	}
	rows, err := s.pool.Query(ctx, numbered(`SELECT provider, id, pool, offering, intent_id, floor, zone, instance_type,
		market, private_ip, state, gpus, price_per_hour, billing, launched_at, joined_at, busy_gpus, idle_since,
		drain_started_at, drain_hook_at, ended_at, end_reason, updated_at, reclaimed_at, ran_until
		FROM instances`+where(conds)+` ORDER BY launched_at, provider, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: list instances: %w", err)
	}
	defer rows.Close()
	var out []state.Instance
	for rows.Next() {
		var in state.Instance
		var launched, joined, idle, drainStarted, drainHook, ended, updated, reclaimed, ranUntil int64
		if err := rows.Scan(&in.Provider, &in.ID, &in.Pool, &in.Offering, &in.IntentID, &in.Floor, &in.Zone,
			&in.InstanceType, &in.Market, &in.PrivateIP, &in.State, &in.GPUs, &in.PricePerHour, &in.Billing,
			&launched, &joined, &in.BusyGPUs, &idle, &drainStarted, &drainHook, &ended, &in.EndReason, &updated, &reclaimed, &ranUntil); err != nil {
			return nil, fmt.Errorf("state/postgres: list instances: %w", err)
		}
		in.LaunchedAt, in.JoinedAt, in.IdleSince = fromNanos(launched), fromNanos(joined), fromNanos(idle)
		in.DrainStartedAt, in.DrainHookAt = fromNanos(drainStarted), fromNanos(drainHook)
		in.EndedAt, in.UpdatedAt, in.ReclaimedAt = fromNanos(ended), fromNanos(updated), fromNanos(reclaimed)
		in.RanUntil = fromNanos(ranUntil)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/postgres: list instances: %w", err)
	}
	return out, nil
}
