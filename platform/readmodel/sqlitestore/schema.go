package sqlitestore

import (
	"fmt"
	"strings"
)

// The store-wide tables. meta has one row: the active generation and the
// next number NewGeneration hands out (numbers are never reused). checkpoint
// has a row per existing generation: it is the registry of generations.
var baseDDL = []string{
	`CREATE TABLE IF NOT EXISTS meta (
		id                INTEGER PRIMARY KEY CHECK (id = 1),
		active_generation INTEGER NOT NULL,
		next_generation   INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS checkpoint (
		generation INTEGER PRIMARY KEY,
		position   INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS parked (
		position   INTEGER PRIMARY KEY,
		stream     TEXT NOT NULL,
		event_type TEXT NOT NULL,
		event_id   TEXT NOT NULL,
		error      TEXT NOT NULL,
		parked_at  INTEGER
	)`,
}

// Table names of a generation.
func applicationsTable(gen int) string { return fmt.Sprintf("applications_v%d", gen) }
func historyTable(gen int) string      { return fmt.Sprintf("history_v%d", gen) }
func dailyTable(gen int) string        { return fmt.Sprintf("daily_stats_v%d", gen) }
func funnelTable(gen int) string       { return fmt.Sprintf("funnel_v%d", gen) }

// appColumns are the applications table's columns, in the order they are
// written and scanned.
const appColumns = `id, amount, duration, status, applicant, requested_at, submitted_at, review_issued_at,
	decided_at, contract_issued_at, concluded_at, updated_at, denial_reason, rejection_reason, last_position`

const historyColumns = `position, application_id, stream, revision, event_type, occurred_at, actor, status_after,
	payload, command_id, correlation_id, causation_id`

const dailyColumns = `requested_count, requested_amount, submitted_count, approved_count, approved_amount,
	denied_count, denied_amount, signed_count, signed_amount, rejected_count, rejected_amount, decisions,
	decision_seconds_total`

const funnelColumns = `requested, submitted, review_issued, approved, denied, contract_issued, signed, rejected`

// generationDDL creates a generation's tables and indexes, idempotently.
//
// Times are INTEGER microseconds since the Unix epoch, UTC. An unset time is
// NULL, except in the two sort keys requested_at and updated_at, which are
// NOT NULL so that keyset pagination compares them totally: there an unset
// time is zeroMicros (the zero time.Time, year 1), which sorts first.
// Positions are INTEGER (the store accepts positions up to 2^63-1).
func generationDDL(gen int) []string {
	a, h, d, f := applicationsTable(gen), historyTable(gen), dailyTable(gen), funnelTable(gen)
	return []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			id                 TEXT PRIMARY KEY,
			amount             INTEGER NOT NULL,
			duration           INTEGER NOT NULL,
			status             TEXT NOT NULL,
			applicant          TEXT NOT NULL,
			requested_at       INTEGER NOT NULL,
			submitted_at       INTEGER,
			review_issued_at   INTEGER,
			decided_at         INTEGER,
			contract_issued_at INTEGER,
			concluded_at       INTEGER,
			updated_at         INTEGER NOT NULL,
			denial_reason      TEXT NOT NULL,
			rejection_reason   TEXT NOT NULL,
			last_position      INTEGER NOT NULL
		) WITHOUT ROWID`, a),
		// One index per List order, with the ID tie-breaker (also used
		// backwards for the descending orders), and the two equality filters
		// ahead of the default order.
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[1]s_requested ON %[1]s (requested_at, id)`, a),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[1]s_amount ON %[1]s (amount, id)`, a),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[1]s_updated ON %[1]s (updated_at, id)`, a),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[1]s_status ON %[1]s (status, requested_at, id)`, a),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[1]s_applicant ON %[1]s (applicant, requested_at, id)`, a),

		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			position       INTEGER PRIMARY KEY,
			application_id TEXT NOT NULL,
			stream         TEXT NOT NULL,
			revision       INTEGER NOT NULL,
			event_type     TEXT NOT NULL,
			occurred_at    INTEGER,
			actor          TEXT NOT NULL,
			status_after   TEXT NOT NULL,
			payload        TEXT,
			command_id     TEXT NOT NULL,
			correlation_id TEXT NOT NULL,
			causation_id   TEXT NOT NULL
		)`, h),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[1]s_application ON %[1]s (application_id, position)`, h),

		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			day                    TEXT PRIMARY KEY,
			requested_count        INTEGER NOT NULL DEFAULT 0,
			requested_amount       INTEGER NOT NULL DEFAULT 0,
			submitted_count        INTEGER NOT NULL DEFAULT 0,
			approved_count         INTEGER NOT NULL DEFAULT 0,
			approved_amount        INTEGER NOT NULL DEFAULT 0,
			denied_count           INTEGER NOT NULL DEFAULT 0,
			denied_amount          INTEGER NOT NULL DEFAULT 0,
			signed_count           INTEGER NOT NULL DEFAULT 0,
			signed_amount          INTEGER NOT NULL DEFAULT 0,
			rejected_count         INTEGER NOT NULL DEFAULT 0,
			rejected_amount        INTEGER NOT NULL DEFAULT 0,
			decisions              INTEGER NOT NULL DEFAULT 0,
			decision_seconds_total REAL NOT NULL DEFAULT 0,
			last_position          INTEGER NOT NULL
		) WITHOUT ROWID`, d),

		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			id              INTEGER PRIMARY KEY CHECK (id = 1),
			requested       INTEGER NOT NULL DEFAULT 0,
			submitted       INTEGER NOT NULL DEFAULT 0,
			review_issued   INTEGER NOT NULL DEFAULT 0,
			approved        INTEGER NOT NULL DEFAULT 0,
			denied          INTEGER NOT NULL DEFAULT 0,
			contract_issued INTEGER NOT NULL DEFAULT 0,
			signed          INTEGER NOT NULL DEFAULT 0,
			rejected        INTEGER NOT NULL DEFAULT 0,
			last_position   INTEGER NOT NULL
		)`, f),
		fmt.Sprintf(`INSERT OR IGNORE INTO %s (id, last_position) VALUES (1, 0)`, f),
	}
}

