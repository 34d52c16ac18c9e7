// Package eventstore is an embedded event store that speaks EventStoreDB's
// gRPC protocol, so that the official EventStoreDB clients work against it
// unchanged. It is meant for development, tests, demos and single-machine
// use; production runs EventStoreDB itself, reached through the same
// connection string.
//
// What it serves: the Streams service (append, read, subscribe, delete,
// tombstone) and ServerFeatures. Persistent subscriptions, projections,
// users, operations and gossip answer Unimplemented with a clear message.
package eventstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/devstack/eventstore/eventlog"
)

// DefaultMaxAppendSize is EventStoreDB's default limit on one append.
const DefaultMaxAppendSize = 1 << 20

// Config configures a Server.
type Config struct {
	// Dir holds the data; empty keeps everything in memory (for tests).
	Dir string
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// TLS, when set, serves TLS (clients then connect with tls=true).
	TLS *tls.Config
	// MaxAppendSize bounds the bytes of one append; 0 means 1 MiB.
	MaxAppendSize int
	// LiveBufferEvents and LiveBufferBytes bound the memory that live
	// subscriptions are served from; see eventlog.Options.
	LiveBufferEvents int
	LiveBufferBytes  int
}

// Server is an embedded event store.
type Server struct {
	log    *eventlog.Log
	grpc   *grpc.Server
	logger *slog.Logger
}

// New opens the store and prepares the gRPC server; call Serve to accept
// connections and Shutdown to stop.
func New(cfg Config) (*Server, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	log, err := eventlog.Open(eventlog.Options{
		Dir:              cfg.Dir,
		Logger:           logger,
		LiveBufferEvents: cfg.LiveBufferEvents,
		LiveBufferBytes:  cfg.LiveBufferBytes,
	})
	if err != nil {
		return nil, err
	}
	maxAppend := cfg.MaxAppendSize
	if maxAppend <= 0 {
		maxAppend = DefaultMaxAppendSize
	}
	opts := []grpc.ServerOption{
		// The official clients ping every 10 s, with or without calls.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// One message carries one event. gRPC refuses a message over this
		// limit with an error of its own before the Append handler sees it,
		// so leave room above the append limit for the store to refuse
		// oversized events itself, saying which limit they broke.
		grpc.MaxRecvMsgSize(max(4*maxAppend, 16<<20)),
		grpc.UnknownServiceHandler(unimplemented),
		grpc.ForceServerCodecV2(newPassThroughCodec()),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	s := &Server{log: log, grpc: grpc.NewServer(opts...), logger: logger}
	streams.RegisterStreamsServer(s.grpc, &streamsService{log: log, logger: logger, maxAppendSize: maxAppend})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, featuresService{})
	return s, nil
}

// Serve accepts connections on lis until Shutdown; it returns nil after a
// shutdown.
func (s *Server) Serve(lis net.Listener) error {
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Shutdown stops the server: subscriptions end (clients see the server going
// away and may resubscribe elsewhere), calls in flight finish until ctx ends,
// then the store is closed with everything acknowledged on disk.
func (s *Server) Shutdown(ctx context.Context) error {
	s.log.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.logger.Warn("event store: calls still running at the shutdown deadline; closing them")
		s.grpc.Stop()
		<-stopped
	}
	return s.log.Close()
}

// Log gives direct access to the storage engine, for tools in this module.
func (s *Server) Log() *eventlog.Log { return s.log }

// ConnectionString is how the official client reaches a server at addr.
func ConnectionString(addr net.Addr, tls bool) string {
	return fmt.Sprintf("esdb://%s?tls=%t", addr, tls)
}

// unimplemented answers every service the embedded store does not serve, so
// that a client gets a clear error at once rather than waiting.
func unimplemented(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	return status.Errorf(codes.Unimplemented,
		"%s is not implemented by the embedded event store, which serves the Streams and ServerFeatures services only "+
			"(persistent subscriptions, projections, users, operations and gossip need EventStoreDB)", method)
}
