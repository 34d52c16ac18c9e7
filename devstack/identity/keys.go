package identity

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/go-jose/go-jose/v4"
)

// KeyFileName is the signing key's file in the data folder: an RSA private
// key, PKCS #8 in PEM, readable by its owner only.
const KeyFileName = "signing-key.pem"

// signingKey signs every token (RS256, which every OpenID Connect relying
// party must support). Its key ID is the RFC 7638 thumbprint of the public
// key, so the same key keeps the same ID across restarts.
type signingKey struct {
	id      string
	private *rsa.PrivateKey
}

func newSigningKey(private *rsa.PrivateKey) (*signingKey, error) {
	thumb, err := (&jose.JSONWebKey{Key: &private.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &signingKey{id: base64.RawURLEncoding.EncodeToString(thumb), private: private}, nil
}

func generateSigningKey() (*signingKey, error) {
	private, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return newSigningKey(private)
}

// SignatureAlgorithm, Key and ID make it an op.SigningKey.
func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.private }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is the key as the JWKS publishes it (an op.Key).
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.private.PublicKey }

// loadOrCreateKey reads dir/KeyFileName, or makes a new key there when the
// file is missing. Two processes starting at once end with the same key: the
// file appears whole (hard link of a synced temporary file) or not at all.
func loadOrCreateKey(dir string, logger *slog.Logger) (*signingKey, error) {
	path := filepath.Join(dir, KeyFileName)
	k, err := readKey(path, logger)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k, err = generateSigningKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".signing-key-*.tmp") // mode 0600
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		_ = tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return readKey(path, logger) // another process made it first
	} else if err != nil {
		return nil, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	logger.Info("identity: created a signing key", "file", path, "kid", k.id)
	return k, nil
}

func readKey(path string, logger *slog.Logger) (*signingKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("signing key %s: not a PEM \"PRIVATE KEY\" (delete the file to make a new key)", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	private, ok := parsed.(*rsa.PrivateKey)
	if !ok || private.N.BitLen() < 2048 {
		return nil, fmt.Errorf("signing key %s: not an RSA key of 2048 bits or more", path)
	}
	if info.Mode().Perm()&0o077 != 0 {
		logger.Warn("identity: the signing key file is readable by others than its owner", "file", path, "mode", info.Mode().Perm().String())
	}
	k, err := newSigningKey(private)
	if err != nil {
		return nil, err
	}
	logger.Info("identity: loaded the signing key", "file", path, "kid", k.id)
	return k, nil
}
