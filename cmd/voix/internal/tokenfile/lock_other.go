//go:build !unix

package tokenfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// lock makes sure the directory exists; without flock, two writers at once
// may lose one change.
func lock(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock token file: %w", err)
	}
	return func() {}, nil
}
