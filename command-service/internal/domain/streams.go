package domain

import "github.com/google/uuid"

// Stream prefixes are part of the stored data: events already written live
// under these names, so they must never change.
const (
	loanRequestStreamPrefix  = "loanRequest-"
	loanReviewStreamPrefix   = "loanReview-"
	loanContractStreamPrefix = "loanContract-"
)

// LoanRequestStream names the stream of the LoanRequest aggregate of an
// application: "loanRequest-<uuid>".
func LoanRequestStream(id uuid.UUID) string { return loanRequestStreamPrefix + id.String() }

// LoanReviewStream names the stream of the LoanReview aggregate of an
// application: "loanReview-<uuid>".
func LoanReviewStream(id uuid.UUID) string { return loanReviewStreamPrefix + id.String() }

// LoanContractStream names the stream of the LoanContract aggregate of an
// application: "loanContract-<uuid>".
func LoanContractStream(id uuid.UUID) string { return loanContractStreamPrefix + id.String() }
