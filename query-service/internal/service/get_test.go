package service_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

func TestQueryService_GetLoanApplication(t *testing.T) {
	e := newEnv(t)
	signed, requested := uuidOf(1), uuidOf(2)
	e.b.Request(signed, 12_000, 24, "ada", at(0)).Submit(signed, at(time.Minute)).Review(signed, at(2*time.Minute)).
		Approve(signed, at(time.Hour)).IssueContract(signed, at(time.Hour+time.Second)).Sign(signed, at(50*time.Hour))
	e.b.Request(requested, 500, 6, "bob", at(3*time.Hour+123456*time.Microsecond))
	e.apply(t)

	t.Run("OK", func(t *testing.T) {
		resp, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: signed})
		if err != nil {
			t.Fatal(err)
		}
		want := &loansv1.LoanApplication{
			LoanApplicationUuid: signed, Amount: 12_000, Duration: 24, Status: loansv1.LoanStatus_LOAN_STATUS_SIGNED, Applicant: "ada",
			RequestedAt: timestamppb.New(at(0)), SubmittedAt: timestamppb.New(at(time.Minute)),
			ReviewIssuedAt: timestamppb.New(at(2 * time.Minute)), DecidedAt: timestamppb.New(at(time.Hour)),
			ContractIssuedAt: timestamppb.New(at(time.Hour + time.Second)), ConcludedAt: timestamppb.New(at(50 * time.Hour)),
			UpdatedAt: timestamppb.New(at(50 * time.Hour)), LastPosition: e.b.App(signed).LastPosition,
		}
		if !proto.Equal(resp.GetLoanApplication(), want) {
			t.Fatalf("got %v\nwant %v", resp.GetLoanApplication(), want)
		}
	})
	t.Run("UnsetStepsAreUnset", func(t *testing.T) {
		resp, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: requested})
		if err != nil {
			t.Fatal(err)
		}
		a := resp.GetLoanApplication()
		if a.GetStatus() != loansv1.LoanStatus_LOAN_STATUS_PENDING_SUBMISSION || !a.GetRequestedAt().AsTime().Equal(at(3*time.Hour+123456*time.Microsecond)) {
			t.Errorf("got %v", a)
		}
		if a.SubmittedAt != nil || a.ReviewIssuedAt != nil || a.DecidedAt != nil || a.ContractIssuedAt != nil || a.ConcludedAt != nil {
			t.Errorf("steps not taken have times: %v", a)
		}
	})
	t.Run("UppercaseUUID", func(t *testing.T) {
		resp, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: strings.ToUpper(signed)})
		if err != nil || resp.GetLoanApplication().GetLoanApplicationUuid() != signed {
			t.Fatalf("got %v, %v", resp, err)
		}
	})
	t.Run("LoanApplicationNotFound", func(t *testing.T) {
		_, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: uuidOf(99)})
		refused(t, err, codes.NotFound, "LOAN_APPLICATION_NOT_FOUND")
	})
	t.Run("LoanApplicationUUIDInvalid", func(t *testing.T) {
		for _, id := range []string{"", "42", "00000000-0000-0000-0000-000000000000"} {
			_, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id})
			refused(t, err, codes.InvalidArgument, "LOAN_APPLICATION_UUID_INVALID")
		}
	})
}

func TestQueryService_GetLoanApplicationHistory(t *testing.T) {
	e := newEnv(t)
	id, other := uuidOf(1), uuidOf(2)
	e.b.Request(id, 12_000, 24, "ada", at(0)).Request(other, 1, 1, "bob", at(0)).Submit(id, at(time.Minute)).
		Review(id, at(2*time.Minute)).Deny(id, "income too low", at(time.Hour))
	batch := e.apply(t)

	t.Run("OldestFirstWithEverything", func(t *testing.T) {
		resp, err := e.client.GetLoanApplicationHistory(ctx(t), &loansv1.GetLoanApplicationHistoryRequest{LoanApplicationUuid: id})
		if err != nil {
			t.Fatal(err)
		}
		var want []*loansv1.HistoryEntry
		for _, h := range batch.History {
			if h.ApplicationID != id {
				continue
			}
			payload := &structpb.Struct{}
			if err := payload.UnmarshalJSON(h.Payload); err != nil {
				t.Fatal(err)
			}
			want = append(want, &loansv1.HistoryEntry{
				Position: h.Position, Stream: h.Stream, StreamRevision: h.Revision, EventType: h.EventType,
				OccurredAt: timestamppb.New(h.OccurredAt), Actor: h.Actor, Payload: payload,
				CommandId: h.CommandID, CorrelationId: h.CorrelationID, CausationId: h.CausationID,
				StatusAfter: map[string]loansv1.LoanStatus{
					"LoanRequested": loansv1.LoanStatus_LOAN_STATUS_PENDING_SUBMISSION, "LoanRequestSubmitted": loansv1.LoanStatus_LOAN_STATUS_SUBMITTED,
					"LoanReviewIssued": loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW, "LoanDenied": loansv1.LoanStatus_LOAN_STATUS_DENIED,
				}[h.EventType],
			})
		}
		got := resp.GetEntries()
		if len(got) != 4 || len(want) != 4 {
			t.Fatalf("%d entries; want 4", len(got))
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("entry %d:\n got %v\nwant %v", i, got[i], want[i])
			}
		}
		denied := got[3].GetPayload().GetFields()
		if denied["reason"].GetStringValue() != "income too low" || denied["loanApplicationUuid"].GetStringValue() != id {
			t.Errorf("LoanDenied payload %v", got[3].GetPayload())
		}
		if requested := got[0].GetPayload().GetFields(); requested["amount"].GetStringValue() != "12000" || requested["applicant"].GetStringValue() != "ada" {
			t.Errorf("LoanRequested payload %v (int64 is a string in protojson)", got[0].GetPayload())
		}
	})
	t.Run("LoanApplicationNotFound", func(t *testing.T) {
		_, err := e.client.GetLoanApplicationHistory(ctx(t), &loansv1.GetLoanApplicationHistoryRequest{LoanApplicationUuid: uuidOf(3)})
		refused(t, err, codes.NotFound, "LOAN_APPLICATION_NOT_FOUND")
	})
	t.Run("LoanApplicationUUIDInvalid", func(t *testing.T) {
		_, err := e.client.GetLoanApplicationHistory(ctx(t), &loansv1.GetLoanApplicationHistoryRequest{LoanApplicationUuid: "x"})
		refused(t, err, codes.InvalidArgument, "LOAN_APPLICATION_UUID_INVALID")
	})
}

