// Package store opens a service's bbolt file the one way every voix service should: with a
// lock timeout (so a second process fails fast with a clear error instead of hanging), private
// file permissions, and Batch settings sized for the real concurrency of a gRPC server.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrLocked is returned (wrapped) by Open when another process, or another Open in this one,
// holds the file.
var ErrLocked = errors.New("store: database file is locked")

// LockTimeout is how long Open waits for the file lock before giving up with ErrLocked.
const LockTimeout = time.Second

// Batch settings. bbolt's defaults (1000 calls, 10 ms) make each Batch caller wait for the
// timer; a size near the real number of concurrent writers flushes as soon as they are all in.
const (
	MaxBatchSize  = 64
	MaxBatchDelay = 2 * time.Millisecond
)

// Open opens (creating if needed) the bbolt file at path, and its parent directory with mode
// 0700. The file is created 0600: it holds data about people.
func Open(path string) (*bolt.DB, error) {
	if path == "" {
		return nil, errors.New("store: path is required")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is held by another process (is another voix running with the same --data-dir?)", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.MaxBatchSize = MaxBatchSize
	db.MaxBatchDelay = MaxBatchDelay
	return db, nil
}

// EnsureBuckets creates the top-level buckets that do not exist yet, in one transaction.
func EnsureBuckets(db *bolt.DB, names ...[]byte) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, name := range names {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %q: %w", name, err)
			}
		}
		return nil
	})
}
