package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFile keeps the commit position of the last command per command
// service, so that a later query run with --wait reads its own writes.
const stateFile = "state.json"

type state struct {
	LastCommitPosition map[string]uint64 `json:"last_commit_position"`
}

// LastPosition is the commit position the last command sent to
// commandAddr returned (0 when none is known).
func LastPosition(dir, commandAddr string) (uint64, error) {
	s, err := readState(dir)
	if err != nil {
		return 0, err
	}
	return s.LastCommitPosition[commandAddr], nil
}

// SaveLastPosition records a command's commit position.
func SaveLastPosition(dir, commandAddr string, position uint64) error {
	s, err := readState(dir)
	if err != nil {
		return err
	}
	if s.LastCommitPosition == nil {
		s.LastCommitPosition = map[string]uint64{}
	}
	s.LastCommitPosition[commandAddr] = position
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, stateFile), append(b, '\n'), 0o600)
}

func readState(dir string) (state, error) {
	var s state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return s, nil
}

// WriteFileAtomic writes a file in dir (made 0700 when missing) through a
// temporary file and a rename, so that a reader never sees half of it and
// the file never exists with a wider mode than perm.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
