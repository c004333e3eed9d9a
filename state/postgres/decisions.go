package postgres

import (
	"context"
	"fmt"

	"github.com/spillway-io/spillway/state"
)

// AddDecision implements state.Store.
func (s *Store) AddDecision(ctx context.Context, d state.Decision) (int64, error) {
	d, err := d.Bounded()
	if err != nil {
		return 0, err
	}
	plan := d.Plan
	if plan == nil {
		plan = []byte{}
	}
	var id int64
	err = s.write(ctx, false, func(q querier) error {
		return q.QueryRow(ctx, `INSERT INTO decisions (pool, time, dry_run, summary, plan) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			d.Pool, nanos(d.Time), d.DryRun, d.Summary, plan).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("state/postgres: add decision of pool %q: %w", d.Pool, err)
	}
	return id, nil
}

// Decisions implements state.Store.
func (s *Store) Decisions(ctx context.Context, f state.DecisionFilter) ([]state.Decision, error) {
	limit, err := state.PageLimit("DecisionFilter.Limit", f.Limit)
	if err != nil {
		return nil, err
	}
	if err := state.CheckTime("DecisionFilter.Since", f.Since); err != nil {
		return nil, err
	}
	q, args := decisionsQuery(f, limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: list decisions: %w", err)
	}
	defer rows.Close()
	var out []state.Decision
	for rows.Next() {
		var d state.Decision
		var t int64
		if err := rows.Scan(&d.ID, &d.Pool, &t, &d.DryRun, &d.Summary, &d.Plan); err != nil {
			return nil, fmt.Errorf("state/postgres: list decisions: %w", err)
		}
		d.Time = fromNanos(t)
		if len(d.Plan) == 0 {
			d.Plan = nil
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/postgres: list decisions: %w", err)
	}
	return out, nil
}

// decisionsQuery is the statement that lists the decisions f asks for,
// newest first. With a since, the planner reads the window from
// decisions_by_pool_time or decisions_by_time when it holds fewer rows
// than the walk down the pool's IDs would read.
func decisionsQuery(f state.DecisionFilter, limit int) (string, []any) {
	var conds []string
	var args []any
	if f.Pool != "" {
		conds, args = append(conds, "pool = ?"), append(args, f.Pool)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "time >= ?"), append(args, nanos(f.Since))
	}
	if f.BeforeID != 0 {
		conds, args = append(conds, "id < ?"), append(args, f.BeforeID)
	}
	return numbered(`SELECT id, pool, time, dry_run, summary, plan FROM decisions` +
		where(conds) + ` ORDER BY id DESC LIMIT ?`), append(args, limit)
}

// AddAudit implements state.Store.
func (s *Store) AddAudit(ctx context.Context, e state.AuditEntry) (int64, error) {
	e, err := e.Bounded()
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.unfenced(ctx, func(q querier) error {
		return q.QueryRow(ctx, `INSERT INTO audit (time, principal, role, source, action, request, outcome, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			nanos(e.Time), e.Principal, e.Role, e.Source, e.Action, e.Request, e.Outcome, e.Status).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("state/postgres: add audit entry %q by %q: %w", e.Action, e.Principal, err)
	}
	return id, nil
}

// Audit implements state.Store.
func (s *Store) Audit(ctx context.Context, f state.AuditFilter) ([]state.AuditEntry, error) {
	limit, err := state.PageLimit("AuditFilter.Limit", f.Limit)
	if err != nil {
		return nil, err
	}
	if err := state.CheckTime("AuditFilter.Since", f.Since); err != nil {
		return nil, err
	}
	var conds []string
	var args []any
	if !f.Since.IsZero() {
		conds, args = append(conds, "time >= ?"), append(args, nanos(f.Since))
	}
	if f.BeforeID != 0 {
		conds, args = append(conds, "id < ?"), append(args, f.BeforeID)
	}
	rows, err := s.pool.Query(ctx, numbered(`SELECT id, time, principal, role, source, action, request, outcome, status
		FROM audit`+where(conds)+` ORDER BY id DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: list audit entries: %w", err)
	}
	defer rows.Close()
	var out []state.AuditEntry
	for rows.Next() {
		var e state.AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Principal, &e.Role, &e.Source, &e.Action, &e.Request, &e.Outcome, &e.Status); err != nil {
			return nil, fmt.Errorf("state/postgres: list audit entries: %w", err)
		}
		e.Time = fromNanos(t)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/postgres: list audit entries: %w", err)
	}
	return out, nil
}
