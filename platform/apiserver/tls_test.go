package apiserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
)

// selfSigned writes a self-signed certificate for dnsName (and no IP
// address) and its key into a temporary directory.
func selfSigned(t *testing.T, dnsName string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: dnsName},
		DNSNames:              []string{dnsName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func TestServer_TLS(t *testing.T) {
	const name = "loans.test" // not 127.0.0.1: the gateway must not need it
	certFile, keyFile, cert := selfSigned(t, name)
	srv, _, _, _ := start(t, func(c *apiserver.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	clientTLS := &tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS12}

	t.Run("GRPC", func(t *testing.T) {
		conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp, err := loansv1.NewLoanQueryServiceClient(conn).GetLoanApplication(callCtx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "abc"})
		if err != nil || resp.GetLoanApplication().GetLoanApplicationUuid() != "abc" {
			t.Fatalf("got %v, %v", resp, err)
		}
	})
	t.Run("RESTThroughTheGatewaysTLSConnection", func(t *testing.T) {
		transport := &http.Transport{TLSClientConfig: clientTLS}
		defer transport.CloseIdleConnections()
		resp, body := do(t, &http.Client{Transport: transport}, newRequest(t, http.MethodGet, "https://"+srv.HTTPAddr()+"/v1/loan-applications/abc", nil))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d %s, want 200", resp.StatusCode, body)
		}
	})
	t.Run("PlainTextGRPCRefused", func(t *testing.T) {
		conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := loansv1.NewLoanQueryServiceClient(conn).GetLoanApplication(callCtx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "abc"}); err == nil {
			t.Fatal("a plain-text gRPC call was served")
		}
	})
	t.Run("PlainTextHTTPRefused", func(t *testing.T) {
		resp, err := http.DefaultClient.Do(newRequest(t, http.MethodGet, "http://"+srv.HTTPAddr()+"/v1/loan-applications/abc", nil))
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("a plain-text request got HTTP %d, want 400 or no answer", resp.StatusCode)
			}
		}
	})
}

// The gateway's loopback connection accepts the server's own certificate
// and no other, even one naming the same host.
func TestPinnedTLS(t *testing.T) {
	ownCert, ownKey, _ := selfSigned(t, "loans.test")
	otherCert, otherKey, _ := selfSigned(t, "loans.test")
	own, err := tls.LoadX509KeyPair(ownCert, ownKey)
	if err != nil {
		t.Fatal(err)
	}
	other, err := tls.LoadX509KeyPair(otherCert, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		presented tls.Certificate
		ok        bool
	}{
		"OwnCertificateTrusted":   {own, true},
		"OtherCertificateRefused": {other, false},
	} {
		t.Run(name, func(t *testing.T) {
			lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{tc.presented}, MinVersion: tls.VersionTLS12})
			if err != nil {
				t.Fatal(err)
			}
			defer lis.Close()
			go func() {
				c, err := lis.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			}()
			dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: apiserver.PinnedTLS(own)}
			conn, err := dialer.DialContext(callCtx(t), "tcp", lis.Addr().String())
			if err == nil {
				_ = conn.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("handshake error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
