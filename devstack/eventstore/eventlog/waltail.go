package eventlog

import (
	"errors"
	"io"

	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/wal"
)

// walTail describes how the newest write-ahead log ends.
type walTail struct {
	file  string
	valid int64  // offset where the last whole record starts
	size  uint64 // bytes in the file
	torn  bool   // the log ends in a record that is not whole
}

// inspectWALTail reads the newest write-ahead log the way Pebble replays it
// and reports where its last whole record ends. Pebble discards whatever
// follows (a write that a crash cut short, never acknowledged because
// acknowledgement waits for the sync), so this is what a crash cost.
func inspectWALTail(dir string) (walTail, bool, error) {
	logs, err := wal.Scan(wal.Dir{FS: vfs.Default, Dirname: dir})
	if err != nil || len(logs) == 0 {
		return walTail{}, false, err
	}
	last := logs[len(logs)-1]
	size, err := last.PhysicalSize()
	if err != nil {
		return walTail{}, false, err
	}
	r := last.OpenForRead()
	defer r.Close()
	var tail walTail
	tail.size = size
	for {
		rec, off, err := r.NextRecord()
		if err == nil {
			_, err = io.Copy(io.Discard, rec)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return tail, true, nil
			}
			if errors.Is(err, record.ErrUnexpectedEOF) || record.IsInvalidRecord(err) {
				tail.torn = true
				return tail, true, nil
			}
			return tail, true, err
		}
		tail.file = off.PhysicalFile
		tail.valid = off.Physical
	}
}
