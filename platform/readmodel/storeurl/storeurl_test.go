package storeurl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loanflow/loans/platform/readmodel/storeurl"
)

func TestOpen_SQLiteCreatesTheFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "readmodel.db")
	store, err := storeurl.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Position(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_Refusals(t *testing.T) {
	for _, url := range []string{"postgres://user:hunter2@db/loans", "readmodel.db", "sqlite:", "mongodb://user:hunter2@127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"} {
		_, err := storeurl.Open(t.Context(), url)
		if err == nil {
			t.Errorf("Open(%q): no error", url)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q): the error repeats the password: %v", url, err)
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
		if got := storeurl.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
