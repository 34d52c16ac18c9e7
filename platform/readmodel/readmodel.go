// Package readmodel is the read side's storage port: what the projector
// writes and what the query service reads. Two adapters implement it, held
// to one contract suite (readmodeltest): MongoDB for production (package
// mongostore) and SQLite, the embedded default (package sqlitestore).
//
// The projector folds events into documents itself (the stores only keep
// what they are given), precomputes the analysts' aggregates, and hands each
// batch over with the $all position it reaches. Every write is idempotent:
//   - an application is written only if the stored one has a lower
//     LastPosition;
//   - a history entry is keyed by its position;
//   - a statistics contribution is counted only if its position is above the
//     last position counted into the same day (or funnel).
//
// So an event delivered twice changes nothing, with or without transactions;
// where the store has transactions (SQLite; a MongoDB replica set) the batch
// and the checkpoint also commit together.
//
// Settled by the contract suite (readmodeltest), which every adapter passes:
//   - times are kept at microsecond precision, in UTC (truncated);
//   - positions are below 2^63 (both stores keep signed 64-bit integers);
//   - a checkpoint never moves backward; generation numbers are never reused;
//   - Activate refuses a generation behind the active one (ErrGenerationBehind),
//     so readers' Position never moves backward either;
//   - History of an unknown application is empty, not ErrNotFound;
//   - a contribution with an empty Day counts in the funnel only.
//
// The guards make a late event lose: an event projected after later ones of
// the same application (or the same day) is ignored. So a parked event
// replayed after the projector went past it cannot amend what it missed;
// a rebuild (a new generation projected from the start) does.
package readmodel

import (
	"context"
	"errors"
	"time"
)

// Status is where an application is, as stored (readable by analysts).
type Status string

const (
	StatusPendingSubmission Status = "pending_submission"
	StatusSubmitted         Status = "submitted"
	StatusPendingReview     Status = "pending_review"
	StatusApproved          Status = "approved"
	StatusDenied            Status = "denied"
	StatusPendingSignature  Status = "pending_signature"
	StatusSigned            Status = "signed"
	StatusRejected          Status = "rejected"
)

// Application is the read model of one loan application. Unset times are zero.
type Application struct {
	ID               string // the loan_application_uuid
	Amount           int64
	Duration         int32
	Status           Status
	Applicant        string
	RequestedAt      time.Time
	SubmittedAt      time.Time
	ReviewIssuedAt   time.Time
	DecidedAt        time.Time
	ContractIssuedAt time.Time
	ConcludedAt      time.Time
	UpdatedAt        time.Time
	DenialReason     string
	RejectionReason  string
	// LastPosition is the $all position of the last event applied.
	LastPosition uint64
}

// HistoryEntry is one event of an application's history.
type HistoryEntry struct {
	ApplicationID string
	Position      uint64 // unique: the key
	Stream        string
	Revision      uint64
	EventType     string
	OccurredAt    time.Time
	Actor         string
	StatusAfter   Status
	Payload       []byte // the event's JSON payload, as stored in the event store
	CommandID     string
	CorrelationID string
	CausationID   string
}

// DailyStats are one UTC day's counts and amounts, by the day events happened.
type DailyStats struct {
	Day                                                      string // "2006-01-02"
	RequestedCount, RequestedAmount, SubmittedCount          int64
	ApprovedCount, ApprovedAmount, DeniedCount, DeniedAmount int64
	SignedCount, SignedAmount, RejectedCount, RejectedAmount int64
	Decisions                                                int64
	DecisionSecondsTotal                                     float64
}

// Funnel counts applications that reached each step, over all time.
type Funnel struct {
	Requested, Submitted, ReviewIssued, Approved, Denied, ContractIssued, Signed, Rejected int64
}

// Contribution is what one event adds to the statistics: the day's counters
// (Day set, the other fields deltas) and the funnel's.
type Contribution struct {
	Position uint64
	Daily    DailyStats
	Funnel   Funnel
}

// Batch is what the projector writes at once.
type Batch struct {
	Applications  []Application
	History       []HistoryEntry
	Contributions []Contribution // in position order
	// Checkpoint is the $all position the batch reaches (it may be beyond
	// the last event of the batch: filtered-out events count too).
	Checkpoint uint64
}

// ParkedEvent is an event the projector could not project; it is kept with
// its error and can be replayed once the cause is fixed.
type ParkedEvent struct {
	Position  uint64
	Stream    string
	EventType string
	EventID   string
	Error     string
	ParkedAt  time.Time
}

// Filter selects applications; zero fields do not filter.
type Filter struct {
	Statuses        []Status
	Applicant       string
	RequestedAfter  time.Time // inclusive
	RequestedBefore time.Time // exclusive
	MinAmount       int64
	MaxAmount       int64
}

// Order is the order of a list.
type Order int

