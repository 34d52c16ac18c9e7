// Package store opens the read model named by a URL, picking the adapter by
// its scheme. (Meant to move to platform/readmodel so that the query
// service opens stores the same way.)
package store

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

// DefaultURL is the embedded default: a SQLite file under .data.
const DefaultURL = "sqlite:.data/readmodel.db"

// Open opens the read model at url:
//
//	sqlite:PATH                    the embedded SQLite store in the file PATH
//	                               (its directory is created if missing)
//	mongodb://... mongodb+srv://...  MongoDB (production)
func Open(ctx context.Context, url string) (readmodel.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(url, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("read model %q: sqlite: needs a file path", url)
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("read model %q: %w", url, err)
			}
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
	return nil, fmt.Errorf("read model %s: want sqlite:PATH or a mongodb:// URI", Redact(url))
}

// Redact hides the password of a URI, for logs.
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
