package store

import (
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// UnsafePutHeadcount sets the headcount of segment path.
func UnsafePutHeadcount(tx *bolt.Tx, path string, n uint32) error {
	bk, err := Headcounts.in(tx)
	if err != nil {
		return err
	}
	return bk.Put([]byte(path), binary.BigEndian.AppendUint32(nil, n))
}

// UnsafeHeadcount returns the headcount of segment path, 0 when unknown.
func UnsafeHeadcount(tx *bolt.Tx, path string) (uint32, error) {
	bk, err := Headcounts.in(tx)
	if err != nil {
		return 0, err
	}
	v := bk.Get([]byte(path))
	switch len(v) {
	case 0:
		return 0, nil
	case 4:
		return binary.BigEndian.Uint32(v), nil
	}
	return 0, fmt.Errorf("store: headcount of %s has %d bytes, want 4", path, len(v))
}

// UnsafeScanHeadcounts calls fn for each segment within prefix (the prefix itself included)
// whose headcount is set and not zero, in path order, starting after the path after ("" for
// the start), until fn returns false.
func UnsafeScanHeadcounts(tx *bolt.Tx, prefix, after string, fn func(path string, n uint32) bool) error {
	bk, err := Headcounts.in(tx)
	if err != nil {
		return err
	}
	c := bk.Cursor()
	k, v := c.Seek([]byte(prefix))
	if after != "" {
		k, v = c.Seek([]byte(after))
		if string(k) == after {
			k, v = c.Next()
		}
	}
	for ; k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
		if len(k) > len(prefix) && k[len(prefix)] != '/' {
			continue // "acme/eng-x" is not within "acme/eng"
		}
		if len(v) != 4 {
			return fmt.Errorf("store: headcount of %s has %d bytes, want 4", k, len(v))
		}
		n := binary.BigEndian.Uint32(v)
		if n == 0 {
			continue
		}
		if !fn(string(k), n) {
			return nil
		}
	}
	return nil
}
