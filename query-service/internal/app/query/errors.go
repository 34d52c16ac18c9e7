package query

import "fmt"

// Kind classifies a refusal so that the ports map it to a transport status
// (gRPC code, HTTP status) in one table without knowing every reason.
type Kind int

// Kinds start at one: a zero Kind is a bug, not a silent InvalidArgument.
const (
	// KindInvalidArgument: the query is wrong whatever the data.
	KindInvalidArgument Kind = iota + 1
	// KindNotFound: what the query asks for does not exist (yet).
	KindNotFound
	// KindUnavailable: the read model could not answer (unreachable, or
	// not caught up in time); retry.
	KindUnavailable
	// KindUnauthenticated: the query came with no verified caller at all.
	KindUnauthenticated
	// KindPermissionDenied: the caller is known, but the policy
	// (policy.go) does not let them ask this.
	KindPermissionDenied
)

// Reason is a stable, machine-readable cause of a refusal, sent to clients
// as the google.rpc.ErrorInfo reason. Clients branch on it: never rename one.
type Reason string

// The reasons of the query side.
const (
	ReasonLoanApplicationUUIDInvalid Reason = "LOAN_APPLICATION_UUID_INVALID"
	ReasonLoanApplicationNotFound    Reason = "LOAN_APPLICATION_NOT_FOUND"
	ReasonStatusInvalid              Reason = "STATUS_INVALID"
	ReasonOrderInvalid               Reason = "ORDER_INVALID"
	ReasonAmountRangeInvalid         Reason = "AMOUNT_RANGE_INVALID"
	ReasonRequestedRangeInvalid      Reason = "REQUESTED_RANGE_INVALID"
	ReasonTimestampInvalid           Reason = "TIMESTAMP_INVALID"
	ReasonPageSizeInvalid            Reason = "PAGE_SIZE_INVALID"
	ReasonPageTokenInvalid           Reason = "PAGE_TOKEN_INVALID"
	ReasonAtRequired                 Reason = "AT_REQUIRED"
	ReasonDayInvalid                 Reason = "DAY_INVALID"
	ReasonDayRangeInvalid            Reason = "DAY_RANGE_INVALID"
	ReasonDayRangeTooLong            Reason = "DAY_RANGE_TOO_LONG"
	ReasonReadModelBehind            Reason = "READ_MODEL_BEHIND"
	ReasonReadModelUnavailable       Reason = "READ_MODEL_UNAVAILABLE"
	ReasonPrincipalMissing           Reason = "PRINCIPAL_MISSING"
	ReasonRoleRequired               Reason = "ROLE_REQUIRED"
	ReasonApplicantFilterNotAllowed  Reason = "APPLICANT_FILTER_NOT_ALLOWED"
)

// Error is a refusal of a query. Message is a sentence for humans; Reason is
// what programs compare; Metadata (optional) goes into the ErrorInfo.
type Error struct {
	Kind     Kind
	Reason   Reason
	Message  string
	Metadata map[string]string
	// Cause is the store's own error behind an outage, for the logs: it
	// never reaches the client (it may name hosts and paths).
	Cause error
}

// Error reads "REASON: message".
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	return string(e.Reason) + ": " + e.Message
}

// Unwrap is the cause, if any.
func (e *Error) Unwrap() error { return e.Cause }

func invalid(reason Reason, message string) *Error {
	return &Error{Kind: KindInvalidArgument, Reason: reason, Message: message}
}

// Invalid is a refusal of a malformed query; the ports use it for what they
// reject while translating a request (an unknown enum value, a timestamp out
// of range), so that every refusal goes through the same table.
func Invalid(reason Reason, format string, args ...any) *Error {
	return invalid(reason, fmt.Sprintf(format, args...))
}

func notFound(id string) *Error {
	return &Error{Kind: KindNotFound, Reason: ReasonLoanApplicationNotFound, Message: "no loan application " + quote(id)}
}
