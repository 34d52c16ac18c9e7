// Package storeurl opens the read model a URL names, picking the adapter by
// its scheme, so that the projector and the query service given one
// READMODEL_URL share one store:
//
//	sqlite:PATH                       the embedded SQLite store in the file PATH (its
//	                                  folder is created if missing): development,
//	                                  tests, one machine
//	mongodb://… or mongodb+srv://…    MongoDB, for production
package storeurl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/readmodel/mongostore"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
)

// Default is the embedded default: a SQLite file under .data.
const Default = "sqlite:.data/readmodel.db"

// Open opens the read model at url. Errors never repeat a password the URL
// holds.
func Open(ctx context.Context, url string) (readmodel.Store, error) {
	switch {
	case IsSQLite(url):
		path := strings.TrimPrefix(url, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("read model %q: sqlite: needs a file path, as in %s", url, Default)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("read model %q: %w", url, err)
		}
		s, err := sqlitestore.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("read model %q: %w", url, err)
		}
		return s, nil
	case strings.HasPrefix(url, "mongodb://"), strings.HasPrefix(url, "mongodb+srv://"):
		s, err := mongostore.Open(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("read model %s: %w", Redact(url), err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("read model %s: unknown scheme: want sqlite:PATH or a mongodb:// URI", Redact(url))
}

// IsSQLite tells whether url names the embedded SQLite store.
func IsSQLite(url string) bool { return strings.HasPrefix(url, "sqlite:") }

// Redact hides the password of a URI, for logs and errors.
func Redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok || strings.Contains(userinfo, "/") {
		return url
	}
	if user, _, hasPassword := strings.Cut(userinfo, ":"); hasPassword {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return url
}
