package store_test

import (
	"testing"

	"github.com/loanflow/loans/projector-service/internal/store"
)

func TestOpen_ErrUnknownScheme(t *testing.T) {
	for _, url := range []string{"postgres://u:secret@h/db", "readmodel.db", "sqlite:"} {
		if _, err := store.Open(t.Context(), url); err == nil {
			t.Errorf("Open(%q): no error", url)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"mongodb://ada:secret@db1:27017/?replicaSet=rs": "mongodb://ada:xxxxx@db1:27017/?replicaSet=rs",
		"mongodb://db1:27017":                           "mongodb://db1:27017",
		"mongodb://ada@db1":                             "mongodb://ada@db1",
		"sqlite:.data/readmodel.db":                     "sqlite:.data/readmodel.db",
	} {
		if got := store.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
