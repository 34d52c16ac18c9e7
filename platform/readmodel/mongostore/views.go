package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The analysts' views over the active generation, without the adapter's
// exact-time (_us) fields.
var views = []struct {
	name, model string
	hide        []string
}{
	{"v_loan_applications", collApplications, []string{"requested_at_us", "submitted_at_us", "review_issued_at_us",
		"decided_at_us", "contract_issued_at_us", "concluded_at_us", "updated_at_us"}},
	{"v_loan_history", collHistory, []string{"occurred_at_us"}},
	{"v_daily_stats", collDailyStats, nil},
	{"v_funnel", collFunnel, nil},
}

// initViews finds out whether the server has views by creating them; one
// that has none (FerretDB v1) is only logged.
func (s *Store) initViews(ctx context.Context, gen int) error {
	err := s.createViews(ctx, gen)
	if err == nil {
		s.views = true
		return nil
	}
	if hasCode(err, codeCommandNotFound, codeNotImplemented, codeCommandNotSupported) {
		s.log.Info("mongostore: the server has no views; the analysts' views are skipped",
			"database", s.db.Name(), "error", err.Error())
		return nil
	}
	return err
}

// createViews (re)creates the views on a generation.
func (s *Store) createViews(ctx context.Context, gen int) error {
	for _, v := range views {
		if err := s.db.Collection(v.name).Drop(ctx); err != nil {
			return fmt.Errorf("drop view %s: %w", v.name, err)
		}
		pipeline := bson.A{}
		if len(v.hide) > 0 {
			hide := bson.D{}
			for _, f := range v.hide {
				hide = append(hide, bson.E{Key: f, Value: 0})
			}
			pipeline = append(pipeline, bson.D{{Key: "$project", Value: hide}})
		}
		err := s.db.CreateView(ctx, v.name, genName(v.model, gen), pipeline)
		// Another store on the same database may have just created it.
		if err != nil && !hasCode(err, codeNamespaceExists) {
			return fmt.Errorf("create view %s: %w", v.name, err)
		}
	}
	return nil
}
