package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// baseStmts are the prepared statements on the store-wide tables.
type baseStmts struct {
	active, position, checkpoint, moveCheckpoint *sql.Stmt
	park, parked, unpark                         *sql.Stmt
}

func prepareBase(ctx context.Context, db *sql.DB) (*baseStmts, error) {
	b := &baseStmts{}
	err := prepareAll(ctx, db, []prep{
		{&b.active, `SELECT active_generation FROM meta`},
		{&b.position, `SELECT c.position FROM meta m JOIN checkpoint c ON c.generation = m.active_generation`},
		{&b.checkpoint, `SELECT position FROM checkpoint WHERE generation = ?`},
		{&b.moveCheckpoint, `UPDATE checkpoint SET position = max(position, ?) WHERE generation = ?`},
		{&b.park, `INSERT OR IGNORE INTO parked (position, stream, event_type, event_id, error, parked_at)
			VALUES (?, ?, ?, ?, ?, ?)`},
		{&b.parked, `SELECT position, stream, event_type, event_id, error, parked_at FROM parked ORDER BY position`},
		{&b.unpark, `DELETE FROM parked WHERE position = ?`},
	})
	if err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *baseStmts) close() {
	for _, st := range []*sql.Stmt{b.active, b.position, b.checkpoint, b.moveCheckpoint, b.park, b.parked, b.unpark} {
		if st != nil {
			st.Close()
		}
	}
}

// Rows are written one a statement. A statement that writes several rows
// and may fail makes SQLite journal every page it touches, so that it can
// undo that statement alone; that journal cost more than the statements
// saved (a quarter of the write time: docs/BENCHMARKS.md).

// genStmts are the prepared statements on one generation's tables.
type genStmts struct {
	upsertApp, updateApp          *sql.Stmt
	insertHistory                 *sql.Stmt
	dayPosition, addDay           *sql.Stmt
	funnelPosition, addFunnel     *sql.Stmt
	getApp, history, days, funnel *sql.Stmt
}

func (g *genStmts) all() []*sql.Stmt {
	return []*sql.Stmt{g.upsertApp, g.updateApp, g.insertHistory, g.dayPosition, g.addDay,
		g.funnelPosition, g.addFunnel, g.getApp, g.history, g.days, g.funnel}
}

func (g *genStmts) close() {
	for _, st := range g.all() {
		if st != nil {
			st.Close()
		}
	}
}

