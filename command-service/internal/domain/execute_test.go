package domain

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// foreignCommand is a command no aggregate knows.
type foreignCommand struct{}

func (foreignCommand) AggregateID() uuid.UUID { return appID }

// aggregateUnderTest is one aggregate type in each of its reachable states,
// with the commands it handles.
type aggregateUnderTest struct {
	name    string
	states  map[string]func(Command) ([]Event, error)
	handles func(Command) bool
}

func aggregatesUnderTest() []aggregateUnderTest {
	request := func(given ...Event) func(Command) ([]Event, error) { return replay[LoanRequest](given).Execute }
	review := func(given ...Event) func(Command) ([]Event, error) { return replay[LoanReview](given).Execute }
	contract := func(given ...Event) func(Command) ([]Event, error) { return replay[LoanContract](given).Execute }
	return []aggregateUnderTest{
		{
			name: "LoanRequest",
			states: map[string]func(Command) ([]Event, error){
				"none":               request(),
				"pending_submission": request(loanRequested),
				"submitted":          request(loanRequested, loanRequestSubmitted),
			},
			handles: func(c Command) bool {
				switch c.(type) {
				case RequestLoan, SubmitLoanRequest:
					return true
				}
				return false
			},
		},
		{
			name: "LoanReview",
			states: map[string]func(Command) ([]Event, error){
				"none":           review(),
				"pending_review": review(loanReviewIssued),
				"approved":       review(loanReviewIssued, loanApproved),
				"denied":         review(loanReviewIssued, loanDenied),
			},
			handles: func(c Command) bool {
				switch c.(type) {
				case IssueLoanReview, ApproveLoan, DenyLoan:
					return true
				}
				return false
			},
		},
		{
			name: "LoanContract",
			states: map[string]func(Command) ([]Event, error){
				"none":              contract(),
				"pending_signature": contract(loanContractIssued),
				"signed":            contract(loanContractIssued, contractSigned),
				"rejected":          contract(loanContractIssued, contractRejected),
			},
			handles: func(c Command) bool {
				switch c.(type) {
				case IssueLoanContract, SignContract, RejectContract:
					return true
				}
				return false
			},
		},
	}
}

// allCommands is every command type, valid and zero, and what is not a
// command value at all: nil, pointers (commands are values), a stranger.
func allCommands() []Command {
	return []Command{
		requestLoan(), RequestLoan{},
		SubmitLoanRequest{ApplicationID: appID}, SubmitLoanRequest{},
		issueLoanReview(), IssueLoanReview{},
		ApproveLoan{ApplicationID: appID}, ApproveLoan{},
		DenyLoan{ApplicationID: appID, Reason: "no"}, DenyLoan{},
		issueLoanContract(), IssueLoanContract{},
		SignContract{ApplicationID: appID}, SignContract{},
		RejectContract{ApplicationID: appID}, RejectContract{},
		nil, foreignCommand{},
		&SubmitLoanRequest{ApplicationID: appID}, (*RequestLoan)(nil), (*DenyLoan)(nil),
	}
}

// TestExecute_NeverPanics runs every command against every aggregate in
// every state: a command of another aggregate is refused with
// COMMAND_NOT_HANDLED; an own command gives one event or a domain error.
func TestExecute_NeverPanics(t *testing.T) {
	for _, agg := range aggregatesUnderTest() {
		for state, execute := range agg.states {
			for _, cmd := range allCommands() {
				name := fmt.Sprintf("%s/%s/%T", agg.name, state, cmd)
				t.Run(name, func(t *testing.T) {
					events, err := executeSafely(t, execute, cmd)
					if !agg.handles(cmd) {
						var de *Error
						if !errors.As(err, &de) || de == nil || de.Kind != KindInvalidArgument || de.Reason != ReasonCommandNotHandled {
							t.Fatalf("Execute(%T) = %v, %v; want COMMAND_NOT_HANDLED", cmd, events, err)
						}
						if want := fmt.Sprintf("command %T is not handled by %s", cmd, agg.name); de.Message != want {
							t.Errorf("message = %q; want %q", de.Message, want)
						}
						return
					}
					checkOutcome(t, events, err)
				})
			}
		}
	}
}

func executeSafely(t *testing.T, execute func(Command) ([]Event, error), cmd Command) (events []Event, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Execute(%T) panicked: %v", cmd, r)
		}
	}()
	return execute(cmd)
}

// checkOutcome holds for every decision: exactly one event, or no event and
// a non-nil *Error of a known kind with a stable reason and a message.
func checkOutcome(t *testing.T, events []Event, err error) {
	t.Helper()
	if err == nil {
		if len(events) != 1 || events[0] == nil {
			t.Fatalf("accepted with events %v; want exactly one", events)
		}
		return
	}
	var de *Error
	if !errors.As(err, &de) || de == nil {
		t.Fatalf("error %T(%v); want a non-nil *domain.Error", err, err)
	}
	if events != nil {
		t.Errorf("refused with %s but returned events %v", de.Reason, events)
	}
	if de.Kind < KindInvalidArgument || de.Kind > KindNotFound {
		t.Errorf("refused with unknown kind %d", de.Kind)
	}
	if de.Reason == "" || strings.ToUpper(string(de.Reason)) != string(de.Reason) || de.Message == "" {
		t.Errorf("refused with reason %q and message %q; want both", de.Reason, de.Message)
	}
}