func TestQueryService_GetLoanApplicationAt(t *testing.T) {
	e := newEnv(t)
	id := uuidOf(1)
	e.b.Request(id, 12_000, 24, "ada", at(0)).Submit(id, at(time.Minute)).Review(id, at(2*time.Minute)).
		Approve(id, at(time.Hour)).IssueContract(id, at(time.Hour+time.Second)).Reject(id, "found a better rate", at(72*time.Hour))
	e.apply(t)
	asOf := func(t *testing.T, when time.Time) (*loansv1.LoanApplication, error) {
		t.Helper()
		resp, err := e.client.GetLoanApplicationAt(ctx(t), &loansv1.GetLoanApplicationAtRequest{LoanApplicationUuid: id, At: timestamppb.New(when)})
		return resp.GetLoanApplication(), err
	}

	t.Run("BeforeTheRequest", func(t *testing.T) {
		_, err := asOf(t, at(-time.Microsecond))
		refused(t, err, codes.NotFound, "LOAN_APPLICATION_NOT_FOUND")
	})
	for _, c := range []struct {
		name   string
		when   time.Time
		status loansv1.LoanStatus
		steps  int // how many step times are set, in order
	}{
		{"AtTheRequest", at(0), loansv1.LoanStatus_LOAN_STATUS_PENDING_SUBMISSION, 1},
		{"Submitted", at(90 * time.Second), loansv1.LoanStatus_LOAN_STATUS_SUBMITTED, 2},
		{"UnderReview", at(30 * time.Minute), loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW, 3},
		{"Approved", at(time.Hour), loansv1.LoanStatus_LOAN_STATUS_APPROVED, 4},
		{"AwaitingSignature", at(24 * time.Hour), loansv1.LoanStatus_LOAN_STATUS_PENDING_SIGNATURE, 5},
		{"Rejected", at(72 * time.Hour), loansv1.LoanStatus_LOAN_STATUS_REJECTED, 6},
		{"LongAfter", at(10_000 * time.Hour), loansv1.LoanStatus_LOAN_STATUS_REJECTED, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := asOf(t, c.when)
			if err != nil {
				t.Fatal(err)
			}
			if a.GetStatus() != c.status || a.GetAmount() != 12_000 || a.GetDuration() != 24 || a.GetApplicant() != "ada" || a.GetLoanApplicationUuid() != id {
				t.Errorf("got %v; want %s", a, c.status)
			}
			steps := []*timestamppb.Timestamp{a.RequestedAt, a.SubmittedAt, a.ReviewIssuedAt, a.DecidedAt, a.ContractIssuedAt, a.ConcludedAt}
			wantTimes := []time.Time{at(0), at(time.Minute), at(2 * time.Minute), at(time.Hour), at(time.Hour + time.Second), at(72 * time.Hour)}
			for i, s := range steps {
				if (i < c.steps) != (s != nil) || (s != nil && !s.AsTime().Equal(wantTimes[i])) {
					t.Errorf("step %d is %v; want %d steps set", i, s, c.steps)
				}
			}
			if !a.GetUpdatedAt().AsTime().Equal(wantTimes[c.steps-1]) {
				t.Errorf("updated_at %v; want %v", a.GetUpdatedAt().AsTime(), wantTimes[c.steps-1])
			}
			if wantReason := map[bool]string{true: "found a better rate"}[c.steps == 6]; a.GetRejectionReason() != wantReason {
				t.Errorf("rejection_reason %q; want %q", a.GetRejectionReason(), wantReason)
			}
		})
	}
	t.Run("AfterTheConclusionIsTheCurrentState", func(t *testing.T) {
		a, err := asOf(t, at(10_000*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		cur, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(a, cur.GetLoanApplication()) {
			t.Fatalf("as of now %v\ncurrent   %v", a, cur.GetLoanApplication())
		}
	})
	t.Run("AtRequired", func(t *testing.T) {
		_, err := e.client.GetLoanApplicationAt(ctx(t), &loansv1.GetLoanApplicationAtRequest{LoanApplicationUuid: id})
		refused(t, err, codes.InvalidArgument, "AT_REQUIRED")
	})
	t.Run("TimestampInvalid", func(t *testing.T) {
		_, err := e.client.GetLoanApplicationAt(ctx(t), &loansv1.GetLoanApplicationAtRequest{LoanApplicationUuid: id, At: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}})
		refused(t, err, codes.InvalidArgument, "TIMESTAMP_INVALID")
	})
	t.Run("LoanApplicationNotFound", func(t *testing.T) {
		_, err := e.client.GetLoanApplicationAt(ctx(t), &loansv1.GetLoanApplicationAtRequest{LoanApplicationUuid: uuidOf(2), At: timestamppb.New(at(time.Hour))})
		refused(t, err, codes.NotFound, "LOAN_APPLICATION_NOT_FOUND")
	})
}
