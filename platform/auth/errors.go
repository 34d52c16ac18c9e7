package auth

import (
	"errors"
	"fmt"
)

// Reasons (google.rpc.ErrorInfo) of the calls refused for their token.
const (
	ReasonTokenMissing     = "TOKEN_MISSING"
	ReasonTokenInvalid     = "TOKEN_INVALID"
	ReasonTokenExpired     = "TOKEN_EXPIRED"
	ReasonTokenNotYetValid = "TOKEN_NOT_YET_VALID"
	ReasonSubjectReserved  = "SUBJECT_RESERVED"
	// ReasonIssuerUnavailable: the issuer's discovery document or keys could
	// not be fetched; the token was neither accepted nor refused (retry).
	ReasonIssuerUnavailable = "IDENTITY_PROVIDER_UNAVAILABLE"
)

// Error is why a token was not accepted.
type Error struct {
	Reason  string
	Message string
	// Temporary: the issuer could not be reached; the same token may be
	// accepted later.
	Temporary bool
	Err       error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func refused(reason string, err error, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), Err: err}
}

// IsTemporary tells whether err says the issuer was unreachable.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary
}
