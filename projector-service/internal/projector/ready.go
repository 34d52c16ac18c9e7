package projector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNotReady is what Ready wraps while the read model is not being kept up
// to date.
var ErrNotReady = errors.New("projector: not ready")

// Ready tells whether Run keeps the read model up to date: nil while its
// subscription to $all is live (caught up), its last write went through,
// and the event store and the read model answer now (each asked within
// ctx: give it a short deadline). Otherwise an error wrapping ErrNotReady
// says why: not started, catching up (and from where), interrupted (by
// what), stopped, or which of the two stores does not answer.
func (p *Projector) Ready(ctx context.Context) error {
	if err := p.state.ready(); err != nil {
		return err
	}
	if err := p.es.Healthy(ctx); err != nil {
		return fmt.Errorf("%w: event store: %w", ErrNotReady, err)
	}
	// Any read will do: it shows the store answering.
	if _, err := p.store.ActiveGeneration(ctx); err != nil {
		return fmt.Errorf("%w: read model: %w", ErrNotReady, err)
	}
	return nil
}

// phase is where Run is.
type phase int

const (
	phaseNotStarted phase = iota
	phaseCatchingUp
	phaseLive
	phaseInterrupted
	phaseStopped
)

// runState is what Run reports of itself for Ready.
type runState struct {
	mu       sync.Mutex
	phase    phase
	since    time.Time
	position uint64 // catching up: the position reached
	cause    error  // interrupted: why; live: a write failing now
}

func (s *runState) set(ph phase, position uint64, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase != ph {
		s.since = time.Now()
	}
	s.phase, s.position, s.cause = ph, position, cause
}

// writeFailed notes a failing write (nil: writes go through again) without
// changing the phase.
func (s *runState) writeFailed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cause = err
}

func (s *runState) ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for_ := time.Since(s.since).Round(time.Millisecond)
	switch s.phase {
	case phaseLive:
		if s.cause != nil {
			return fmt.Errorf("%w: writing to the read model fails: %w", ErrNotReady, s.cause)
		}
		return nil
	case phaseCatchingUp:
		return fmt.Errorf("%w: catching up with $all, at position %d, for %v", ErrNotReady, s.position, for_)
	case phaseInterrupted:
		return fmt.Errorf("%w: interrupted for %v, resuming: %w", ErrNotReady, for_, s.cause)
	case phaseStopped:
		return fmt.Errorf("%w: stopped", ErrNotReady)
	default:
		return fmt.Errorf("%w: not started", ErrNotReady)
	}
}
