package service

import (
	"context"
	"fmt"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/readmodel/mongostore"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
)

func openSQLite(ctx context.Context, path string) (readmodel.Store, error) {
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read model sqlite:%s: %w", path, err)
	}
	return s, nil
}

func openMongo(ctx context.Context, uri string) (readmodel.Store, error) {
	s, err := mongostore.Open(ctx, uri)
	if err != nil {
		// Not the URI: it may hold a password.
		return nil, fmt.Errorf("read model on MongoDB: %w", err)
	}
	return s, nil
}
