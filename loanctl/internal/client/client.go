// Package client connects loanctl to the command and query services over
// gRPC and says what their refusals mean.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLS says how to secure a connection.
type TLS struct {
	Enabled bool
	// CAFile holds PEM certificates to trust instead of the system's.
	CAFile string
	// InsecureSkipVerify trusts any certificate: anyone on the path can
	// read the token and the data. For a test server at most.
	InsecureSkipVerify bool
}

// TokenFunc returns the access token to send with a call.
type TokenFunc func(ctx context.Context) (string, error)

// Dial makes a client connection to addr (connecting lazily, on the first
// call). With token set every call carries "authorization: Bearer <token>".
func Dial(addr string, t TLS, token TokenFunc) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if t.Enabled {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user's explicit, warned choice
		if t.CAFile != "" {
			pool, err := CertPool(x509.NewCertPool(), t.CAFile)
			if err != nil {
				return nil, err
			}
			cfg.RootCAs = pool
		}
		creds = credentials.NewTLS(cfg)
	} else if t.CAFile != "" || t.InsecureSkipVerify {
		return nil, errors.New("--ca-file and --insecure-skip-verify need --tls")
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if token != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return conn, nil
}

// CertPool adds the PEM certificates of caFile to pool.
func CertPool(pool *x509.CertPool, caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", caFile)
	}
	return pool, nil
}

// IsLoopback says whether addr's host is a loopback address or localhost,
// where plaintext stays on the machine.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearer sends the token with every call. It does not insist on transport
// security itself: loanctl warns before sending a token in plaintext
// anywhere but to the loopback interface.
type bearer TokenFunc

func (b bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := b(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
