// Package ports serves the queries over gRPC and, through the grpc-gateway,
// REST: it translates requests into the use cases' queries and their
// answers and refusals back. Who the caller is travels in the call's
// context (platform/auth's interceptors put the verified principal there);
// what they may see is the use cases' decision (query's policy.go), not the
// ports'.
package ports

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/app/query"
)

// QueryServer implements loansv1.LoanQueryServiceServer.
type QueryServer struct {
	loansv1.UnimplementedLoanQueryServiceServer
	queries *query.Queries
	logger  *slog.Logger
}

// NewQueryServer serves the queries.
func NewQueryServer(q *query.Queries, logger *slog.Logger) *QueryServer {
	return &QueryServer{queries: q, logger: logger}
}

func (s *QueryServer) GetLoanApplication(ctx context.Context, req *loansv1.GetLoanApplicationRequest) (*loansv1.GetLoanApplicationResponse, error) {
	app, err := s.queries.GetLoanApplication(ctx, query.GetLoanApplication{
		ID: req.GetLoanApplicationUuid(), ConsistencyToken: req.GetConsistencyToken(),
	})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &loansv1.GetLoanApplicationResponse{LoanApplication: application(app)}, nil
}

func (s *QueryServer) ListLoanApplications(ctx context.Context, req *loansv1.ListLoanApplicationsRequest) (*loansv1.ListLoanApplicationsResponse, error) {
	qry, err := listQuery(req)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	page, err := s.queries.ListLoanApplications(ctx, qry)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &loansv1.ListLoanApplicationsResponse{
		LoanApplications: make([]*loansv1.LoanApplication, 0, len(page.Items)),
		NextPageToken:    page.NextPageToken,
	}
	for _, a := range page.Items {
		resp.LoanApplications = append(resp.LoanApplications, application(a))
	}
	return resp, nil
}

func (s *QueryServer) GetLoanApplicationHistory(ctx context.Context, req *loansv1.GetLoanApplicationHistoryRequest) (*loansv1.GetLoanApplicationHistoryResponse, error) {
	entries, err := s.queries.GetLoanApplicationHistory(ctx, query.GetLoanApplicationHistory{
		ID: req.GetLoanApplicationUuid(), ConsistencyToken: req.GetConsistencyToken(),
	})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &loansv1.GetLoanApplicationHistoryResponse{Entries: make([]*loansv1.HistoryEntry, 0, len(entries))}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, s.historyEntry(ctx, e))
	}
	return resp, nil
}

func (s *QueryServer) GetLoanApplicationAt(ctx context.Context, req *loansv1.GetLoanApplicationAtRequest) (*loansv1.GetLoanApplicationAtResponse, error) {
	at, err := fromTimestamp("at", req.GetAt())
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	app, err := s.queries.GetLoanApplicationAt(ctx, query.GetLoanApplicationAt{
		ID: req.GetLoanApplicationUuid(), At: at, ConsistencyToken: req.GetConsistencyToken(),
	})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &loansv1.GetLoanApplicationAtResponse{LoanApplication: application(app)}, nil
}

func (s *QueryServer) GetLoanStatistics(ctx context.Context, req *loansv1.GetLoanStatisticsRequest) (*loansv1.GetLoanStatisticsResponse, error) {
	st, err := s.queries.GetLoanStatistics(ctx, query.GetLoanStatistics{
		FromDay: req.GetFromDay(), ToDay: req.GetToDay(), ConsistencyToken: req.GetConsistencyToken(),
	})
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	resp := &loansv1.GetLoanStatisticsResponse{
		Days:                   make([]*loansv1.DailyStatistics, 0, len(st.Days)),
		Funnel:                 funnel(st.Funnel),
		AverageDecisionSeconds: st.AverageDecisionSeconds,
	}
	for _, d := range st.Days {
		resp.Days = append(resp.Days, daily(d))
	}
	return resp, nil
}

// ---- requests ----

func listQuery(req *loansv1.ListLoanApplicationsRequest) (query.ListLoanApplications, error) {
	qry := query.ListLoanApplications{
		Filter: readmodel.Filter{
			Applicant: req.GetApplicant(),
			MinAmount: req.GetMinAmount(),
			MaxAmount: req.GetMaxAmount(),
		},
		PageSize:         int(req.GetPageSize()),
		PageToken:        req.GetPageToken(),
		ConsistencyToken: req.GetConsistencyToken(),
	}
	for _, st := range req.GetStatuses() {
		s, ok := statusOfProto[st]
		if !ok {
			return qry, query.Invalid(query.ReasonStatusInvalid, "statuses: %s is not a status to filter on", st)
		}
		qry.Filter.Statuses = append(qry.Filter.Statuses, s)
	}
	var err error
	if qry.Filter.RequestedAfter, err = fromTimestamp("requested_after", req.GetRequestedAfter()); err != nil {
		return qry, err
	}
	if qry.Filter.RequestedBefore, err = fromTimestamp("requested_before", req.GetRequestedBefore()); err != nil {
		return qry, err
	}
	order, ok := orderOfProto[req.GetOrder()]
	if !ok {
		return qry, query.Invalid(query.ReasonOrderInvalid, "order: unknown value %d", req.GetOrder())
	}
	qry.Order = order
	return qry, nil
}

// fromTimestamp reads an optional timestamp (unset: the zero time).
func fromTimestamp(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, query.Invalid(query.ReasonTimestampInvalid, "%s: %v", field, err)
	}
	return ts.AsTime(), nil
}

