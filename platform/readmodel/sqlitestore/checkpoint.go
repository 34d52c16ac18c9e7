package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// SQLite copies the WAL into the database (a checkpoint) inside the commit
// that takes the WAL past wal_autocheckpoint pages, on the writer's
// connection: that commit is visible at once, but the writer's next
// transaction waits until every page is copied and the file synced. For
// the projector live that was about 90 ms every 2 s at 500 events a
// second on the 2-core VM: its whole live-lag tail (docs/BENCHMARKS.md).
// A PASSIVE checkpoint from a connection of its own takes no lock the
// writer needs, so the store checkpoints in the background instead, at
// most every checkpointEvery while it writes; the writer's own checkpoint
// stays as a backstop, at writerCheckpointPages, should the background one
// fall behind.

// checkpointEvery is how often the background checkpoint runs while the
// store writes: about as often as the WAL reached WALCheckpointPages while
// catching up, so that a hot page is still copied once for several batches.
const checkpointEvery = time.Second

// writerCheckpointPages is the WAL size (pages) at which the writer
// checkpoints by itself.
const writerCheckpointPages = 4 * WALCheckpointPages

// walCheckpointer runs the background checkpoints of one Store.
type walCheckpointer struct {
	db       *sql.DB // a connection of its own
	kick     chan struct{}
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func newWALCheckpointer(db *sql.DB) *walCheckpointer {
	c := &walCheckpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// written tells the checkpointer the store has written; it never waits.
func (c *walCheckpointer) written() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *walCheckpointer) run() {
	defer close(c.done)
	var last time.Time
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		if wait := checkpointEvery - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.stop:
				t.Stop()
				return
			}
		}
		last = time.Now()
		// A failure (a checkpoint already running in another process, say)
		// leaves the WAL to the next round, or to the writer's own.
		_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

// close stops the checkpointer (the one running finishes first) and closes
// its connection.
func (c *walCheckpointer) close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
