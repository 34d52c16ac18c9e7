package service

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/loanflow/loans/command-service/internal/adapters/eventstore"
	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/command-service/internal/app/process"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/esdblog"
)

// What operators do with the process managers' parked events, from the
// command line (command-service parked, command-service replay-parked). Only
// cfg.EventStore, cfg.Logger and cfg.Limits are read.

// ListParked lists the parked events not resolved yet of the manager named
// (every manager when empty), oldest first.
func ListParked(ctx context.Context, cfg Config, manager string) ([]process.Parked, error) {
	var out []process.Parked
	err := onManagers(ctx, cfg, manager, func(log *eventstore.ProcessLog, m process.Manager) error {
		parked, err := log.Parked(ctx, m.Name)
		out = append(out, parked...)
		return err
	})
	return out, err
}

// ReplayParked hands the parked events of the manager named (every manager
// when empty) to it again, and marks those it now handles resolved.
func ReplayParked(ctx context.Context, cfg Config, manager string) ([]process.ReplayOutcome, error) {
	var out []process.ReplayOutcome
	err := onManagers(ctx, cfg, manager, func(log *eventstore.ProcessLog, m process.Manager) error {
		outcomes, err := process.Replay(ctx, log, m, cfg.Logger)
		out = append(out, outcomes...)
		return err
	})
	return out, err
}

// ManagerNames lists the process managers.
func ManagerNames() []string {
	var names []string
	for _, m := range process.Managers(nil) {
		names = append(names, m.Name)
	}
	return names
}

func onManagers(ctx context.Context, cfg Config, manager string, do func(*eventstore.ProcessLog, process.Manager) error) error {
	if manager != "" && !slices.Contains(ManagerNames(), manager) {
		return fmt.Errorf("no process manager is named %q (there are %v)", manager, ManagerNames())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	conn, err := esdbconn.Dial(cfg.EventStore, esdblog.To(cfg.Logger))
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	log := eventstore.NewProcessLog(conn)
	commands := command.New(eventstore.New(conn), command.Config{Limits: cfg.Limits})
	for _, m := range process.Managers(commands) {
		if manager != "" && m.Name != manager {
			continue
		}
		if err := do(log, m); err != nil {
			return err
		}
	}
	return nil
}