// values is "(?, ?, ...)" with n placeholders.
func values(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// upsertAppSQL inserts an application or updates what events change in it
// (status, the times of the steps, the reasons). Leaving the terms, the
// applicant and requested_at out of the SET spares SQLite rewriting three
// of the five indexes on every update (pages dirtied, and so written to the
// WAL, on every live event). Its WHERE makes it change nothing if they
// differ from what is stored (an application whose LoanRequested came
// late): then updateAppSQL writes every column.
func upsertAppSQL(gen int) string {
	a := applicationsTable(gen)
	return fmt.Sprintf(`INSERT INTO %[1]s (%[2]s) VALUES %[3]s
		ON CONFLICT (id) DO UPDATE SET
			status = excluded.status,
			submitted_at = excluded.submitted_at, review_issued_at = excluded.review_issued_at,
			decided_at = excluded.decided_at, contract_issued_at = excluded.contract_issued_at,
			concluded_at = excluded.concluded_at, updated_at = excluded.updated_at,
			denial_reason = excluded.denial_reason, rejection_reason = excluded.rejection_reason,
			last_position = excluded.last_position
		WHERE excluded.last_position > %[1]s.last_position
			AND %[1]s.amount = excluded.amount AND %[1]s.duration = excluded.duration
			AND %[1]s.applicant = excluded.applicant AND %[1]s.requested_at = excluded.requested_at`, a, appColumns, values(15))
}

// updateAppSQL writes every column of a stored application if the position
// is newer; its parameters are appArgs', in appColumns' order.
func updateAppSQL(gen int) string {
	return fmt.Sprintf(`UPDATE %s SET
			amount = ?2, duration = ?3, status = ?4, applicant = ?5, requested_at = ?6,
			submitted_at = ?7, review_issued_at = ?8, decided_at = ?9, contract_issued_at = ?10,
			concluded_at = ?11, updated_at = ?12, denial_reason = ?13, rejection_reason = ?14,
			last_position = ?15
		WHERE id = ?1 AND last_position < ?15`, applicationsTable(gen))
}

func insertHistorySQL(gen int) string {
	return fmt.Sprintf(`INSERT OR IGNORE INTO %s (%s) VALUES %s`, historyTable(gen), historyColumns, values(12))
}

// prepareGen prepares a generation's statements; it fails if the
// generation's tables do not exist.
func prepareGen(ctx context.Context, db *sql.DB, gen int) (*genStmts, error) {
	a, h, d, f := applicationsTable(gen), historyTable(gen), dailyTable(gen), funnelTable(gen)
	g := &genStmts{}
	err := prepareAll(ctx, db, []prep{
		{&g.upsertApp, upsertAppSQL(gen)},
		{&g.updateApp, updateAppSQL(gen)},
		{&g.insertHistory, insertHistorySQL(gen)},
		{&g.dayPosition, fmt.Sprintf(`SELECT last_position FROM %s WHERE day = ?`, d)},
		{&g.addDay, fmt.Sprintf(`INSERT INTO %[1]s (day, %[2]s, last_position) VALUES %[3]s
			ON CONFLICT (day) DO UPDATE SET
				requested_count = requested_count + excluded.requested_count,
				requested_amount = requested_amount + excluded.requested_amount,
				submitted_count = submitted_count + excluded.submitted_count,
				approved_count = approved_count + excluded.approved_count,
				approved_amount = approved_amount + excluded.approved_amount,
				denied_count = denied_count + excluded.denied_count,
				denied_amount = denied_amount + excluded.denied_amount,
				signed_count = signed_count + excluded.signed_count,
				signed_amount = signed_amount + excluded.signed_amount,
				rejected_count = rejected_count + excluded.rejected_count,
				rejected_amount = rejected_amount + excluded.rejected_amount,
				decisions = decisions + excluded.decisions,
				decision_seconds_total = decision_seconds_total + excluded.decision_seconds_total,
				last_position = excluded.last_position
			WHERE excluded.last_position > %[1]s.last_position`, d, dailyColumns, values(15))},
		{&g.funnelPosition, fmt.Sprintf(`SELECT last_position FROM %s WHERE id = 1`, f)},
		{&g.addFunnel, fmt.Sprintf(`UPDATE %s SET
			requested = requested + ?1, submitted = submitted + ?2, review_issued = review_issued + ?3,
			approved = approved + ?4, denied = denied + ?5, contract_issued = contract_issued + ?6,
			signed = signed + ?7, rejected = rejected + ?8, last_position = ?9
			WHERE id = 1 AND last_position < ?9`, f)},
		{&g.getApp, fmt.Sprintf(`SELECT %s FROM %s WHERE id = ?`, appColumns, a)},
		{&g.history, fmt.Sprintf(`SELECT %s FROM %s WHERE application_id = ? ORDER BY position`, historyColumns, h)},
		{&g.days, fmt.Sprintf(`SELECT day, %s FROM %s WHERE day BETWEEN ? AND ? ORDER BY day`, dailyColumns, d)},
		{&g.funnel, fmt.Sprintf(`SELECT %s FROM %s WHERE id = 1`, funnelColumns, f)},
	})
	if err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

type prep struct {
	dst *(*sql.Stmt)
	sql string
}

func prepareAll(ctx context.Context, db *sql.DB, ps []prep) error {
	for _, p := range ps {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("preparing %.60q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return nil
}

// gen returns a generation's prepared statements, preparing them the first
// time; it fails for a generation whose tables do not exist.
func (p *pool) gen(ctx context.Context, gen int) (*genStmts, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g, ok := p.stmts[gen]; ok {
		return g, nil
	}
	g, err := prepareGen(ctx, p.db, gen)
	if err != nil {
		return nil, err
	}
	p.stmts[gen] = g
	return g, nil
}

// forget closes a dropped generation's statements.
func (p *pool) forget(gen int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g, ok := p.stmts[gen]; ok {
		g.close()
		delete(p.stmts, gen)
	}
}
