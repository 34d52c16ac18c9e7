// Package domain holds the decisions of the loan command service: three
// event-sourced aggregates (LoanRequest, LoanReview, LoanContract), the
// commands they accept and the errors they refuse them with.
//
// It is pure on purpose: no I/O, no clock, no randomness, no logging. Every
// decision is a function of the aggregate's past events and the command, so
// it can be replayed, tested as given/when/then, and trusted to give the same
// answer on every node. What a decision needs from elsewhere (limits, the
// terms of a loan) comes in the command.
//
// An aggregate is a value. Its zero value is the aggregate before its first
// event; Apply folds an event into a new value and never fails, so that any
// stored stream can always be read; Execute checks the invariants and
// returns the events to append, or an *Error.
package domain
