package domain

// Status is where an aggregate is in its lifecycle. It is a string so that
// projections and APIs can show it as is.
type Status string

// The statuses of the three aggregates. StatusNone is the zero value: the
// aggregate has no event yet.
const (
	StatusNone Status = ""

	// LoanRequest: none -> pending_submission -> submitted.
	StatusPendingSubmission Status = "pending_submission"
	StatusSubmitted         Status = "submitted"

	// LoanReview: none -> pending_review -> approved | denied.
	StatusPendingReview Status = "pending_review"
	StatusApproved      Status = "approved"
	StatusDenied        Status = "denied"

	// LoanContract: none -> pending_signature -> signed | rejected.
	StatusPendingSignature Status = "pending_signature"
	StatusSigned           Status = "signed"
	StatusRejected         Status = "rejected"
)