var orderOfProto = map[loansv1.LoanApplicationOrder]readmodel.Order{
	loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_UNSPECIFIED:       readmodel.OrderRequestedAtDesc,
	loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_DESC: readmodel.OrderRequestedAtDesc,
	loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_ASC:  readmodel.OrderRequestedAtAsc,
	loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_DESC:       readmodel.OrderAmountDesc,
	loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_ASC:        readmodel.OrderAmountAsc,
	loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_UPDATED_AT_DESC:   readmodel.OrderUpdatedAtDesc,
}

// ---- answers ----

// statusOfProto and protoOfStatus map the API's statuses to the stored ones
// and back: one table each way.
var (
	statusOfProto = map[loansv1.LoanStatus]readmodel.Status{
		loansv1.LoanStatus_LOAN_STATUS_PENDING_SUBMISSION: readmodel.StatusPendingSubmission,
		loansv1.LoanStatus_LOAN_STATUS_SUBMITTED:          readmodel.StatusSubmitted,
		loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW:     readmodel.StatusPendingReview,
		loansv1.LoanStatus_LOAN_STATUS_APPROVED:           readmodel.StatusApproved,
		loansv1.LoanStatus_LOAN_STATUS_DENIED:             readmodel.StatusDenied,
		loansv1.LoanStatus_LOAN_STATUS_PENDING_SIGNATURE:  readmodel.StatusPendingSignature,
		loansv1.LoanStatus_LOAN_STATUS_SIGNED:             readmodel.StatusSigned,
		loansv1.LoanStatus_LOAN_STATUS_REJECTED:           readmodel.StatusRejected,
	}
	protoOfStatus = func() map[readmodel.Status]loansv1.LoanStatus {
		m := make(map[readmodel.Status]loansv1.LoanStatus, len(statusOfProto))
		for p, s := range statusOfProto {
			m[s] = p
		}
		return m
	}()
)

// loanStatus maps a stored status (unknown: UNSPECIFIED).
func loanStatus(s readmodel.Status) loansv1.LoanStatus { return protoOfStatus[s] }

// timestamp is unset for the zero time.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func application(a readmodel.Application) *loansv1.LoanApplication {
	return &loansv1.LoanApplication{
		LoanApplicationUuid: a.ID,
		Amount:              a.Amount,
		Duration:            a.Duration,
		Status:              loanStatus(a.Status),
		Applicant:           a.Applicant,
		RequestedAt:         timestamp(a.RequestedAt),
		SubmittedAt:         timestamp(a.SubmittedAt),
		ReviewIssuedAt:      timestamp(a.ReviewIssuedAt),
		DecidedAt:           timestamp(a.DecidedAt),
		ContractIssuedAt:    timestamp(a.ContractIssuedAt),
		ConcludedAt:         timestamp(a.ConcludedAt),
		UpdatedAt:           timestamp(a.UpdatedAt),
		DenialReason:        a.DenialReason,
		RejectionReason:     a.RejectionReason,
		LastPosition:        a.LastPosition,
	}
}

func (s *QueryServer) historyEntry(ctx context.Context, e readmodel.HistoryEntry) *loansv1.HistoryEntry {
	out := &loansv1.HistoryEntry{
		Position:       e.Position,
		Stream:         e.Stream,
		StreamRevision: e.Revision,
		EventType:      e.EventType,
		OccurredAt:     timestamp(e.OccurredAt),
		Actor:          e.Actor,
		StatusAfter:    loanStatus(e.StatusAfter),
		CommandId:      e.CommandID,
		CorrelationId:  e.CorrelationID,
		CausationId:    e.CausationID,
	}
	if len(e.Payload) > 0 {
		payload := &structpb.Struct{}
		if err := protojson.Unmarshal(e.Payload, payload); err != nil {
			// The rest of the entry still tells what happened.
			s.logger.WarnContext(ctx, "query: a stored payload is not a JSON object", "position", e.Position, "event_type", e.EventType, "error", err)
		} else {
			out.Payload = payload
		}
	}
	return out
}

func daily(d readmodel.DailyStats) *loansv1.DailyStatistics {
	return &loansv1.DailyStatistics{
		Day:                  d.Day,
		RequestedCount:       d.RequestedCount,
		RequestedAmount:      d.RequestedAmount,
		SubmittedCount:       d.SubmittedCount,
		ApprovedCount:        d.ApprovedCount,
		ApprovedAmount:       d.ApprovedAmount,
		DeniedCount:          d.DeniedCount,
		DeniedAmount:         d.DeniedAmount,
		SignedCount:          d.SignedCount,
		SignedAmount:         d.SignedAmount,
		RejectedCount:        d.RejectedCount,
		RejectedAmount:       d.RejectedAmount,
		Decisions:            d.Decisions,
		DecisionSecondsTotal: d.DecisionSecondsTotal,
	}
}

func funnel(f readmodel.Funnel) *loansv1.Funnel {
	return &loansv1.Funnel{
		Requested:      f.Requested,
		Submitted:      f.Submitted,
		ReviewIssued:   f.ReviewIssued,
		Approved:       f.Approved,
		Denied:         f.Denied,
		ContractIssued: f.ContractIssued,
		Signed:         f.Signed,
		Rejected:       f.Rejected,
	}
}