// generationObjects names the tables and indexes generationDDL creates.
func generationObjects(gen int) []string {
	a, h := applicationsTable(gen), historyTable(gen)
	return []string{a, a + "_requested", a + "_amount", a + "_updated", a + "_status", a + "_applicant",
		h, h + "_application", dailyTable(gen), funnelTable(gen)}
}

// The analysts' views, over the active generation.
var viewNames = []string{"v_loan_applications", "v_loan_history", "v_daily_stats", "v_funnel", "v_time_to_decision"}

// isoTime is the SQL expression showing a microsecond time column as
// ISO 8601 text in UTC with six decimals ("2026-03-02T09:11:12.345678Z"),
// which SQLite's date functions accept; unset times are NULL.
func isoTime(col string) string {
	frac := fmt.Sprintf("((%[1]s %% 1000000) + 1000000) %% 1000000", col)
	return fmt.Sprintf(`CASE WHEN %[1]s IS NULL OR %[1]s = %[2]d THEN NULL `+
		`ELSE strftime('%%Y-%%m-%%dT%%H:%%M:%%S', (%[1]s - %[3]s) / 1000000, 'unixepoch') || printf('.%%06dZ', %[3]s) END`,
		col, zeroMicros, frac)
}

// viewSQL is the CREATE VIEW statement of each view for a generation, as
// stored in sqlite_master (so that Open can tell whether it is current).
func viewSQL(gen int) map[string]string {
	times := func(cols ...string) string {
		var b strings.Builder
		for _, c := range cols {
			fmt.Fprintf(&b, "\n  %s AS %s,", isoTime(c), c)
		}
		return b.String()
	}
	return map[string]string{
		"v_loan_applications": fmt.Sprintf(`CREATE VIEW v_loan_applications AS SELECT
  id AS loan_application_uuid, status, applicant, amount, duration,%s
  NULLIF(denial_reason, '') AS denial_reason, NULLIF(rejection_reason, '') AS rejection_reason,
  last_position
FROM %s`, times("requested_at", "submitted_at", "review_issued_at", "decided_at", "contract_issued_at",
			"concluded_at", "updated_at"), applicationsTable(gen)),
		"v_loan_history": fmt.Sprintf(`CREATE VIEW v_loan_history AS SELECT
  application_id AS loan_application_uuid, position, stream, revision, event_type,%s
  actor, status_after, payload, NULLIF(command_id, '') AS command_id,
  NULLIF(correlation_id, '') AS correlation_id, NULLIF(causation_id, '') AS causation_id
FROM %s`, times("occurred_at"), historyTable(gen)),
		"v_daily_stats": fmt.Sprintf(`CREATE VIEW v_daily_stats AS SELECT
  day, %s
FROM %s`, dailyColumns, dailyTable(gen)),
		"v_funnel": fmt.Sprintf(`CREATE VIEW v_funnel AS SELECT
  %s
FROM %s`, funnelColumns, funnelTable(gen)),
		"v_time_to_decision": fmt.Sprintf(`CREATE VIEW v_time_to_decision AS SELECT
  day, decisions, decision_seconds_total,
  decision_seconds_total / decisions AS avg_decision_seconds,
  decision_seconds_total / decisions / 3600.0 AS avg_decision_hours
FROM %s
WHERE decisions > 0`, dailyTable(gen)),
	}
}
