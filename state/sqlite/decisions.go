package sqlite

import (
	"context"
	"fmt"
	"time"

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
	res, err := s.exec(ctx, `INSERT INTO decisions (pool, time, dry_run, summary, plan) VALUES (?, ?, ?, ?, ?)`,
		d.Pool, nanos(d.Time), boolInt(d.DryRun), d.Summary, plan)
	if err != nil {
		return 0, fmt.Errorf("state/sqlite: add decision of pool %q: %w", d.Pool, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("state/sqlite: add decision of pool %q: %w", d.Pool, err)
	}
	return id, nil
}

// Decisions implements state.Store.
//
// A listing with a since costs the rows of its window, not every row of
// the pool: left to itself, SQLite walks the pool's IDs down from the
// newest (decisions_by_pool), which spares it a sort, and so reads every
// older row of the pool when the window holds fewer than limit (since=5m)
// or a later page of it is asked for. Decisions first reads the limit
// newest rows below the cursor as without a since: when each is inside
// the window (a recent window with a page's worth in it), they are the
// answer; it stops at the first outside. Otherwise it picks the newest IDs of the window from
// decisions_by_pool_time (or decisions_by_time), which hold them, and
// reads those rows.
func (s *Store) Decisions(ctx context.Context, f state.DecisionFilter) ([]state.Decision, error) {
	limit, err := state.PageLimit("DecisionFilter.Limit", f.Limit)
	if err != nil {
		return nil, err
	}
	if err := state.CheckTime("DecisionFilter.Since", f.Since); err != nil {
		return nil, err
	}
	newest := f
	newest.Since = time.Time{}
	ds, err := s.queryDecisions(ctx, newest, limit, "", f.Since)
	if err != nil || ds != nil {
		return ds, err
	}
	index := "decisions_by_time"
	if f.Pool != "" {
		index = "decisions_by_pool_time"
	}
	return s.queryDecisions(ctx, f, limit, index, time.Time{})
}

// queryDecisions lists the decisions f asks for, newest first; with an
// index, it picks their IDs from it first. With a stop time, it returns
// nil as soon as a row is older (and an empty list for none).
func (s *Store) queryDecisions(ctx context.Context, f state.DecisionFilter, limit int, index string, stop time.Time) ([]state.Decision, error) {
	var where []string
	var args []any
	if f.Pool != "" {
		where, args = append(where, "pool = ?"), append(args, f.Pool)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, nanos(f.Since))
	}
	if f.BeforeID != 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	q := `SELECT id, pool, time, dry_run, summary, plan FROM decisions` + whereClause(where) + ` ORDER BY id DESC LIMIT ?`
	if index != "" {
		q = `SELECT id, pool, time, dry_run, summary, plan FROM decisions WHERE id IN (SELECT id FROM decisions INDEXED BY ` +
			index + whereClause(where) + ` ORDER BY id DESC LIMIT ?) ORDER BY id DESC`
	}
	rows, err := s.read.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: list decisions: %w", err)
	}
	defer rows.Close()
	var out []state.Decision
	for rows.Next() {
		var d state.Decision
		var t, dry int64
		if err := rows.Scan(&d.ID, &d.Pool, &t, &dry, &d.Summary, &d.Plan); err != nil {
			return nil, fmt.Errorf("state/sqlite: list decisions: %w", err)
		}
		d.Time, d.DryRun = fromNanos(t), dry != 0
		if d.Time.Before(stop) {
			return nil, nil
		}
		if len(d.Plan) == 0 {
			d.Plan = nil
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/sqlite: list decisions: %w", err)
	}
	if out == nil {
		out = []state.Decision{}
	}
	return out, nil
}

// AddAudit implements state.Store.
func (s *Store) AddAudit(ctx context.Context, e state.AuditEntry) (int64, error) {
	e, err := e.Bounded()
	if err != nil {
		return 0, err
	}
	res, err := s.exec(ctx, `INSERT INTO audit (time, principal, role, source, action, request, outcome, status)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		nanos(e.Time), e.Principal, e.Role, e.Source, e.Action, e.Request, e.Outcome, e.Status)
	if err != nil {
		return 0, fmt.Errorf("state/sqlite: add audit entry %q by %q: %w", e.Action, e.Principal, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("state/sqlite: add audit entry %q by %q: %w", e.Action, e.Principal, err)
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
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, nanos(f.Since))
	}
	if f.BeforeID != 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, time, principal, role, source, action, request, outcome, status
		FROM audit`+whereClause(where)+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: list audit entries: %w", err)
	}
	defer rows.Close()
	var out []state.AuditEntry
	for rows.Next() {
		var e state.AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Principal, &e.Role, &e.Source, &e.Action, &e.Request, &e.Outcome, &e.Status); err != nil {
			return nil, fmt.Errorf("state/sqlite: list audit entries: %w", err)
		}
		e.Time = fromNanos(t)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/sqlite: list audit entries: %w", err)
	}
	return out, nil
}
