package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/segment"
)

// V1 reads the values of a schema 1 store. Schema 1 stored API and event messages, which
// this package does not know; the service, which does, supplies the conversions.
type V1 struct {
	// Survey converts a value of the surveys bucket (a pulsev1.Survey).
	Survey func(v []byte) (Survey, error)
	// Segment converts a value of the segments bucket (a pulsev1.Segment). Schema 1 had no
	// versions: a segment with a headcount starts at version 1, one without at 0.
	Segment func(v []byte) (Segment, error)
	// Response converts a value of the responses bucket (an eventsv1.ResponseSubmitted).
	Response func(v []byte) (Response, error)
	// Counted runs in the migration's transaction for every segment entry that gets a
	// version, so that the registry's first versions are announced like any later change.
	// May be nil.
	Counted func(tx *bolt.Tx, path segment.Path, s Segment) error
}

// migrate1 rewrites the values of a schema 1 store as this schema's records. Keys do not
// change. It runs in Init's transaction: a failure leaves the file at schema 1.
func migrate1(tx *bolt.Tx, v1 V1) error {
	if v1.Survey == nil || v1.Segment == nil || v1.Response == nil {
		return errors.New("store: the file is at schema 1 and this build was given no conversions")
	}
	err := rewrite(tx, Surveys, func(k, v []byte) ([]byte, error) {
		s, err := v1.Survey(v)
		if err != nil {
			return nil, fmt.Errorf("store: migrate survey %q: %w", k, err)
		}
		if s.ID != string(k) {
			return nil, fmt.Errorf("store: migrate survey %q: record says id %q", k, s.ID)
		}
		return encode(fmt.Sprintf("survey %q", k), s)
	})
	if err != nil {
		return err
	}
	err = rewrite(tx, Segments, func(k, v []byte) ([]byte, error) {
		path, err := segment.Parse(string(k))
		if err != nil {
			return nil, fmt.Errorf("store: migrate segment %q: %w", k, err)
		}
		s, err := v1.Segment(v)
		if err != nil {
			return nil, fmt.Errorf("store: migrate segment %q: %w", k, err)
		}
		s.Version = 0
		if s.Headcount > 0 {
			s.Version = 1
			if v1.Counted != nil {
				if err := v1.Counted(tx, path, s); err != nil {
					return nil, err
				}
			}
		}
		return encode(fmt.Sprintf("segment %q", k), s)
	})
	if err != nil {
		return err
	}
	return rewrite(tx, Responses, func(k, v []byte) ([]byte, error) {
		r, err := v1.Response(v)
		if err != nil {
			return nil, fmt.Errorf("store: migrate response %q: %w", k, err)
		}
		if want := append(ResponsePrefix(r.SurveyID, r.Wave), r.ID...); !bytes.Equal(want, k) {
			return nil, fmt.Errorf("store: migrate response %q: record is for survey %q wave %d id %q", k, r.SurveyID, r.Wave, r.ID)
		}
		return encode("response", r)
	})
}

// rewrite replaces every value of bucket b with fn's, a chunk at a time: a bucket may not
// change under its own cursor, so each chunk is copied, rewritten, and the cursor placed again
// after its last key.
func rewrite(tx *bolt.Tx, b Bucket, fn func(k, v []byte) ([]byte, error)) error {
	const chunk = 1024
	bk, err := b.writable(tx)
	if err != nil {
		return err
	}
	var from []byte
	for {
		var keys, values [][]byte
		c := bk.Cursor()
		k, v := c.First()
		if from != nil {
			if k, v = c.Seek(from); k != nil && bytes.Equal(k, from) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(keys) < chunk; k, v = c.Next() {
			keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
		}
		if len(keys) == 0 {
			return nil
		}
		for i, k := range keys {
			nv, err := fn(k, values[i])
			if err != nil {
				return err
			}
			if err := bk.Put(k, nv); err != nil {
				return fmt.Errorf("store: migrate %q: %w", k, err)
			}
		}
		from = keys[len(keys)-1]
	}
}
