// Package service wires the query service: read model, use cases, gRPC
// server and REST gateway.
package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/app/query"
	"github.com/loanflow/loans/query-service/internal/ports"
)

// DefaultDeadline bounds a call that comes without a deadline, unless
// Config says otherwise. A wait for a consistency token ends with it.
const DefaultDeadline = 5 * time.Second

// Config configures the service.
type Config struct {
	// GRPCAddr and HTTPAddr are where to listen (port 0: any free port).
	GRPCAddr, HTTPAddr string
	// ReadModel is the store to read (see storeurl.Open). The service does
	// not close it: whoever opened it does, after Shutdown.
	ReadModel readmodel.Reader
	Logger    *slog.Logger
	// DefaultDeadline bounds a call that comes without a deadline
	// (default DefaultDeadline).
	DefaultDeadline time.Duration
	// Queries tunes the use cases (clock, polling of consistency tokens).
	Queries query.Config
}

// Service is a running query service.
type Service struct {
	*apiserver.Server
}

// Start binds both ports and serves.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.ReadModel == nil {
		return nil, errors.New("query service: no read model")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DefaultDeadline <= 0 {
		cfg.DefaultDeadline = DefaultDeadline
	}
	srv, err := apiserver.Start(ctx, apiserver.Config{
		Name:     "query service",
		GRPCAddr: cfg.GRPCAddr, HTTPAddr: cfg.HTTPAddr,
		Logger:          cfg.Logger,
		DefaultDeadline: cfg.DefaultDeadline,
		Service:         &loansv1.LoanQueryService_ServiceDesc,
		Impl:            ports.NewQueryServer(query.New(cfg.ReadModel, cfg.Queries), cfg.Logger),
		RegisterGateway: loansv1.RegisterLoanQueryServiceHandler,
	})
	if err != nil {
		return nil, err
	}
	cfg.Logger.Info("query service: serving", "grpc", srv.GRPCAddr(), "http", srv.HTTPAddr(), "default_deadline", cfg.DefaultDeadline.String())
	return &Service{Server: srv}, nil
}
