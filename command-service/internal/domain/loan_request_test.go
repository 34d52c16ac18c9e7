package domain

import (
	"math"
	"strings"
	"testing"

	"github.com/google/uuid"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// requestLoan is a valid RequestLoan with the default limits.
func requestLoan() RequestLoan {
	return RequestLoan{ApplicationID: appID, Amount: amount, Duration: duration, Applicant: applicant}
}

func requestLoanOf(amount int64, duration int32) RequestLoan {
	c := requestLoan()
	c.Amount, c.Duration = amount, duration
	return c
}

func requestedOf(amount int64, duration int32) *loansv1.LoanRequested {
	return &loansv1.LoanRequested{LoanApplicationUuid: appUUID, Amount: amount, Duration: duration, Applicant: applicant}
}

func TestDefaultLimits(t *testing.T) {
	if got, want := DefaultLimits(), (Limits{MaxAmount: 1_000_000, MaxDuration: 360}); got != want {
		t.Errorf("DefaultLimits() = %+v; want %+v", got, want)
	}
	if MinAmount != 500 || MinDuration != 3 {
		t.Errorf("MinAmount, MinDuration = %d, %d; want 500, 3", MinAmount, MinDuration)
	}
}

func TestLoanRequest_Execute(t *testing.T) {
	type A = LoanRequest

	// RequestLoan.
	t.Run("OK", func(t *testing.T) {
		assertEvents[A](t, nil, requestLoan(), []Event{loanRequested})
	})
	t.Run("ApplicantRequired", func(t *testing.T) {
		// Every application has an owner: the only one who may submit and sign it.
		c := requestLoan()
		c.Applicant = ""
		err := assertError[A](t, nil, c, KindInvalidArgument, ReasonApplicantRequired)
		assertMessage(t, err, "an application needs an applicant")
	})
	t.Run("ApplicantTooLong", func(t *testing.T) {
		c := requestLoan()
		c.Applicant = strings.Repeat("a", MaxApplicantLength+1)
		assertError[A](t, nil, c, KindInvalidArgument, ReasonApplicantTooLong)
		c.Applicant = strings.Repeat("a", MaxApplicantLength)
		want := requestedOf(amount, duration)
		want.Applicant = c.Applicant
		assertEvents[A](t, nil, c, []Event{want})
	})
	t.Run("LoanApplicationUUIDRequired", func(t *testing.T) {
		c := requestLoan()
		c.ApplicationID = uuid.Nil
		err := assertError[A](t, nil, c, KindInvalidArgument, ReasonLoanApplicationUUIDRequired)
		assertMessage(t, err, "the loan application UUID is required")
	})
	t.Run("AmountIsTooLow", func(t *testing.T) {
		err := assertError[A](t, nil, requestLoanOf(499, duration), KindInvalidArgument, ReasonAmountIsTooLow)
		assertMessage(t, err, "amount 499 is below the minimum of 500")
		for _, a := range []int64{0, -1, math.MinInt64} {
			assertError[A](t, nil, requestLoanOf(a, duration), KindInvalidArgument, ReasonAmountIsTooLow)
		}
	})
	t.Run("AmountAtMinimum", func(t *testing.T) {
		assertEvents[A](t, nil, requestLoanOf(500, duration), []Event{requestedOf(500, duration)})
	})
	t.Run("AmountAtMaximum", func(t *testing.T) {
		assertEvents[A](t, nil, requestLoanOf(1_000_000, duration), []Event{requestedOf(1_000_000, duration)})
	})
	t.Run("AmountIsTooHigh", func(t *testing.T) {
		err := assertError[A](t, nil, requestLoanOf(1_000_001, duration), KindInvalidArgument, ReasonAmountIsTooHigh)
		assertMessage(t, err, "amount 1000001 is above the maximum of 1000000")
		assertError[A](t, nil, requestLoanOf(math.MaxInt64, duration), KindInvalidArgument, ReasonAmountIsTooHigh)
	})
	t.Run("DurationIsTooLow", func(t *testing.T) {
		err := assertError[A](t, nil, requestLoanOf(amount, 2), KindInvalidArgument, ReasonDurationIsTooLow)
		assertMessage(t, err, "duration of 2 months is below the minimum of 3 months")
		for _, d := range []int32{0, -1, math.MinInt32} {
			assertError[A](t, nil, requestLoanOf(amount, d), KindInvalidArgument, ReasonDurationIsTooLow)
		}
	})
	t.Run("DurationAtMinimum", func(t *testing.T) {
		assertEvents[A](t, nil, requestLoanOf(amount, 3), []Event{requestedOf(amount, 3)})
	})
	t.Run("DurationAtMaximum", func(t *testing.T) {
		assertEvents[A](t, nil, requestLoanOf(amount, 360), []Event{requestedOf(amount, 360)})
	})
	t.Run("DurationIsTooHigh", func(t *testing.T) {
		err := assertError[A](t, nil, requestLoanOf(amount, 361), KindInvalidArgument, ReasonDurationIsTooHigh)
		assertMessage(t, err, "duration of 361 months is above the maximum of 360 months")
		assertError[A](t, nil, requestLoanOf(amount, math.MaxInt32), KindInvalidArgument, ReasonDurationIsTooHigh)
	})
	t.Run("ConfiguredLimits", func(t *testing.T) {
		limited := func(a int64, d int32) RequestLoan {
			c := requestLoanOf(a, d)
			c.Limits = Limits{MaxAmount: 50_000, MaxDuration: 60}
			return c
		}
		assertEvents[A](t, nil, limited(50_000, 60), []Event{requestedOf(50_000, 60)})
		err := assertError[A](t, nil, limited(50_001, 60), KindInvalidArgument, ReasonAmountIsTooHigh)
		assertMessage(t, err, "amount 50001 is above the maximum of 50000")
		err = assertError[A](t, nil, limited(50_000, 61), KindInvalidArgument, ReasonDurationIsTooHigh)
		assertMessage(t, err, "duration of 61 months is above the maximum of 60 months")
	})
	t.Run("UnsetLimitIsDefault", func(t *testing.T) {
		// Configuring one bound leaves the other at its default rather than at zero.
		c := requestLoanOf(1_000_000, 360)
		c.Limits = Limits{MaxAmount: 1_000_000}
		assertEvents[A](t, nil, c, []Event{requestedOf(1_000_000, 360)})
		c.Limits = Limits{MaxDuration: 360}
		assertEvents[A](t, nil, c, []Event{requestedOf(1_000_000, 360)})
		c.Duration = 361
		assertError[A](t, nil, c, KindInvalidArgument, ReasonDurationIsTooHigh)
	})
	t.Run("AmountIsReportedBeforeDuration", func(t *testing.T) {
		assertError[A](t, nil, requestLoanOf(499, 2), KindInvalidArgument, ReasonAmountIsTooLow)
		assertError[A](t, nil, requestLoanOf(1_000_001, 361), KindInvalidArgument, ReasonAmountIsTooHigh)
	})
	t.Run("UUIDIsReportedBeforeTerms", func(t *testing.T) {
		c := requestLoanOf(499, 2)
		c.ApplicationID = uuid.Nil
		assertError[A](t, nil, c, KindInvalidArgument, ReasonLoanApplicationUUIDRequired)
	})
	t.Run("LoanAlreadyRequested", func(t *testing.T) {
		err := assertError[A](t, []Event{loanRequested}, requestLoan(), KindAlreadyExists, ReasonLoanAlreadyRequested)
		assertMessage(t, err, "loan application "+appUUID+" has already been requested")
		assertError[A](t, []Event{loanRequested, loanRequestSubmitted}, requestLoan(), KindAlreadyExists, ReasonLoanAlreadyRequested)
	})
	t.Run("TermsAreReportedBeforeExistence", func(t *testing.T) {
		// Invalid arguments are invalid whatever the state.
		assertError[A](t, []Event{loanRequested}, requestLoanOf(499, duration), KindInvalidArgument, ReasonAmountIsTooLow)
	})

	// SubmitLoanRequest.
	submit := SubmitLoanRequest{ApplicationID: appID}
	t.Run("Submit", func(t *testing.T) {
		assertEvents[A](t, []Event{loanRequested}, submit, []Event{loanRequestSubmitted})
	})
	t.Run("SubmitCarriesRequestedTerms", func(t *testing.T) {
		want := &loansv1.LoanRequestSubmitted{LoanApplicationUuid: appUUID, Amount: 500, Duration: 3, Applicant: applicant}
		assertEvents[A](t, []Event{requestedOf(500, 3)}, submit, []Event{want})
	})
	t.Run("LoanRequestNotFound", func(t *testing.T) {
		err := assertError[A](t, nil, submit, KindNotFound, ReasonLoanRequestNotFound)
		assertMessage(t, err, "loan application "+appUUID+" has not been requested")
	})
	t.Run("LoanRequestAlreadySubmitted", func(t *testing.T) {
		err := assertError[A](t, []Event{loanRequested, loanRequestSubmitted}, submit, KindFailedPrecondition, ReasonLoanRequestAlreadySubmitted)
		assertMessage(t, err, "loan application "+appUUID+" has already been submitted")
	})
	t.Run("SubmitLoanApplicationUUIDRequired", func(t *testing.T) {
		assertError[A](t, nil, SubmitLoanRequest{}, KindInvalidArgument, ReasonLoanApplicationUUIDRequired)
	})
}

func TestLoanRequest_Apply(t *testing.T) {
	t.Run("Lifecycle", func(t *testing.T) {
		for _, tc := range []struct {
			given []Event
			want  Status
		}{
			{nil, StatusNone},
			{[]Event{loanRequested}, StatusPendingSubmission},
			{[]Event{loanRequested, loanRequestSubmitted}, StatusSubmitted},
		} {
			if got := replay[LoanRequest](tc.given).Status(); got != tc.want {
				t.Errorf("Status() after %v = %q; want %q", tc.given, got, tc.want)
			}
		}
	})
	t.Run("IgnoresForeignEvents", func(t *testing.T) {
		for _, s := range []LoanRequest{replay[LoanRequest](nil), replay[LoanRequest]([]Event{loanRequested})} {
			for _, e := range append(allEvents()[2:], nil, (*loansv1.LoanRequested)(nil), &loansv1.CommandResult{}) {
				if got := s.Apply(e); got != s {
					t.Errorf("Apply(%T) changed %+v into %+v", e, s, got)
				}
			}
		}
	})
	t.Run("ReturnsANewValue", func(t *testing.T) {
		var before LoanRequest
		_ = before.Apply(loanRequested)
		if before.Status() != StatusNone {
			t.Errorf("Apply changed its receiver")
		}
	})
}
