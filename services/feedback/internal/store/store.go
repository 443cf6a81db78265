// Package store owns the feedback service's bbolt layout: comments and their threads, the
// hashes of follow-up tokens, the index of comments by day (listings, statistics, deadlines),
// routing rules, headcounts, and the keyed tags that stand in for people (idempotency, rate
// limits, upvotes, distinct-people counts). Buckets are typed values; helpers whose name starts with
// Unsafe need the caller's transaction (etcd style), so that a handler can put a comment, its
// indexes and its outbox event in one commit.
//
// Layout (all keys and values are bytes; proto values use deterministic marshalling; "day" is
// a UTC midnight as big-endian Unix seconds):
//
//	meta           "schema" -> "2"; "deadline/<kind>" -> day (comments made up to it were checked)
//	comments       feedback id (random) -> feedbackv1.Feedback, segment = the author's own segment
//	loops          feedback id -> Loop (acknowledge and close days, owner set by hr)
//	messages       feedback id + 0x00 + big-endian seq -> feedbackv1.Message
//	follow_ups     sha256(follow-up token) -> feedback id
//	idempotency    Tag("feedback/idempotency/"+key, ref) -> big-endian unix expiry (8 bytes) + feedback id
//	by_day         org + 0x00 + ^day (8 bytes, newest first) + shuffle (8 bytes) + feedback id -> empty
//	rate_limits    Tag(DayScope("feedback/rate", day), ref) -> big-endian unix expiry (8 bytes) + count (4 bytes)
//	upvotes        Tag("feedback/upvote/"+feedback id, ref) -> empty
//	people         segment + 0x00 + month key + 0x00 + Tag("feedback/people/"+segment+"/"+month, ref) -> empty
//	routing_rules  rule id (random) -> feedbackv1.RoutingRule
//	headcounts     segment path -> big-endian uint32
//
// Nothing here holds a submitter ref, or a tag of one that joins two comments: idempotency
// tags are scoped to one key and expire, rate-limit tags to one day and expire, upvote tags to
// one comment, and people tags to one segment and month, in a bucket that names no comment.
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
)

// SchemaVersion is the layout described in the package comment.
const SchemaVersion = "2"

// Bucket is a top-level bbolt bucket of the feedback store.
type Bucket []byte

// The buckets of the layout.
var (
	Meta         = Bucket("meta")
	Comments     = Bucket("comments")
	Loops        = Bucket("loops")
	Messages     = Bucket("messages")
	FollowUps    = Bucket("follow_ups")
	Idempotency  = Bucket("idempotency")
	ByDay        = Bucket("by_day")
	RateLimits   = Bucket("rate_limits")
	Upvotes      = Bucket("upvotes")
	People       = Bucket("people")
	RoutingRules = Bucket("routing_rules")
	Headcounts   = Bucket("headcounts")
)

// Buckets lists every bucket of the layout.
func Buckets() []Bucket {
	return []Bucket{Meta, Comments, Loops, Messages, FollowUps, Idempotency, ByDay,
		RateLimits, Upvotes, People, RoutingRules, Headcounts}
}

// ErrNotFound is returned for a comment, rule or token that does not exist.
var ErrNotFound = errors.New("not found")

var schemaKey = []byte("schema")

// Init creates the buckets and records the schema version, or checks it on an existing store.
// A version 1 store (the submit path alone) is migrated in place: its comments get the index
// entries that version 2 writes at submission, computed by reindex.
func Init(db *bolt.DB, reindex func(tx *bolt.Tx, c *feedbackv1.Feedback) error) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range Buckets() {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("store: create bucket %q: %w", b, err)
			}
		}
		meta := tx.Bucket(Meta)
		switch v := meta.Get(schemaKey); {
		case v == nil:
			return meta.Put(schemaKey, []byte(SchemaVersion))
		case string(v) == "1":
			if err := migrate1(tx, reindex); err != nil {
				return err
			}
			return meta.Put(schemaKey, []byte(SchemaVersion))
		case string(v) != SchemaVersion:
			return fmt.Errorf("store: schema version %q, this build reads %q: migrate or restore a matching backup", v, SchemaVersion)
		}
		return nil
	})
}

