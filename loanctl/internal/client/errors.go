package client

import (
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Refusal is a service's answer that a call was not done, with its stable
// reason (google.rpc.ErrorInfo), such as AMOUNT_IS_TOO_LOW.
type Refusal struct {
	Code    codes.Code
	Reason  string // "" when the status carries no ErrorInfo
	Message string
}

// AsRefusal reads a gRPC status out of err.
func AsRefusal(err error) (*Refusal, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return nil, false
	}
	r := &Refusal{Code: st.Code(), Message: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			r.Reason = info.GetReason()
			break
		}
	}
	return r, true
}

// CodeName is a code as the API documents it: INVALID_ARGUMENT.
func CodeName(c codes.Code) string {
	if n, ok := code.Code_name[int32(c)]; ok {
		return n
	}
	return c.String()
}

// Error reads: refused: INVALID_ARGUMENT AMOUNT_IS_TOO_LOW: amount 100 is
// below the minimum of 500. A status without a reason is not a decision of
// the service's rules (the network, a deadline): "failed: UNAVAILABLE: …".
func (r *Refusal) Error() string {
	var b strings.Builder
	if r.Reason != "" {
		b.WriteString("refused: ")
	} else {
		b.WriteString("failed: ")
	}
	b.WriteString(CodeName(r.Code))
	if r.Reason != "" {
		b.WriteString(" " + r.Reason)
	}
	if r.Message != "" {
		b.WriteString(": " + r.Message)
	}
	return b.String()
}

// Describe turns a call's error into a Refusal when it is a gRPC status,
// adding a hint where the code has a usual cause; other errors pass as
// they are.
func Describe(err error, service, addr string) error {
	r, ok := AsRefusal(err)
	if !ok {
		return err
	}
	switch {
	case r.Code == codes.Unavailable && r.Reason == "":
		r.Message += fmt.Sprintf(" (is the %s running at %s?)", service, addr)
	case r.Code == codes.Unauthenticated:
		r.Message += " (run loanctl login)"
	}
	return r
}
