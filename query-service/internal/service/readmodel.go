package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/loanflow/loans/platform/readmodel"
)

// OpenReadModel opens the read model a URL names, picking the adapter by its
// scheme:
//
//	sqlite:PATH           the embedded SQLite store in the file PATH (its folder is
//	                      created if missing); for development, tests and one machine
//	mongodb://…           MongoDB (mongodb+srv:// too), for production
//
// The projector reads the same URLs the same way, so both processes given
// one READMODEL_URL share one store.
func OpenReadModel(ctx context.Context, url string) (readmodel.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(url, "sqlite:")
		if path == "" {
			return nil, errors.New("read model: sqlite: needs a file path, as in sqlite:.data/readmodel.db")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("read model: %w", err)
		}
		return openSQLite(ctx, path)
	case strings.HasPrefix(url, "mongodb://"), strings.HasPrefix(url, "mongodb+srv://"):
		return openMongo(ctx, url)
	}
	scheme, _, _ := strings.Cut(url, ":") // not the rest: it may hold a password
	return nil, fmt.Errorf("read model: unknown scheme %q: want sqlite:PATH or a mongodb:// URI", scheme)
}