// migrate1 gives every comment of a version 1 store its version 2 entries.
func migrate1(tx *bolt.Tx, reindex func(tx *bolt.Tx, c *feedbackv1.Feedback) error) error {
	var ids []string
	if err := tx.Bucket(Comments).ForEach(func(k, _ []byte) error {
		ids = append(ids, string(k))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		c, err := UnsafeGetComment(tx, id)
		if err != nil {
			return err
		}
		if err := reindex(tx, c); err != nil {
			return fmt.Errorf("store: migrate comment %s: %w", id, err)
		}
	}
	return nil
}

func (b Bucket) in(tx *bolt.Tx) (*bolt.Bucket, error) {
	bk := tx.Bucket(b)
	if bk == nil {
		return nil, fmt.Errorf("store: bucket %q missing: open the store with Init", b)
	}
	return bk, nil
}

var marshal = proto.MarshalOptions{Deterministic: true}

// UnsafePutComment stores c under c.Id.
func UnsafePutComment(tx *bolt.Tx, c *feedbackv1.Feedback) error {
	bk, err := Comments.in(tx)
	if err != nil {
		return err
	}
	if c.GetId() == "" {
		return errors.New("store: comment without id")
	}
	data, err := marshal.Marshal(c)
	if err != nil {
		return fmt.Errorf("store: encode comment %s: %w", c.Id, err)
	}
	return bk.Put([]byte(c.Id), data)
}

// UnsafeGetComment returns the comment id, or ErrNotFound.
func UnsafeGetComment(tx *bolt.Tx, id string) (*feedbackv1.Feedback, error) {
	bk, err := Comments.in(tx)
	if err != nil {
		return nil, err
	}
	data := bk.Get([]byte(id))
	if data == nil {
		return nil, fmt.Errorf("%w: feedback %q", ErrNotFound, id)
	}
	c := &feedbackv1.Feedback{}
	if err := proto.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("store: decode comment %s: %w", id, err)
	}
	return c, nil
}

// UnsafePutFollowUp maps the hash of a follow-up token to its comment.
func UnsafePutFollowUp(tx *bolt.Tx, tokenHash []byte, id string) error {
	bk, err := FollowUps.in(tx)
	if err != nil {
		return err
	}
	return bk.Put(bytes.Clone(tokenHash), []byte(id))
}

// UnsafeFollowUp returns the comment id a token hash opens, or "" when none.
func UnsafeFollowUp(tx *bolt.Tx, tokenHash []byte) (string, error) {
	bk, err := FollowUps.in(tx)
	if err != nil {
		return "", err
	}
	return string(bk.Get(tokenHash)), nil
}

// UnsafePutIdempotency records that the request tagged tag created comment id, until expires.
func UnsafePutIdempotency(tx *bolt.Tx, tag []byte, id string, expires time.Time) error {
	bk, err := Idempotency.in(tx)
	if err != nil {
		return err
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(expires.Unix()))
	return bk.Put(bytes.Clone(tag), append(v, id...))
}

// UnsafeIdempotency returns the comment a request tagged tag created, or "" when there is none
// or its record expired before now.
func UnsafeIdempotency(tx *bolt.Tx, tag []byte, now time.Time) (string, error) {
	bk, err := Idempotency.in(tx)
	if err != nil {
		return "", err
	}
	v := bk.Get(tag)
	if v == nil {
		return "", nil
	}
	if len(v) < 8 {
		return "", fmt.Errorf("store: idempotency record of %d bytes, want at least 8", len(v))
	}
	if int64(binary.BigEndian.Uint64(v)) <= now.Unix() {
		return "", nil
	}
	return string(v[8:]), nil
}

// PruneIdempotency deletes the idempotency records expired at now, at most limit of them, and
// returns how many it deleted. Keys are random-looking tags, so it scans the bucket.
func PruneIdempotency(db *bolt.DB, now time.Time, limit int) (int, error) {
	return prune(db, Idempotency, now, limit)
}

// PruneRateLimits deletes the rate-limit counters of days that are over, at most limit of them.
func PruneRateLimits(db *bolt.DB, now time.Time, limit int) (int, error) {
	return prune(db, RateLimits, now, limit)
}

// prune deletes the records of b whose value starts with a big-endian unix expiry at or before
// now.
func prune(db *bolt.DB, b Bucket, now time.Time, limit int) (int, error) {
	n := 0
	err := db.Update(func(tx *bolt.Tx) error {
		n = 0
		bk, err := b.in(tx)
		if err != nil {
			return err
		}
		c := bk.Cursor()
		for k, v := c.First(); k != nil && n < limit; {
			if len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) > now.Unix() {
				k, v = c.Next()
				continue
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
			// Delete moves the cursor onto the next item: read it without stepping over it.
			k, v = c.Seek(k)
		}
		return nil
	})
	return n, err
}
