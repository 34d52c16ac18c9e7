package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The analysts' views over the active generation, named and shaped as the
// SQLite adapter's (docs/ANALYSTS.md): the collections without the adapter's
// exact-time (_us) fields and guards, and v_time_to_decision computed from
// the days with decisions.
var views = []struct {
	name, model string
	pipeline    bson.A
}{
	{"v_loan_applications", collApplications, bson.A{hide("requested_at_us", "submitted_at_us", "review_issued_at_us",
		"decided_at_us", "contract_issued_at_us", "concluded_at_us", "updated_at_us")}},
	{"v_loan_history", collHistory, bson.A{hide("occurred_at_us")}},
	{"v_daily_stats", collDailyStats, bson.A{hide("last_position")}},
	{"v_funnel", collFunnel, bson.A{hide("last_position")}},
	{"v_time_to_decision", collDailyStats, bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "decisions", Value: bson.D{{Key: "$gt", Value: 0}}}}}},
		bson.D{{Key: "$project", Value: bson.D{
			{Key: "day", Value: 1}, {Key: "decisions", Value: 1}, {Key: "decision_seconds_total", Value: 1},
			{Key: "avg_decision_seconds", Value: bson.D{{Key: "$divide", Value: bson.A{"$decision_seconds_total", "$decisions"}}}},
			{Key: "avg_decision_hours", Value: bson.D{{Key: "$divide", Value: bson.A{"$decision_seconds_total",
				bson.D{{Key: "$multiply", Value: bson.A{"$decisions", 3600}}}}}}},
		}}},
	}},
}

// hide is a $project stage leaving fields out.
func hide(fields ...string) bson.D {
	d := bson.D{}
	for _, f := range fields {
		d = append(d, bson.E{Key: f, Value: 0})
	}
	return bson.D{{Key: "$project", Value: d}}
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
		err := s.db.CreateView(ctx, v.name, genName(v.model, gen), v.pipeline)
		// Another store on the same database may have just created it.
		if err != nil && !hasCode(err, codeNamespaceExists) {
			return fmt.Errorf("create view %s: %w", v.name, err)
		}
	}
	return nil
}
