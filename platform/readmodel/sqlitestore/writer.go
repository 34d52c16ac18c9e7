package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/loanflow/loans/platform/readmodel"
)

// ActiveGeneration is the generation readers read.
func (s *Store) ActiveGeneration(ctx context.Context) (int, error) {
	var gen int
	if err := s.reads.base.active.QueryRowContext(ctx).Scan(&gen); err != nil {
		return 0, fmt.Errorf("sqlitestore: active generation: %w", err)
	}
	return gen, nil
}

// Checkpoint is the position generation gen has projected up to.
func (s *Store) Checkpoint(ctx context.Context, gen int) (uint64, error) {
	var p int64
	err := s.reads.base.checkpoint.QueryRowContext(ctx, gen).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNoGeneration
	}
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: checkpoint of generation %d: %w", gen, err)
	}
	return uint64(p), nil
}

// idsPerQuery bounds the IDs of one "id IN (...)" query.
const idsPerQuery = 500

// Applications returns the stored applications of ids in generation gen.
func (s *Store) Applications(ctx context.Context, gen int, ids []string) (map[string]readmodel.Application, error) {
	out := make(map[string]readmodel.Application, len(ids))
	if len(ids) == 0 {
		// Still check the generation, as with IDs.
		_, err := s.Checkpoint(ctx, gen)
		return out, err
	}
	// On the writer's connection: its cache holds what the last batches
	// wrote, which is what the next batch mostly reads.
	err := s.writes.read(ctx, func(tx *sql.Tx) error {
		for len(ids) > 0 {
			n := min(len(ids), idsPerQuery)
			args := make([]any, n)
			for i, id := range ids[:n] {
				args[i] = id
			}
			ids = ids[n:]
			q := fmt.Sprintf(`SELECT %s FROM %s WHERE id IN (%s)`, appColumns, applicationsTable(gen),
				strings.TrimSuffix(strings.Repeat("?,", n), ","))
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				a, err := scanApp(rows)
				if err != nil {
					rows.Close()
					return err
				}
				out[a.ID] = a
			}
			if err := rows.Close(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: applications of generation %d: %w", gen, err)
	}
	return out, nil
}

// Apply writes a batch into generation gen and moves its checkpoint (never
// backward), in one transaction. See the package comment for the guards.
func (s *Store) Apply(ctx context.Context, gen int, b readmodel.Batch) error {
	if err := checkBatch(b); err != nil {
		return err
	}
	g, err := s.writes.gen(ctx, gen)
	if err != nil {
		if _, cerr := s.Checkpoint(ctx, gen); cerr != nil {
			return cerr
		}
		return fmt.Errorf("sqlitestore: apply: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.writes.base.moveCheckpoint).ExecContext(ctx, int64(b.Checkpoint), gen)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errNoGeneration
		}
		if err := upsertApps(ctx, tx, g, b.Applications); err != nil {
			return fmt.Errorf("applications: %w", err)
		}
		if err := insertHistory(ctx, tx, g, b.History); err != nil {
			return fmt.Errorf("history: %w", err)
		}
		if err := addStats(ctx, tx, g, b.Contributions); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: apply to generation %d: %w", gen, err)
	}
	return nil
}

// checkBatch refuses positions SQLite's signed INTEGER cannot hold.
func checkBatch(b readmodel.Batch) error {
	check := func(p uint64) error { _, err := pos(p); return err }
	if err := check(b.Checkpoint); err != nil {
		return err
	}
	for _, a := range b.Applications {
		if err := check(a.LastPosition); err != nil {
			return err
		}
	}
	for _, e := range b.History {
		if err := check(e.Position); err != nil {
			return err
		}
	}
	for _, c := range b.Contributions {
		if err := check(c.Position); err != nil {
			return err
		}
	}
	return nil
}

// upsertApps writes applications (see upsertAppSQL).
func upsertApps(ctx context.Context, tx *sql.Tx, g *genStmts, apps []readmodel.Application) error {
	if len(apps) == 0 {
		return nil
	}
	upsert := tx.StmtContext(ctx, g.upsertApp)
	defer upsert.Close()
	var update *sql.Stmt
	var args []any
	for _, a := range apps {
		args = appArgs(args[:0], a)
		res, err := upsert.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			continue
		}
		// Nothing changed: the stored application is as new, or its terms
		// differ. Write them all, if the position is newer.
		if update == nil {
			update = tx.StmtContext(ctx, g.updateApp)
			defer update.Close()
		}
		if _, err := update.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// insertHistory writes history entries, one a statement; INSERT OR IGNORE
// keeps an entry written before.
func insertHistory(ctx context.Context, tx *sql.Tx, g *genStmts, entries []readmodel.HistoryEntry) error {
	if len(entries) == 0 {
		return nil
	}
	insert := tx.StmtContext(ctx, g.insertHistory)
	defer insert.Close()
	var args []any
	for _, e := range entries {
		args = historyArgs(args[:0], e)
		if _, err := insert.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// addStats counts each contribution once: into its day if its position is
// above the day's last_position, into the funnel if above the funnel's.
// Contributions come in position order.
func addStats(ctx context.Context, tx *sql.Tx, g *genStmts, cs []readmodel.Contribution) error {
	if len(cs) == 0 {
		return nil
	}
	type daySum struct {
		last, top int64
		sum       readmodel.DailyStats
		any       bool
	}
	// Days, in the order they first appear (a batch spans one or two).
	var days []string
	byDay := map[string]*daySum{}
	for i := range cs {
		day := cs[i].Daily.Day
		if day == "" || byDay[day] != nil {
			continue // a funnel-only contribution, or a day seen already
		}
		byDay[day] = &daySum{}
		days = append(days, day)
	}
	if len(days) > 0 {
		dayPos, addDay := tx.StmtContext(ctx, g.dayPosition), tx.StmtContext(ctx, g.addDay)
		defer dayPos.Close()
		defer addDay.Close()
		for _, day := range days {
			d := byDay[day]
			err := dayPos.QueryRowContext(ctx, day).Scan(&d.last)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			d.top = d.last
		}
		for i := range cs {
			c := &cs[i]
			d := byDay[c.Daily.Day]
			if p := int64(c.Position); d != nil && p > d.last {
				d.sum.Add(c.Daily)
				d.top, d.any = max(d.top, p), true
			}
		}
		for _, day := range days {
			if d := byDay[day]; d.any {
				if _, err := addDay.ExecContext(ctx, append(dailyArgs([]any{day}, d.sum), d.top)...); err != nil {
					return err
				}
			}
		}
	}

	var last int64
	if err := tx.StmtContext(ctx, g.funnelPosition).QueryRowContext(ctx).Scan(&last); err != nil {
		return err
	}
	var funnel readmodel.Funnel
	top := last
	for i := range cs {
		if p := int64(cs[i].Position); p > last {
			funnel.Add(cs[i].Funnel)
			top = max(top, p)
		}
	}
	if top == last {
		return nil
	}
	_, err := tx.StmtContext(ctx, g.addFunnel).ExecContext(ctx, append(funnelArgs(nil, funnel), top)...)
	return err
}

// NewGeneration creates the tables of a new, inactive generation; numbers
// are never reused.
func (s *Store) NewGeneration(ctx context.Context) (int, error) {
	var gen int
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT next_generation FROM meta`).Scan(&gen); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET next_generation = ?`, gen+1); err != nil {
			return err
		}
		return createGeneration(ctx, tx, gen)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: new generation: %w", err)
	}
	return gen, nil
}

// Activate switches readers, and the analysts' views, to generation gen,
// provided its checkpoint is at or past the active generation's: the check
// and the switch are one IMMEDIATE transaction, which every writer (in this
// process or another) waits for, so no Apply to the active generation can
// land between them.
func (s *Store) Activate(ctx context.Context, gen int) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var cp, activeCP int64
		var active int
		err := tx.QueryRowContext(ctx, `SELECT position FROM checkpoint WHERE generation = ?`, gen).Scan(&cp)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoGeneration
		}
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT m.active_generation, c.position FROM meta m JOIN checkpoint c ON c.generation = m.active_generation`).
			Scan(&active, &activeCP)
		if err != nil {
			return err
		}
		if cp < activeCP {
			return fmt.Errorf("%w: its checkpoint %d is below active generation %d's %d", readmodel.ErrGenerationBehind, cp, active, activeCP)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET active_generation = ?`, gen); err != nil {
			return err
		}
		return syncViews(ctx, tx, gen, true)
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: activate generation %d: %w", gen, err)
	}
	return nil
}

