package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/voix-dev/voix/services/platform/segment"
)

// Headcount is the service's copy of a segment's entry in the segment registry, which the
// pulse service owns.
type Headcount struct {
	// People is the segment's headcount; 0 means unregistered. An unregistered segment keeps
	// its record, so that its version is remembered.
	People uint32
	// Version is the registry's version of the entry; 0 for a headcount set before the
	// registry moved to the pulse service.
	Version uint64
}

const headcountSize = 4 + 8

func decodeHeadcount(path, v []byte) (Headcount, error) {
	if len(v) != headcountSize {
		return Headcount{}, fmt.Errorf("store: headcount of %s has %d bytes, want %d", path, len(v), headcountSize)
	}
	return Headcount{People: binary.BigEndian.Uint32(v), Version: binary.BigEndian.Uint64(v[4:])}, nil
}

func encodeHeadcount(h Headcount) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(make([]byte, 0, headcountSize), h.People), h.Version)
}

// UnsafePutHeadcount stores the entry of segment path, and bumps the PlacementVersion of its
// organisation in the same transaction.
func UnsafePutHeadcount(tx WriteTx, path segment.Path, h Headcount) error {
	bk, err := Headcounts.writable(tx)
	if err != nil {
		return err
	}
	if err := bk.Put([]byte(path.String()), encodeHeadcount(h)); err != nil {
		return err
	}
	return unsafeBumpPlacement(tx, path.Org())
}

// GetHeadcount returns the entry of segment path, and false when there is none.
func GetHeadcount(tx ReadTx, path segment.Path) (Headcount, bool, error) {
	bk, err := Headcounts.in(tx)
	if err != nil {
		return Headcount{}, false, err
	}
	v := bk.Get([]byte(path.String()))
	if v == nil {
		return Headcount{}, false, nil
	}
	h, err := decodeHeadcount([]byte(path.String()), v)
	return h, err == nil, err
}

// ScanHeadcounts calls fn for each registered segment (headcount not zero) within prefix, the
// prefix itself included, in path order, starting after the path after (the zero Path for the
// start), until fn returns false.
func ScanHeadcounts(tx ReadTx, prefix, after segment.Path, fn func(path segment.Path, n uint32) bool) error {
	bk, err := Headcounts.in(tx)
	if err != nil {
		return err
	}
	// Every path within prefix starts with its bytes: they bound the scan. Which of those paths
	// are within it ("acme/eng-x" is not within "acme/eng") is the segment package's answer.
	lo := []byte(prefix.String())
	c := bk.Cursor()
	k, v := c.Seek(lo)
	if !after.IsZero() && bytes.Compare([]byte(after.String()), lo) >= 0 {
		k, v = c.Seek([]byte(after.String()))
		if string(k) == after.String() {
			k, v = c.Next()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, lo); k, v = c.Next() {
		p, err := segment.Parse(string(k))
		if err != nil {
			return fmt.Errorf("store: headcount key %q: %w", k, err)
		}
		if !p.Within(prefix) {
			continue
		}
		h, err := decodeHeadcount(k, v)
		if err != nil {
			return err
		}
		if h.People == 0 {
			continue
		}
		if !fn(p, h.People) {
			return nil
		}
	}
	return nil
}

func placementKey(org string) []byte { return append([]byte("placement/"), org...) }

// PlacementVersion is the version of organisation org's headcounts: UnsafePutHeadcount bumps
// it in the transaction that changes them, so a placement computed from the headcounts a
// transaction sees can be reused by any transaction that sees the same version (0 before the
// first change).
func PlacementVersion(tx ReadTx, org string) (uint64, error) {
	bk, err := Meta.in(tx)
	if err != nil {
		return 0, err
	}
	v := bk.Get(placementKey(org))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("store: placement version of %s has %d bytes, want 8", org, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// unsafeBumpPlacement bumps organisation org's PlacementVersion.
func unsafeBumpPlacement(tx WriteTx, org string) error {
	n, err := PlacementVersion(tx, org)
	if err != nil {
		return err
	}
	bk, err := Meta.writable(tx)
	if err != nil {
		return err
	}
	return bk.Put(placementKey(org), binary.BigEndian.AppendUint64(nil, n+1))
}
