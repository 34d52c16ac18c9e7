package query_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/query-service/internal/app/query"
	"github.com/loanflow/loans/query-service/internal/fixture"
)

func TestQueries_ConsistencyToken(t *testing.T) {
	newQueries := func(position uint64) (*query.Queries, *fakeReader) {
		reader := newFakeReader()
		reader.apply(fixture.New(0).Request(idA, 1200, 24, "ada", at(0)).Batch())
		reader.setPosition(position)
		return query.New(reader, query.Config{}), reader
	}
	get := func(ctx context.Context, q *query.Queries, token uint64) error {
		_, err := q.GetLoanApplication(asOps(ctx), query.GetLoanApplication{ID: idA, ConsistencyToken: token})
		return err
	}

	t.Run("ZeroDoesNotWait", func(t *testing.T) {
		q, reader := newQueries(0)
		if err := get(t.Context(), q, 0); err != nil {
			t.Fatal(err)
		}
		if reader.positionCalls != 0 {
			t.Errorf("the position was read %d times", reader.positionCalls)
		}
	})
	t.Run("AlreadyReached", func(t *testing.T) {
		q, _ := newQueries(100)
		for _, token := range []uint64{1, 99, 100} {
			if err := get(t.Context(), q, token); err != nil {
				t.Fatalf("token %d: %v", token, err)
			}
		}
	})
	t.Run("ReachedWhileWaiting", func(t *testing.T) {
		q, reader := newQueries(10)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		go func() {
			time.Sleep(50 * time.Millisecond)
			reader.setPosition(120)
		}()
		start := time.Now()
		if err := get(ctx, q, 120); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 50*time.Millisecond || waited > 2*time.Second {
			t.Errorf("answered after %s; want soon after 50ms", waited)
		}
	})
	t.Run("ReadModelBehindBeforeTheDeadline", func(t *testing.T) {
		q, reader := newQueries(50)
		const deadline = 500 * time.Millisecond
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		defer cancel()
		start := time.Now()
		err := get(ctx, q, 80)
		waited := time.Since(start)
		qerr := refusedWith(t, err, query.KindUnavailable, query.ReasonReadModelBehind)
		if ctx.Err() != nil {
			t.Errorf("refused after the deadline (%s)", waited)
		}
		if waited < deadline/2 {
			t.Errorf("gave up after %s; want close to the deadline %s", waited, deadline)
		}
		if qerr.Metadata["position"] != "50" || qerr.Metadata["consistency_token"] != "80" {
			t.Errorf("metadata %v", qerr.Metadata)
		}
		if want := "position 50, 30 short of the consistency token 80"; !strings.Contains(qerr.Message, want) {
			t.Errorf("message %q; want it to say %q", qerr.Message, want)
		}
		// Backing off: 5, 10, 20, 40, then every 50 ms.
		if reader.positionCalls > 20 {
			t.Errorf("the position was read %d times in %s", reader.positionCalls, waited)
		}
	})
	t.Run("CallerGone", func(t *testing.T) {
		q, _ := newQueries(50)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(30*time.Millisecond, cancel)
		if err := get(ctx, q, 80); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v; want context.Canceled", err)
		}
	})
	t.Run("PositionUnreadableIsAnOutage", func(t *testing.T) {
		q, reader := newQueries(50)
		disk := errors.New("disk on fire")
		reader.positionErr = disk
		err := get(t.Context(), q, 80)
		refusedWith(t, err, query.KindUnavailable, query.ReasonReadModelUnavailable)
		if !errors.Is(err, disk) {
			t.Errorf("error %v does not keep the store's error for the logs", err)
		}
	})
}
