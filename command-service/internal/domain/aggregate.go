package domain

import (
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
)

// Event is a domain event: a pointer to one of the loansv1 event messages.
// The contract's messages are the events themselves, so that what is
// decided here is exactly what is stored and published.
type Event = proto.Message

// Aggregate is what the application layer needs from LoanRequest,
// LoanReview and LoanContract: fold the stream with Apply, starting from the
// zero value, then decide with Execute.
type Aggregate[A any] interface {
	Execute(Command) ([]Event, error)
	Apply(Event) A
	// Applicant is who requested the application ("" before it exists):
	// the owner that authorization checks the caller against.
	Applicant() string
}

var (
	_ Aggregate[LoanRequest]  = LoanRequest{}
	_ Aggregate[LoanReview]   = LoanReview{}
	_ Aggregate[LoanContract] = LoanContract{}
)

// terms are what was asked for; each aggregate keeps them so that the events
// it emits carry them onward and the next aggregate needs nothing else.
type terms struct {
	amount    int64
	duration  int32
	applicant string
}

// requireID refuses a command without an application: the nil UUID would
// name a stream shared by every such mistake.
func requireID(id uuid.UUID) error {
	if id == uuid.Nil {
		return refuse(KindInvalidArgument, ReasonLoanApplicationUUIDRequired,
			"the loan application UUID is required")
	}
	return nil
}

// notHandled refuses a command meant for another aggregate (or none): it is
// the caller's routing mistake, answered rather than panicking.
func notHandled(cmd Command, aggregate string) error {
	return refuse(KindInvalidArgument, ReasonCommandNotHandled,
		fmt.Sprintf("command %T is not handled by %s", cmd, aggregate))
}

// checkReason bounds a free-text reason.
func checkReason(reason string) error {
	if n := utf8.RuneCountInString(reason); n > MaxReasonLength {
		return refuse(KindInvalidArgument, ReasonReasonTooLong,
			fmt.Sprintf("the reason has %d characters; at most %d are kept", n, MaxReasonLength))
	}
	return nil
}

// isNoEvent reports a nil event, typed or not. Stored streams never hold one,
// so Apply ignores it instead of opening an aggregate with empty terms.
func isNoEvent(e Event) bool {
	return e == nil || !e.ProtoReflect().IsValid()
}
