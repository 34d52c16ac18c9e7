package domain

import "testing"

// TestStreams pins the stream names: stored events live under them.
func TestStreams(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"LoanRequestStream", LoanRequestStream(appID), "loanRequest-" + appUUID},
		{"LoanReviewStream", LoanReviewStream(appID), "loanReview-" + appUUID},
		{"LoanContractStream", LoanContractStream(appID), "loanContract-" + appUUID},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q; want %q", tc.name, tc.got, tc.want)
		}
	}
}
