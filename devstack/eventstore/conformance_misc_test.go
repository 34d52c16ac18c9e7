package eventstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
)

// TestServerFeatures_Discovery: the client's server-feature discovery
// succeeds, and it learns the EventStoreDB protocol version the store
// follows.
func TestServerFeatures_Discovery(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	v, err := c.GetServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if got := [3]int{v.Major, v.Minor, v.Patch}; got != [3]int{24, 10, 0} {
		t.Fatalf("server version %v, want 24.10.0 (eventstore.ProtocolVersion %s)", got, eventstore.ProtocolVersion)
	}
	// And the connection that discovery opened serves the streams.
	ctx := testContext(t, testTimeout)
	mustAppend(t, ctx, c, "after-discovery", esdb.NoStream{}, jsonEvent("E", `{}`))
}

// TestUnsupportedServices_FailFast: persistent subscriptions and projections
// are not served; asking for them fails at once with an error, never hangs.
func TestUnsupportedServices_FailFast(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	const (
		deadline = 10 * time.Second
		quickly  = 5 * time.Second
	)
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"CreatePersistentSubscription", func(ctx context.Context) error {
			return c.CreatePersistentSubscription(ctx, "s", "group", esdb.PersistentStreamSubscriptionOptions{})
		}},
		{"CreatePersistentSubscriptionToAll", func(ctx context.Context) error {
			return c.CreatePersistentSubscriptionToAll(ctx, "group", esdb.PersistentAllSubscriptionOptions{})
		}},
		{"SubscribeToPersistentSubscription", func(ctx context.Context) error {
			sub, err := c.SubscribeToPersistentSubscription(ctx, "s", "group", esdb.SubscribeToPersistentSubscriptionOptions{})
			if err == nil {
				_ = sub.Close()
			}
			return err
		}},
		{"SubscribeToPersistentSubscriptionToAll", func(ctx context.Context) error {
			sub, err := c.SubscribeToPersistentSubscriptionToAll(ctx, "group", esdb.SubscribeToPersistentSubscriptionOptions{})
			if err == nil {
				_ = sub.Close()
			}
			return err
		}},
		{"DeletePersistentSubscription", func(ctx context.Context) error {
			return c.DeletePersistentSubscription(ctx, "s", "group", esdb.DeletePersistentSubscriptionOptions{})
		}},
		{"CreateProjection", func(ctx context.Context) error {
			return esdb.NewProjectionClientFromExistingClient(c).Create(ctx, "p", "fromAll().when({})", esdb.CreateProjectionOptions{})
		}},
		{"GetProjectionStatus", func(ctx context.Context) error {
			_, err := esdb.NewProjectionClientFromExistingClient(c).GetStatus(ctx, "p", esdb.GenericProjectionOptions{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t, deadline)
			start := time.Now()
			err := tc.call(ctx)
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			if elapsed > quickly || ctx.Err() != nil {
				t.Fatalf("the error took %v (context: %v), want it well before the %v deadline: %v", elapsed, ctx.Err(), deadline, err)
			}
			t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
		})
	}
	// The connection is still good for what is served.
	ctx := testContext(t, testTimeout)
	mustAppend(t, ctx, c, "still-served", esdb.NoStream{}, jsonEvent("E", `{}`))
}

// TestTLS: with Config.TLS the store serves TLS; the client connects with
// tls=true, either trusting the certificate's CA or skipping verification.
func TestTLS(t *testing.T) {
	cert, caPEM := selfSignedCertificate(t)
	srv := eventstoretest.Start(t, eventstore.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	if _, port, err := net.SplitHostPort(srv.Addr.String()); err != nil || srv.Addr.String() != "127.0.0.1:"+port {
		t.Fatalf("server address %s, want 127.0.0.1", srv.Addr)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	roundTrip := func(t *testing.T, c *esdb.Client) {
		t.Helper()
		ctx := testContext(t, testTimeout)
		events := numberedEvents("Secure", 0, 3)
		res := mustAppend(t, ctx, c, "tls-"+t.Name(), esdb.NoStream{}, events...)
		if res.NextExpectedVersion != 2 {
			t.Fatalf("NextExpectedVersion %d, want 2", res.NextExpectedVersion)
		}
		requireIDs(t, "read back", eventIDs(mustReadStream(t, ctx, c, "tls-"+t.Name(), esdb.ReadStreamOptions{}, 10)), dataIDs(events))
	}

	t.Run("SkippingVerification", func(t *testing.T) {
		roundTrip(t, eventstoretest.Connect(t, "esdb://"+srv.Addr.String()+"?tls=true&tlsVerifyCert=false"))
	})
	t.Run("TrustingTheCA", func(t *testing.T) {
		roundTrip(t, eventstoretest.Connect(t, "esdb://"+srv.Addr.String()+"?tls=true&tlsCAFile="+url.QueryEscape(caFile)))
	})
	t.Run("PlaintextClientIsRefused", func(t *testing.T) {
		c := eventstoretest.Connect(t, "esdb://"+srv.Addr.String()+"?tls=false&maxDiscoverAttempts=2&discoveryInterval=10&gossipTimeout=2")
		ctx := testContext(t, testTimeout)
		if _, err := c.AppendToStream(ctx, "plaintext", esdb.AppendToStreamOptions{}, jsonEvent("E", `{}`)); err == nil {
			t.Fatal("a plaintext client could append to a TLS server")
		}
	})
}

// selfSignedCertificate makes a certificate for 127.0.0.1 that is its own
// CA, and returns it with its PEM encoding.
func selfSignedCertificate(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "eventstore conformance test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
