package apiserver

import (
	"bytes"
	"crypto/tls"
	"errors"
)

// serverTLS is what both listeners serve.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// pinnedTLS is the gateway's side of its loopback connection to the gRPC
// listener. It trusts exactly the certificate that listener serves,
// whoever issued it and whatever names it carries (the loopback address is
// rarely one of them).
func pinnedTLS(cert tls.Certificate) *tls.Config {
	own := cert.Certificate[0]
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain and name checks are replaced, not dropped:
		// VerifyConnection accepts this one certificate and nothing else.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, own) {
				return errors.New("apiserver: the gRPC listener presented a certificate other than its own")
			}
			return nil
		},
	}
}