const (
	OrderRequestedAtDesc Order = iota
	OrderRequestedAtAsc
	OrderAmountDesc
	OrderAmountAsc
	OrderUpdatedAtDesc
)

// Page asks for one page of a list. The cursor is opaque to callers: the
// NextCursor of the previous page (empty for the first); it only works with
// the order it was made for. Pages are keyset pages, stable while
// applications are added or changed: no item shows up twice, and an item
// present through the whole walk whose sort key did not change is never
// skipped (one whose key moved behind the cursor, such as UpdatedAt under
// OrderUpdatedAtDesc, may be).
type Page struct {
	Order  Order
	Size   int
	Cursor string
}

// Errors.
var (
	ErrNotFound      = errors.New("readmodel: not found")
	ErrInvalidCursor = errors.New("readmodel: invalid page cursor")
	// ErrGenerationBehind is Activate's refusal of a generation whose
	// checkpoint is below the active generation's.
	ErrGenerationBehind = errors.New("readmodel: the generation is behind the active one")
)

// Writer is what the projector needs. Generations let a rebuild project into
// fresh tables (collections) while readers keep reading the active ones,
// then switch them over at once.
type Writer interface {
	// ActiveGeneration is the generation readers read (1 on a new store).
	ActiveGeneration(ctx context.Context) (int, error)
	// Checkpoint is the position a generation has projected up to (0: none).
	Checkpoint(ctx context.Context, generation int) (uint64, error)
	// Applications returns the stored applications of these IDs (missing
	// ones are absent from the map).
	Applications(ctx context.Context, generation int, ids []string) (map[string]Application, error)
	// Apply writes a batch and moves the checkpoint, idempotently.
	Apply(ctx context.Context, generation int, b Batch) error
	// NewGeneration creates empty tables for a rebuild and returns their
	// generation number (not active yet).
	NewGeneration(ctx context.Context) (int, error)
	// Activate switches readers to a generation at once, provided its
	// checkpoint is at or past the active generation's; otherwise it
	// changes nothing and fails with ErrGenerationBehind, since readers'
	// Position would go back (consistency tokens already satisfied would
	// wait again, and readers would see older data). The check and the
	// switch are one atomic step where the store has transactions (SQLite,
	// a MongoDB replica set): a concurrent Apply to the active generation
	// lands either before both or after both. Without transactions (a
	// standalone MongoDB server, FerretDB) they are two steps, and an Apply
	// landing between them can still move readers back by what it added.
	Activate(ctx context.Context, generation int) error
	// DropGeneration deletes an inactive generation's tables.
	DropGeneration(ctx context.Context, generation int) error
	// Park keeps an event that failed to project; Parked lists them, oldest
	// first; Unpark removes one once replayed.
	Park(ctx context.Context, e ParkedEvent) error
	Parked(ctx context.Context) ([]ParkedEvent, error)
	Unpark(ctx context.Context, position uint64) error
}

// Reader is what the query service needs; it reads the active generation.
type Reader interface {
	// Position is the active generation's checkpoint (for consistency tokens).
	Position(ctx context.Context) (uint64, error)
	Get(ctx context.Context, id string) (Application, error)
	List(ctx context.Context, f Filter, p Page) (items []Application, nextCursor string, err error)
	History(ctx context.Context, id string) ([]HistoryEntry, error)
	// Stats returns the days from fromDay to toDay inclusive that have data,
	// in order, and the funnel.
	Stats(ctx context.Context, fromDay, toDay string) ([]DailyStats, Funnel, error)
}

// Store is both, plus Close.
type Store interface {
	Writer
	Reader
	Close() error
}

// MaxPageSize bounds a page; DefaultPageSize is used when none is asked.
const (
	MaxPageSize     = 100
	DefaultPageSize = 20
)

// Add adds another day's (or contribution's) counters into d.
func (d *DailyStats) Add(o DailyStats) {
	d.RequestedCount += o.RequestedCount
	d.RequestedAmount += o.RequestedAmount
	d.SubmittedCount += o.SubmittedCount
	d.ApprovedCount += o.ApprovedCount
	d.ApprovedAmount += o.ApprovedAmount
	d.DeniedCount += o.DeniedCount
	d.DeniedAmount += o.DeniedAmount
	d.SignedCount += o.SignedCount
	d.SignedAmount += o.SignedAmount
	d.RejectedCount += o.RejectedCount
	d.RejectedAmount += o.RejectedAmount
	d.Decisions += o.Decisions
	d.DecisionSecondsTotal += o.DecisionSecondsTotal
}

// Add adds another funnel's counters into f.
func (f *Funnel) Add(o Funnel) {
	f.Requested += o.Requested
	f.Submitted += o.Submitted
	f.ReviewIssued += o.ReviewIssued
	f.Approved += o.Approved
	f.Denied += o.Denied
	f.ContractIssued += o.ContractIssued
	f.Signed += o.Signed
	f.Rejected += o.Rejected
}
