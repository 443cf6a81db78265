package rollup

import (
	"bytes"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// A sealed window is final: no event counts in it any more (UnsafeSeal), its contributors are
// gone, and its aggregates, released values and release history never change again. A rebuild
// therefore does not recompute it: it copies it from the live store (UnsafeCopySealed), so the
// rebuilt store shows exactly what the live one showed and ignores the same late events.

// SealedWindows lists the windows of tx that are sealed (being sealed included).
func SealedWindows(tx Buckets) []string {
	var out []string
	_ = tx.Bucket(bucketWindows).ForEach(func(k, v []byte) error {
		if _, state, _ := parseWindowValue(v); state != 0 {
			out = append(out, string(k))
		}
		return nil
	})
	return out
}

// Sealed reports whether window w of tx is sealed.
func Sealed(tx Buckets, w string) bool {
	_, state, _ := parseWindowValue(tx.Bucket(bucketWindows).Get([]byte(w)))
	return state != 0
}

// UnsafeCopySealed makes window w of dst exactly what it is in src, where w is sealed: its
// aggregates, released and published values, release state and dirty marks (the keyed
// buckets), the flushes and waiting marks of its trees (the keys of rollup_flushes and
// rollup_waiting for which isTree is true), and its state, sealed with no contributors. What
// dst held of w before is replaced, its contributors deleted. The segments of w are added to
// dst's.
func UnsafeCopySealed(dst, src Buckets, w string, isTree func(tree []byte) bool) error {
	v := src.Bucket(bucketWindows).Get([]byte(w))
	_, state, last := parseWindowValue(v)
	if len(v) < 4 || state == 0 {
		return errors.New("rollup: copy of a window that is not sealed: " + w)
	}
	code, _, _, err := windowCode(dst, w)
	if err != nil {
		return err
	}
	log := dst.Bucket(bucketMemberLog)
	forgetWindow(log, code)
	if err := deletePrefix(log, windowPrefix(code)); err != nil {
		return err
	}
	if err := dst.Bucket(bucketWindows).Put([]byte(w), windowValue(code, windowSealed, last)); err != nil {
		return err
	}
	prefix := append([]byte(w), 0)
	for _, name := range keyedBuckets() {
		to, from := dst.Bucket(name), src.Bucket(name)
		if err := deletePrefix(to, prefix); err != nil {
			return err
		}
		c := from.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if err := to.Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
				return err
			}
		}
	}
	for _, name := range [][]byte{bucketFlushes, bucketWaiting} {
		to, from := dst.Bucket(name), src.Bucket(name)
		var drop [][]byte
		_ = to.ForEach(func(k, _ []byte) error {
			if isTree(k) {
				drop = append(drop, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range drop {
			if err := to.Delete(k); err != nil {
				return err
			}
		}
		err := from.ForEach(func(k, v []byte) error {
			if !isTree(k) {
				return nil
			}
			return to.Put(bytes.Clone(k), bytes.Clone(v))
		})
		if err != nil {
			return err
		}
	}
	// Its segments: an aggregate's segment is listed (Segments reads the trees from there).
	segs := dst.Bucket(bucketSegments)
	c := src.Bucket(bucketStats).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		key, err := parseKey(k)
		if err != nil || segs.Get([]byte(key.Segment)) != nil {
			continue
		}
		if err := segs.Put([]byte(key.Segment), []byte{}); err != nil {
			return err
		}
		if _, err := segs.NextSequence(); err != nil { // SegmentsVersion
			return err
		}
	}
	return nil
}

func windowPrefix(code uint32) []byte {
	return []byte{byte(code >> 24), byte(code >> 16), byte(code >> 8), byte(code)}
}

// deletePrefix deletes the keys of b that start with prefix.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// Windows adds to into the windows w added to (sealed ones included): a superset of the
// windows the events it applied count in.
func (w *Writer) Windows(into map[string]struct{}) {
	for name := range w.windows {
		into[name] = struct{}{}
	}
}
