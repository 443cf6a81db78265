// Package tokenfile changes a deployment's token file (auth.TokenFile) under a lock, so that
// `voix token` and `voix dev` never lose each other's change.
package tokenfile

import (
	"errors"
	"os"

	"github.com/voix-dev/voix/services/platform/auth"
)

// Update reads the token file at path (an empty one when it is missing and create is set),
// lets change edit it, and writes it back atomically, holding an exclusive lock on
// path+".lock" meanwhile.
func Update(path string, create bool, change func(*auth.TokenFile) error) error {
	unlock, err := lock(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	f, err := auth.ReadTokenFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		f, err = auth.TokenFile{}, nil
	}
	if err != nil {
		return err
	}
	if err := change(&f); err != nil {
		return err
	}
	return auth.WriteTokens(path, f)
}
