package domain

// Kind classifies a refusal so that the ports can map it to a transport
// status (gRPC code, HTTP status) in one table without knowing every reason.
type Kind int

// Kinds start at one so that a zero Kind is recognisably "not set" (a bug),
// rather than silently meaning KindInvalidArgument.
const (
	// KindInvalidArgument: the command is wrong whatever the state.
	KindInvalidArgument Kind = iota + 1
	// KindFailedPrecondition: the command is valid but not in this state.
	KindFailedPrecondition
	// KindAlreadyExists: the command would create what already exists.
	KindAlreadyExists
	// KindNotFound: the command targets what does not exist yet.
	KindNotFound
)

// Reason is a stable, machine-readable cause of a refusal, sent to clients
// (as google.rpc.ErrorInfo reason). Clients branch on it: never rename one.
type Reason string

// The reasons, one vocabulary for the whole domain.
const (
	ReasonLoanApplicationUUIDRequired Reason = "LOAN_APPLICATION_UUID_REQUIRED"
	ReasonCommandNotHandled           Reason = "COMMAND_NOT_HANDLED"
	ReasonReasonTooLong               Reason = "REASON_TOO_LONG"
	ReasonApplicantRequired           Reason = "APPLICANT_REQUIRED"
	ReasonApplicantTooLong            Reason = "APPLICANT_TOO_LONG"

	// LoanRequest.
	ReasonAmountIsTooLow              Reason = "AMOUNT_IS_TOO_LOW"
	ReasonAmountIsTooHigh             Reason = "AMOUNT_IS_TOO_HIGH"
	ReasonDurationIsTooLow            Reason = "DURATION_IS_TOO_LOW"
	ReasonDurationIsTooHigh           Reason = "DURATION_IS_TOO_HIGH"
	ReasonLoanAlreadyRequested        Reason = "LOAN_ALREADY_REQUESTED"
	ReasonLoanRequestNotFound         Reason = "LOAN_REQUEST_NOT_FOUND"
	ReasonLoanRequestAlreadySubmitted Reason = "LOAN_REQUEST_ALREADY_SUBMITTED"

	// LoanReview.
	ReasonLoanReviewAlreadyIssued Reason = "LOAN_REVIEW_ALREADY_ISSUED"
	ReasonLoanReviewNotFound      Reason = "LOAN_REVIEW_NOT_FOUND"
	ReasonLoanAlreadyDecided      Reason = "LOAN_ALREADY_DECIDED"
	ReasonDenialReasonRequired    Reason = "DENIAL_REASON_REQUIRED"

	// LoanContract.
	ReasonLoanContractAlreadyIssued Reason = "LOAN_CONTRACT_ALREADY_ISSUED"
	ReasonLoanContractNotFound      Reason = "LOAN_CONTRACT_NOT_FOUND"
	ReasonContractAlreadyConcluded  Reason = "CONTRACT_ALREADY_CONCLUDED"
)

// Error is the only error the domain returns: a refusal of a command.
// Message is a sentence for humans; Reason is what programs compare.
type Error struct {
	Kind    Kind
	Reason  Reason
	Message string
}

// Error reads "REASON: message".
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	return string(e.Reason) + ": " + e.Message
}

func refuse(kind Kind, reason Reason, message string) *Error {
	return &Error{Kind: kind, Reason: reason, Message: message}
}
