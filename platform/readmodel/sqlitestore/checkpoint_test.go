package sqlitestore_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
)

// The WAL is copied into the database file by a checkpoint of its own,
// within about a second of a write, not by the writer's commit once the WAL
// is large (that one would hold up the writer's next transaction).
func TestStore_WALCheckpointedInTheBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "readmodel.db")
	s := open(t, path)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	apps := make([]readmodel.Application, 2000)
	for i := range apps {
		apps[i] = application(i, uint64(i+1))
	}
	mustApply(t, s, 1, readmodel.Batch{Applications: apps, Checkpoint: uint64(len(apps))})
	deadline := time.Now().Add(10 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the database file is still %d bytes 10 s after a write of %d applications: nothing checkpointed", before, len(apps))
		}
		time.Sleep(20 * time.Millisecond) // the polling pace
	}
	t.Logf("database file %d → %d bytes", before, size())
}
