package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/store"
)

func TestOpenCreatesPrivateFileAndDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "feedback", "feedback.db")
	db, err := store.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer db.Close()
	if db.MaxBatchSize != store.MaxBatchSize || db.MaxBatchDelay != store.MaxBatchDelay {
		t.Fatalf("batch settings = %d/%v, want %d/%v", db.MaxBatchSize, db.MaxBatchDelay, store.MaxBatchSize, store.MaxBatchDelay)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat file: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("file mode = %o, want 600", got)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatalf("stat dir: %v", err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Fatalf("dir mode = %o, want 700", got)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := store.Open(path)
	if err != nil {
		t.Fatalf("first open: %v", err)
	}
	defer db.Close()

	db2, err := store.Open(path)
	if err == nil {
		db2.Close()
		t.Fatal("second open succeeded, want ErrLocked")
	}
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("error %q should name the file and hint at --data-dir", err)
	}
}

func TestEnsureBucketsSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := store.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	names := [][]byte{[]byte("a"), []byte("b")}
	if err := store.EnsureBuckets(db, names...); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	// Idempotent.
	if err := store.EnsureBuckets(db, names...); err != nil {
		t.Fatalf("ensure again: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db, err = store.Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for _, n := range names {
			if tx.Bucket(n) == nil {
				t.Errorf("bucket %q missing after reopen", n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("view: %v", err)
	}
}
