package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/loanflow/loans/platform/readmodel"
)

// Position is the active generation's checkpoint.
func (s *Store) Position(ctx context.Context) (uint64, error) {
	var p int64
	if err := s.reads.base.position.QueryRowContext(ctx).Scan(&p); err != nil {
		return 0, fmt.Errorf("sqlitestore: position: %w", err)
	}
	return uint64(p), nil
}

// Get returns an application of the active generation, or
// readmodel.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (readmodel.Application, error) {
	var a readmodel.Application
	err := s.readActive(ctx, func(tx *sql.Tx, g *genStmts, _ int) error {
		var err error
		a, err = scanApp(tx.StmtContext(ctx, g.getApp).QueryRowContext(ctx, id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return a, readmodel.ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("sqlitestore: get %s: %w", id, err)
	}
	return a, nil
}

// History returns an application's history, oldest first (empty if it has
// none).
func (s *Store) History(ctx context.Context, id string) ([]readmodel.HistoryEntry, error) {
	var out []readmodel.HistoryEntry
	err := s.readActive(ctx, func(tx *sql.Tx, g *genStmts, _ int) error {
		rows, err := tx.StmtContext(ctx, g.history).QueryContext(ctx, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanHistory(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: history of %s: %w", id, err)
	}
	return out, nil
}

// Stats returns the days from fromDay to toDay inclusive that have data, in
// order, and the funnel, from one snapshot.
func (s *Store) Stats(ctx context.Context, fromDay, toDay string) ([]readmodel.DailyStats, readmodel.Funnel, error) {
	var days []readmodel.DailyStats
	var f readmodel.Funnel
	err := s.readActive(ctx, func(tx *sql.Tx, g *genStmts, _ int) error {
		rows, err := tx.StmtContext(ctx, g.days).QueryContext(ctx, fromDay, toDay)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDay(rows)
			if err != nil {
				return err
			}
			days = append(days, d)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		f, err = scanFunnel(tx.StmtContext(ctx, g.funnel).QueryRowContext(ctx))
		return err
	})
	if err != nil {
		return nil, readmodel.Funnel{}, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	return days, f, nil
}

// orderColumn is the column an order sorts by, and whether it is
// descending. The ID breaks ties in the same direction.
func orderColumn(o readmodel.Order) (col string, desc bool, ok bool) {
	switch o {
	case readmodel.OrderRequestedAtDesc:
		return "requested_at", true, true
	case readmodel.OrderRequestedAtAsc:
		return "requested_at", false, true
	case readmodel.OrderAmountDesc:
		return "amount", true, true
	case readmodel.OrderAmountAsc:
		return "amount", false, true
	case readmodel.OrderUpdatedAtDesc:
		return "updated_at", true, true
	}
	return "", false, false
}

// List returns a page of the active generation's applications that match
// f, in p.Order, after p.Cursor (keyset pagination on the sort key and the
// ID: stable while applications are added or changed).
func (s *Store) List(ctx context.Context, f readmodel.Filter, p readmodel.Page) ([]readmodel.Application, string, error) {
	col, desc, ok := orderColumn(p.Order)
	if !ok {
		return nil, "", fmt.Errorf("sqlitestore: list: unknown order %d", p.Order)
	}
	size := p.Size
	switch {
	case size <= 0:
		size = readmodel.DefaultPageSize
	case size > readmodel.MaxPageSize:
		size = readmodel.MaxPageSize
	}

	var where []string
	var args []any
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+strings.TrimSuffix(strings.Repeat("?,", len(f.Statuses)), ",")+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if f.Applicant != "" {
		where = append(where, "applicant = ?")
		args = append(args, f.Applicant)
	}
	if !f.RequestedAfter.IsZero() {
		where = append(where, "requested_at >= ?")
		args = append(args, ceilMicros(f.RequestedAfter))
	}
	if !f.RequestedBefore.IsZero() {
		where = append(where, "requested_at < ?")
		args = append(args, ceilMicros(f.RequestedBefore))
	}
	if f.MinAmount != 0 {
		where = append(where, "amount >= ?")
		args = append(args, f.MinAmount)
	}
	if f.MaxAmount != 0 {
		where = append(where, "amount <= ?")
		args = append(args, f.MaxAmount)
	}
	cmp, dir := ">", "ASC"
	if desc {
		cmp, dir = "<", "DESC"
	}
	if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor, p.Order)
		if err != nil {
			return nil, "", err
		}
		where = append(where, fmt.Sprintf("(%s, id) %s (?, ?)", col, cmp))
		args = append(args, *c.Key, c.ID)
	}
	cond := ""
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, size+1) // one more tells whether a next page exists

	var items []readmodel.Application
	err := s.readActive(ctx, func(tx *sql.Tx, _ *genStmts, gen int) error {
		q := fmt.Sprintf(`SELECT %s FROM %s %s ORDER BY %s %s, id %s LIMIT ?`,
			appColumns, applicationsTable(gen), cond, col, dir, dir)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanApp(rows)
			if err != nil {
				return err
			}
			items = append(items, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", fmt.Errorf("sqlitestore: list: %w", err)
	}
	if len(items) <= size {
		return items, "", nil
	}
	items = items[:size]
	last := items[size-1]
	return items, encodeCursor(p.Order, sortKey(last, p.Order), last.ID), nil
}

// sortKey is an application's value in the order's column, as stored.
func sortKey(a readmodel.Application, o readmodel.Order) int64 {
	switch o {
	case readmodel.OrderAmountDesc, readmodel.OrderAmountAsc:
		return a.Amount
	case readmodel.OrderUpdatedAtDesc:
		return micros(a.UpdatedAt)
	default:
		return micros(a.RequestedAt)
	}
}
