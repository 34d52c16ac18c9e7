package process

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/platform/loanevents"
)

// FuzzHandle feeds the process managers what any writer could have stored
// in $all under a loan event's type: any payload and metadata. Whatever the
// input: no panic, and each manager either handles the event or refuses it
// for good (it is then parked); nothing else, since the store here always
// answers.
func FuzzHandle(f *testing.F) {
	id := "0b6f3a52-6d4e-4c1e-9a8f-2f5d7c9e1a33"
	f.Add(loanevents.TypeLoanRequestSubmitted, []byte(`{"loanApplicationUuid":"`+id+`","amount":"1200","duration":24,"applicant":"ada"}`), []byte(`{"correlation_id":"c"}`))
	f.Add(loanevents.TypeLoanApproved, []byte(`{"loanApplicationUuid":"`+id+`","amount":"1200","duration":24,"applicant":"ada"}`), []byte(``))
	f.Add(loanevents.TypeLoanRequestSubmitted, []byte(`{"loanApplicationUuid":"nope"}`), []byte(`{"occurred_at":1}`))
	f.Add(loanevents.TypeLoanApproved, []byte(`{"loanApplicationUuid":"`+id+`","applicant":""}`), []byte(`null`))
	f.Add(loanevents.TypeLoanRequestSubmitted, []byte(`{"amount":"-1"}`), []byte(`{}`))
	f.Add(loanevents.TypeLoanApproved, []byte(`[]`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, eventType string, data, metadata []byte) {
		managers := Managers(command.New(newMemStore(), command.Config{}))
		rec := Recorded{ID: uuid.NewSHA1(uuid.Nil, data), Type: eventType, Stream: "s", Data: data, Metadata: metadata}
		for _, m := range managers {
			e, _, err := decode(rec)
			if err == nil {
				err = m.Handle(context.Background(), e)
			}
			if err != nil && !Refused(err) {
				t.Fatalf("%s on %s %q: %v is neither handled nor refused for good", m.Name, eventType, data, err)
			}
		}
	})
}

// memStore is an event store in memory, with exact-revision appends.
type memStore struct {
	mu      sync.Mutex
	streams map[string][]command.RecordedEvent
	pos     uint64
}

func newMemStore() *memStore { return &memStore{streams: map[string][]command.RecordedEvent{}} }

func (s *memStore) Load(_ context.Context, stream string) ([]command.RecordedEvent, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	events := append([]command.RecordedEvent(nil), s.streams[stream]...)
	return events, int64(len(events)) - 1, nil
}

func (s *memStore) Append(_ context.Context, stream string, expected int64, events []command.NewEvent) (command.AppendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if int64(len(s.streams[stream]))-1 != expected {
		return command.AppendResult{}, command.ErrConcurrencyConflict
	}
	for _, e := range events {
		s.pos++
		s.streams[stream] = append(s.streams[stream], command.RecordedEvent{ID: e.ID, Event: e.Event, Metadata: e.Metadata,
			Revision: uint64(len(s.streams[stream])), Position: s.pos})
	}
	if len(events) == 0 {
		return command.AppendResult{}, errors.New("memStore: an append without events")
	}
	return command.AppendResult{Revision: uint64(len(s.streams[stream]) - 1), Position: s.pos}, nil
}
