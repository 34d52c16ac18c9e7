package output

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// Status is a status as people and --status write it: pending_review.
func Status(s loansv1.LoanStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "LOAN_STATUS_"))
}

// ParseStatus reads a status: pending_review, pending-review or
// LOAN_STATUS_PENDING_REVIEW.
func ParseStatus(s string) (loansv1.LoanStatus, error) {
	name := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	if !strings.HasPrefix(name, "LOAN_STATUS_") {
		name = "LOAN_STATUS_" + name
	}
	v, ok := loansv1.LoanStatus_value[name]
	if !ok || v == 0 {
		return 0, fmt.Errorf("status %q: want one of %s", s, strings.Join(StatusNames(), ", "))
	}
	return loansv1.LoanStatus(v), nil
}

// StatusNames are the statuses --status takes.
func StatusNames() []string {
	var names []string
	for v := range slices.Sorted(maps.Keys(loansv1.LoanStatus_name)) {
		if v != 0 {
			names = append(names, Status(loansv1.LoanStatus(v)))
		}
	}
	return names
}

// Time is a timestamp in UTC to the second ("-" when unset).
func Time(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// CommandResultTable prints where a command's events landed.
func CommandResultTable(r *loansv1.CommandResult) func(io.Writer) error {
	return func(w io.Writer) error {
		tw := NewTable(w)
		Row(tw, "APPLICATION", "COMMAND ID", "STREAM", "REVISION", "POSITION")
		Row(tw, r.GetLoanApplicationUuid(), r.GetCommandId(), r.GetStream(), r.GetStreamRevision(), r.GetCommitPosition())
		return tw.Flush()
	}
}

var applicationHeader = []any{"APPLICATION", "APPLICANT", "AMOUNT", "DURATION", "STATUS", "REQUESTED", "UPDATED", "POSITION"}

func applicationRow(w io.Writer, a *loansv1.LoanApplication) {
	applicant := a.GetApplicant()
	if applicant == "" {
		applicant = "-" // hidden from analysts
	}
	Row(w, a.GetLoanApplicationUuid(), applicant, a.GetAmount(), a.GetDuration(), Status(a.GetStatus()),
		Time(a.GetRequestedAt()), Time(a.GetUpdatedAt()), a.GetLastPosition())
}

// ApplicationTable prints one application, and its reason when it has one.
func ApplicationTable(a *loansv1.LoanApplication) func(io.Writer) error {
	return func(w io.Writer) error {
		tw := NewTable(w)
		Row(tw, applicationHeader...)
		applicationRow(tw, a)
		if err := tw.Flush(); err != nil {
			return err
		}
		if r := a.GetDenialReason(); r != "" {
			fmt.Fprintf(w, "denied: %s\n", r)
		}
		if r := a.GetRejectionReason(); r != "" {
			fmt.Fprintf(w, "rejected: %s\n", r)
		}
		return nil
	}
}

// ApplicationsTable prints a list of applications.
func ApplicationsTable(apps []*loansv1.LoanApplication) func(io.Writer) error {
	return func(w io.Writer) error {
		tw := NewTable(w)
		Row(tw, applicationHeader...)
		for _, a := range apps {
			applicationRow(tw, a)
		}
		return tw.Flush()
	}
}

// HistoryHeader is the header of history rows.
var HistoryHeader = []any{"POSITION", "OCCURRED", "EVENT", "ACTOR", "STATUS", "DETAILS"}

// HistoryRow is one history entry as a row.
func HistoryRow(w io.Writer, e *loansv1.HistoryEntry) {
	Row(w, e.GetPosition(), Time(e.GetOccurredAt()), e.GetEventType(), e.GetActor(), Status(e.GetStatusAfter()), details(e))
}

// details are the payload's fields a reader looks for: the amount and
// duration of a request, the reason of a denial or rejection.
func details(e *loansv1.HistoryEntry) string {
	var parts []string
	fields := e.GetPayload().GetFields()
	for _, k := range []string{"amount", "duration", "reason"} {
		v, ok := fields[k]
		if !ok {
			continue
		}
		s := fmt.Sprint(v.AsInterface())
		if k == "reason" {
			s = fmt.Sprintf("%q", s)
		}
		parts = append(parts, k+"="+s)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// HistoryTable prints an application's history.
func HistoryTable(entries []*loansv1.HistoryEntry) func(io.Writer) error {
	return func(w io.Writer) error {
		tw := NewTable(w)
		Row(tw, HistoryHeader...)
		for _, e := range entries {
			HistoryRow(tw, e)
		}
		return tw.Flush()
	}
}

// StatisticsTable prints the daily statistics, then the funnel.
func StatisticsTable(s *loansv1.GetLoanStatisticsResponse) func(io.Writer) error {
	return func(w io.Writer) error {
		tw := NewTable(w)
		Row(tw, "DAY", "REQUESTED", "AMOUNT", "SUBMITTED", "APPROVED", "AMOUNT", "DENIED", "SIGNED", "AMOUNT", "REJECTED", "DECISIONS")
		for _, d := range s.GetDays() {
			Row(tw, d.GetDay(), d.GetRequestedCount(), d.GetRequestedAmount(), d.GetSubmittedCount(), d.GetApprovedCount(),
				d.GetApprovedAmount(), d.GetDeniedCount(), d.GetSignedCount(), d.GetSignedAmount(), d.GetRejectedCount(), d.GetDecisions())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		f := s.GetFunnel()
		fmt.Fprintln(w)
		tw = NewTable(w)
		Row(tw, "FUNNEL", "REQUESTED", "SUBMITTED", "REVIEW ISSUED", "APPROVED", "DENIED", "CONTRACT ISSUED", "SIGNED", "REJECTED")
		Row(tw, "all time", f.GetRequested(), f.GetSubmitted(), f.GetReviewIssued(), f.GetApproved(), f.GetDenied(),
			f.GetContractIssued(), f.GetSigned(), f.GetRejected())
		if err := tw.Flush(); err != nil {
			return err
		}
		avg := time.Duration(s.GetAverageDecisionSeconds() * float64(time.Second)).Round(time.Second)
		_, err := fmt.Fprintf(w, "\naverage time from submission to decision: %s\n", avg)
		return err
	}
}

// historyLine is a history row of fixed widths, so that rows printed one
// at a time (watch) stay aligned.
const historyLine = "%-10v  %-20v  %-22v  %-36v  %-18v  %v\n"

// HistoryLineHeader prints the header of HistoryLine rows.
func HistoryLineHeader(w io.Writer) error {
	_, err := fmt.Fprintf(w, historyLine, HistoryHeader...)
	return err
}

// HistoryLine prints one history entry as a row of fixed widths.
func HistoryLine(w io.Writer, e *loansv1.HistoryEntry) error {
	_, err := fmt.Fprintf(w, historyLine, e.GetPosition(), Time(e.GetOccurredAt()), e.GetEventType(), e.GetActor(),
		Status(e.GetStatusAfter()), details(e))
	return err
}

// Concluded says whether an application's lifecycle is over.
func Concluded(s loansv1.LoanStatus) bool {
	switch s {
	case loansv1.LoanStatus_LOAN_STATUS_DENIED, loansv1.LoanStatus_LOAN_STATUS_SIGNED, loansv1.LoanStatus_LOAN_STATUS_REJECTED:
		return true
	}
	return false
}