// DropGeneration deletes an inactive generation's tables; it refuses the
// active one. Dropping a generation that does not exist does nothing.
func (s *Store) DropGeneration(ctx context.Context, gen int) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT active_generation FROM meta`).Scan(&active); err != nil {
			return err
		}
		if gen == active {
			return errActive
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM checkpoint WHERE generation = ?`, gen); err != nil {
			return err
		}
		for _, t := range []string{applicationsTable(gen), historyTable(gen), dailyTable(gen), funnelTable(gen)} {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+t); err != nil {
				return err
			}
		}
		return nil
	})
	s.writes.forget(gen)
	s.reads.forget(gen)
	if err != nil {
		return fmt.Errorf("sqlitestore: drop generation %d: %w", gen, err)
	}
	return nil
}

// Park keeps an event that failed to project; parking a position again
// keeps the first one.
func (s *Store) Park(ctx context.Context, e readmodel.ParkedEvent) error {
	p, err := pos(e.Position)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, s.writes.base.park).ExecContext(ctx, p, e.Stream, e.EventType, e.EventID, e.Error,
			nullMicros(e.ParkedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: park: %w", err)
	}
	return nil
}

// Parked lists the parked events by position.
func (s *Store) Parked(ctx context.Context) ([]readmodel.ParkedEvent, error) {
	rows, err := s.reads.base.parked.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: parked: %w", err)
	}
	defer rows.Close()
	var out []readmodel.ParkedEvent
	for rows.Next() {
		var e readmodel.ParkedEvent
		var p int64
		var at sql.NullInt64
		if err := rows.Scan(&p, &e.Stream, &e.EventType, &e.EventID, &e.Error, &at); err != nil {
			return nil, fmt.Errorf("sqlitestore: parked: %w", err)
		}
		e.Position, e.ParkedAt = uint64(p), fromNullMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: parked: %w", err)
	}
	return out, nil
}

// Unpark removes a parked event (nothing if it is not parked).
func (s *Store) Unpark(ctx context.Context, position uint64) error {
	p, err := pos(position)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, s.writes.base.unpark).ExecContext(ctx, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlitestore: unpark: %w", err)
	}
	return nil
}
