package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// A migration takes a store from the schema version it is keyed by to version to.
type migration struct {
	to  string
	run func(tx *bolt.Tx, reindex Reindex) error
}

var migrations = map[string]migration{
	"1": {"2", migrate1},
	"2": {"3", migrate2},
}

// migrate1 gives every comment of a version 1 store (the submit path alone) the index entries
// that version 2 writes at submission, computed by reindex. Comments are still in the schema 2
// format then, which version 1 shared.
func migrate1(tx *bolt.Tx, reindex Reindex) error {
	c := tx.Bucket(Comments).Cursor()
	var comments []*Comment
	for k, v := c.First(); k != nil; k, v = c.Next() {
		cm, err := commentV2(k, v)
		if err != nil {
			return err
		}
		comments = append(comments, cm)
	}
	for _, cm := range comments {
		if err := reindex(tx, cm); err != nil {
			return fmt.Errorf("store: migrate comment %s: %w", cm.ID, err)
		}
	}
	return nil
}

// migrate2 rewrites the records of a version 2 store in this package's own types: comments
// (whose protobuf segment was the author's), thread messages and routing rules from protobuf to
// JSON, and headcounts with a registry version (0, older than any the registry sends).
func migrate2(tx *bolt.Tx, _ Reindex) error {
	for _, r := range []struct {
		b    Bucket
		conv func(k, v []byte) ([]byte, error)
	}{
		{Comments, func(k, v []byte) ([]byte, error) {
			c, err := commentV2(k, v)
			if err != nil {
				return nil, err
			}
			return encodeComment(c)
		}},
		{Messages, func(k, v []byte) ([]byte, error) {
			var m feedbackv1.Message
			if err := proto.Unmarshal(v, &m); err != nil {
				return nil, fmt.Errorf("store: decode schema 2 message %x: %w", k, err)
			}
			return encodeMessage(&Message{ID: m.Id, Author: m.Author, Text: m.Text, Day: dayV2(m.CreateDay), Status: m.Status})
		}},
		{RoutingRules, func(k, v []byte) ([]byte, error) {
			var r feedbackv1.RoutingRule
			if err := proto.Unmarshal(v, &r); err != nil {
				return nil, fmt.Errorf("store: decode schema 2 rule %s: %w", k, err)
			}
			p, err := segment.Parse(r.SegmentPrefix)
			if err != nil {
				return nil, fmt.Errorf("store: schema 2 rule %s: %w", k, err)
			}
			return encodeRule(Rule{ID: r.Id, Prefix: p, Dimension: r.Dimension, OwnerGroup: r.OwnerGroup})
		}},
		{Headcounts, func(k, v []byte) ([]byte, error) {
			if len(v) != 4 {
				return nil, fmt.Errorf("store: schema 2 headcount of %s has %d bytes, want 4", k, len(v))
			}
			return encodeHeadcount(Headcount{People: binary.BigEndian.Uint32(v)}), nil
		}},
	} {
		if err := rewrite(tx.Bucket(r.b), r.conv); err != nil {
			return fmt.Errorf("bucket %s: %w", r.b, err)
		}
	}
	return nil
}

// rewrite replaces every value of bk with conv's, a batch at a time: a cursor may not walk a
// bucket that is being written.
func rewrite(bk *bolt.Bucket, conv func(k, v []byte) ([]byte, error)) error {
	const batch = 1000
	type kv struct{ k, v []byte }
	var after []byte
	for {
		var out []kv
		c := bk.Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < batch; k, v = c.Next() {
			nv, err := conv(k, v)
			if err != nil {
				return err
			}
			out = append(out, kv{bytes.Clone(k), nv})
		}
		if len(out) == 0 {
			return nil
		}
		for _, e := range out {
			if err := bk.Put(e.k, e.v); err != nil {
				return err
			}
		}
		after = out[len(out)-1].k
	}
}

// commentV2 reads a comment of schema 1 or 2: a feedbackv1.Feedback whose segment is the
// author's.
func commentV2(k, v []byte) (*Comment, error) {
	var f feedbackv1.Feedback
	if err := proto.Unmarshal(v, &f); err != nil {
		return nil, fmt.Errorf("store: decode schema 2 comment %s: %w", k, err)
	}
	author, err := segment.Parse(f.Segment)
	if err != nil {
		return nil, fmt.Errorf("store: schema 2 comment %s: author segment: %w", k, err)
	}
	id := f.Id
	if id == "" {
		id = string(k)
	}
	return &Comment{
		ID: id, AuthorSegment: author, Text: f.Text, Channel: f.Channel, Status: f.Status,
		Dimensions: f.Dimensions, SentimentScore: f.SentimentScore, SentimentLabel: f.SentimentLabel,
		OwnerGroup: f.OwnerGroup, Upvotes: f.Upvotes, CreateDay: dayV2(f.CreateDay),
		UpdateDay: dayV2(f.UpdateDay), MessageCount: f.MessageCount, Language: f.Language,
	}, nil
}

// dayV2 reads a schema 2 day; the zero time when unset.
func dayV2(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime().UTC()
}
