package store

import (
	"encoding/binary"
	"fmt"

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
