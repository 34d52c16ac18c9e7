package domain

import (
	"testing"

	"github.com/google/uuid"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// statusAggregate is an aggregate whose status tests can read.
type statusAggregate[A any] interface {
	Aggregate[A]
	Status() Status
}

// FuzzExecute replays arbitrary histories (any events, in any order, with
// nils) and executes arbitrary commands on all three aggregates. Whatever the
// input: no panic, one event or an *Error, and an accepted command always
// moves the aggregate to another status (so it cannot be accepted twice).
func FuzzExecute(f *testing.F) {
	f.Add([]byte{}, uint8(0), appID[:], amount, duration, applicant, int64(0), int32(0))
	f.Add([]byte{0}, uint8(1), appID[:], int64(499), int32(2), "", int64(0), int32(0))
	f.Add([]byte{2}, uint8(4), appID[:], int64(0), int32(0), " ", int64(-1), int32(-1))
	f.Add([]byte{2, 3, 4, 8, 9}, uint8(3), []byte{}, int64(1_000_001), int32(361), "x", int64(10), int32(1))
	f.Add([]byte{5, 7, 6}, uint8(7), appID[:], int64(-5), int32(400), "reason", int64(1<<62), int32(1<<30))
	f.Fuzz(func(t *testing.T, history []byte, which uint8, id []byte, amount int64, duration int32, text string, maxAmount int64, maxDuration int32) {
		var given []Event
		for _, b := range history {
			given = append(given, fuzzEvent(b))
		}
		cmd := fuzzCommand(which, fuzzID(id), amount, duration, text, Limits{MaxAmount: maxAmount, MaxDuration: maxDuration})
		fuzzAggregate[LoanRequest](t, given, cmd)
		fuzzAggregate[LoanReview](t, given, cmd)
		fuzzAggregate[LoanContract](t, given, cmd)
	})
}

func fuzzAggregate[A statusAggregate[A]](t *testing.T, given []Event, cmd Command) {
	t.Helper()
	a := replay[A](given)
	events, err := executeSafely(t, a.Execute, cmd)
	checkOutcome(t, events, err)
	if err == nil && a.Apply(events[0]).Status() == a.Status() {
		t.Errorf("%T accepted %T without changing its status %q", a, cmd, a.Status())
	}
}

func fuzzEvent(b byte) Event {
	all := allEvents()
	switch i := int(b) % (len(all) + 2); i {
	case len(all):
		return nil
	case len(all) + 1:
		return (*loansv1.LoanRequested)(nil)
	default:
		return all[i]
	}
}

func fuzzID(b []byte) uuid.UUID {
	id, err := uuid.FromBytes(b)
	if err != nil {
		return uuid.Nil
	}
	return id
}

func fuzzCommand(which uint8, id uuid.UUID, amount int64, duration int32, text string, limits Limits) Command {
	switch which % 10 {
	case 0:
		return RequestLoan{ApplicationID: id, Amount: amount, Duration: duration, Applicant: text, Limits: limits}
	case 1:
		return SubmitLoanRequest{ApplicationID: id}
	case 2:
		return IssueLoanReview{ApplicationID: id, Amount: amount, Duration: duration, Applicant: text}
	case 3:
		return ApproveLoan{ApplicationID: id}
	case 4:
		return DenyLoan{ApplicationID: id, Reason: text}
	case 5:
		return IssueLoanContract{ApplicationID: id, Amount: amount, Duration: duration, Applicant: text}
	case 6:
		return SignContract{ApplicationID: id}
	case 7:
		return RejectContract{ApplicationID: id, Reason: text}
	case 8:
		return foreignCommand{}
	default:
		return nil
	}
}
