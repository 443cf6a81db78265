// Package store owns the feedback service's bbolt layout: comments and their threads, the
// hashes of follow-up tokens, the index of comments by day (listings, statistics, deadlines),
// routing rules, the copy of the segment registry's headcounts, and the keyed tags that stand
// in for people (idempotency, rate limits, upvotes, distinct-people counts).
//
// Records are this package's own types (Comment, Message, Rule, Headcount, Loop), never the
// API's or the events' messages: the service maps them at its edge, a comment only through
// its placement, which decides the segment readers see. So the API, the events and the disk
// change independently, and a comment's author segment is named as such: on disk it never sits
// in a field that, in the API, means the segment a comment is shown under.
//
// Buckets are typed values. Reads take a ReadTx (any transaction); helpers whose name starts
// with Unsafe write, and need the caller's write transaction (etcd style), so that a handler
// can put a comment, its indexes and its outbox event in one commit.
//
// Layout, schema 3 (all keys and values are bytes; "day" is a UTC midnight as big-endian Unix
// seconds; JSON records keep days as "2006-01-02", and the binary comment record as day
// numbers, so they cannot hold an instant):
//
//	meta           "schema" -> "3"; "deadline/<kind>" -> day (comments made up to it were checked)
//	comments       feedback id -> Comment, binary format 1 (record.go: first byte 0x01),
//	               with the author segment and risk flags; records written before are JSON
//	               (first byte '{', the oldest repeat the id) and read the same
//	loops          feedback id -> Loop: ack day, close day, 1 byte owner set by hr
//	messages       feedback id + 0x00 + big-endian seq -> Message as JSON
//	follow_ups     sha256(follow-up token)[:16] -> feedback id, for survey comments (pulse chose
//	               their id) and comments submitted before SubmitFeedback derived a comment's id
//	               from its token's hash (the service's commentID); the oldest keep the whole
//	               32-byte hash as their key, and are still read
//	idempotency    Tag("feedback/idempotency/"+key, ref) -> big-endian unix expiry (8 bytes) + feedback id
//	by_day         org + 0x00 + ^day (8 bytes, newest first) + shuffle (8 bytes) + feedback id -> empty
//	rate_limits    Tag(DayScope("feedback/rate", day), ref) -> big-endian unix expiry (8 bytes) + count (4 bytes)
//	upvotes        Tag("feedback/upvote/"+feedback id, ref) -> empty
//	people         a sub-bucket per segment, named by the segment (which holds no 0x00):
//	               month key + 0x00 + Tag("feedback/people/"+segment+"/"+month, ref)[:16] -> empty;
//	               entries written before are flat keys, segment + 0x00 + the same key (of the
//	               whole 32-byte tag, the oldest) -> empty, still counted, once per person
//	routing_rules  rule id (random) -> Rule as JSON
//	headcounts     segment path -> big-endian uint32 headcount + big-endian uint64 registry version
//	action_plans   plan id (random) -> Plan as JSON (segment, owner group, links, notes; days only)
//	plans_by_segment  segment + 0x00 + plan id -> empty (ListActionPlans, in path order)
//	plans_by_feedback feedback id + 0x00 + plan id -> empty (the plans GetThread shows)
//	notify_targets target id (random) -> Target as JSON, with a WEBHOOK's signing secret
//	deliveries     event id + 0x00 + target id -> Delivery as JSON (notification, attempts)
//	dead_letters   big-endian day + event id + 0x00 + target id -> Delivery as JSON
//	by_filter      org + 0x00 + kind ('s' status, 'o' owner group, 'd' dimension) + value + 0x00
//	               + the by_day key's ^day and shuffle -> empty: by_day gives the id and the
//	               author segment (filters.go)
//	meta "filters" -> "2" once by_filter holds every comment in this layout ("1": entries also
//	               held the id, and are built again); "placement/<org>" -> big-endian
//	               uint64, bumped with every change of the organisation's headcounts
//	by_day_recent, by_filter_recent  the same keys and values as by_day and by_filter: where
//	               entries are written, until UnsafeSealDays moves those of finished days to
//	               by_day and by_filter, with their pages filled (recent.go); reads walk both
//
// The last nine buckets were added within schema 3: Init creates them in an older file, which
// has none of their records (an older by_day and by_filter are sealed tiers as they are); the
// service builds by_filter when "filters" is missing.
//
// Schema 2 kept feedbackv1.Feedback (whose segment was the author's), feedbackv1.Message and
// feedbackv1.RoutingRule as deterministic protobuf, and headcounts as a bare big-endian
// uint32; Init migrates it (migrate2). Schema 1 lacked the indexes (migrate1).
//
// Nothing here holds a submitter ref, or a tag of one that joins two comments: idempotency
// tags are scoped to one key and expire, rate-limit tags to one day and expire, upvote tags to
// one comment, and people tags to one segment and month, in a bucket that names no comment.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout described in the package comment.
const SchemaVersion = "3"

// ReadTx is what a read needs of a transaction: its buckets. A *bolt.Tx of View, Update or
// Batch is one.
type ReadTx interface {
	Bucket(name []byte) *bolt.Bucket
}

// WriteTx is a transaction the Unsafe helpers write in: the caller's Update or Batch, which
// commits their changes together with the caller's own.
type WriteTx interface {
	ReadTx
	Writable() bool
}

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
	// Action plans and notifications (issue 15).
	ActionPlans     = Bucket("action_plans")
	PlansBySegment  = Bucket("plans_by_segment")
	PlansByFeedback = Bucket("plans_by_feedback")
	Targets         = Bucket("notify_targets")
	Deliveries      = Bucket("deliveries")
	DeadLetters     = Bucket("dead_letters")
	// Filters of ListFeedback (issue 12, filters.go).
	ByFilter = Bucket("by_filter")
	// The tiers of by_day and by_filter that new entries go to, until their day is sealed
	// (issue 12, recent.go).
	ByDayRecent    = Bucket("by_day_recent")
	ByFilterRecent = Bucket("by_filter_recent")
)

// Buckets lists every bucket of the layout.
func Buckets() []Bucket {
	return []Bucket{Meta, Comments, Loops, Messages, FollowUps, Idempotency, ByDay,
		RateLimits, Upvotes, People, RoutingRules, Headcounts,
		ActionPlans, PlansBySegment, PlansByFeedback, Targets, Deliveries, DeadLetters, ByFilter,
		ByDayRecent, ByFilterRecent}
}

// ErrNotFound is returned for a comment or rule that does not exist.
var ErrNotFound = errors.New("not found")

var schemaKey = []byte("schema")

// Reindex writes the index entries of a stored comment; the service's, since the by-day key
// holds a keyed hash only it can compute. Init calls it when it migrates a schema 1 store.
type Reindex func(tx WriteTx, c *Comment) error

// Init creates the buckets and records the schema version, or checks it on an existing store
// and migrates an older one in place, one version after the other, in one transaction: a
// failed migration leaves the file as it was.
func Init(db *bolt.DB, reindex Reindex) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, b := range Buckets() {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("store: create bucket %q: %w", b, err)
			}
		}
		meta := tx.Bucket(Meta)
		v := meta.Get(schemaKey)
		if v == nil {
			return meta.Put(schemaKey, []byte(SchemaVersion))
		}
		for version := string(v); version != SchemaVersion; {
			m, ok := migrations[version]
			if !ok {
				return fmt.Errorf("store: schema version %q, this build reads %q: migrate or restore a matching backup", version, SchemaVersion)
			}
			if err := m.run(tx, reindex); err != nil {
				return fmt.Errorf("store: migrate schema %s to %s: %w", version, m.to, err)
			}
			version = m.to
		}
		return meta.Put(schemaKey, []byte(SchemaVersion))
	})
}

// Schema returns the schema version recorded in the store, "" before Init.
func Schema(tx ReadTx) string {
	bk := tx.Bucket(Meta)
	if bk == nil {
		return ""
	}
	return string(bk.Get(schemaKey))
}

// in returns bucket b of tx for reading.
func (b Bucket) in(tx ReadTx) (*bolt.Bucket, error) {
	bk := tx.Bucket(b)
	if bk == nil {
		return nil, fmt.Errorf("store: bucket %q missing: open the store with Init", b)
	}
	return bk, nil
}

// writable returns bucket b of tx for writing.
func (b Bucket) writable(tx WriteTx) (*bolt.Bucket, error) {
	if !tx.Writable() {
		return nil, fmt.Errorf("store: write to %q in a read-only transaction", b)
	}
	return b.in(tx)
}

// FollowUpKeySize is how much of a follow-up token's SHA-256 keys its comment. Tokens carry
// at least 128 bits of randomness, so 128 bits of their hash keep guessing a token's key as
// hard as guessing the token, and make two tokens sharing a key negligible (about n²/2¹²⁹ for
// n tokens); the other 16 bytes would only cost pages (issue 12, target 5).
const FollowUpKeySize = 16

// UnsafePutFollowUp maps the hash of a follow-up token to its comment, under the hash's first
// FollowUpKeySize bytes.
func UnsafePutFollowUp(tx WriteTx, tokenHash []byte, id string) error {
	if len(tokenHash) < FollowUpKeySize {
		return fmt.Errorf("store: follow-up hash of %d bytes, want at least %d", len(tokenHash), FollowUpKeySize)
	}
	bk, err := FollowUps.writable(tx)
	if err != nil {
		return err
	}
	return bk.Put(tokenHash[:FollowUpKeySize], []byte(id)) // bbolt copies keys
}

// FollowUp returns the comment id a token hash opens, or "" when none. Entries written before
// FollowUpKeySize keep the whole hash as their key, and still open their comment.
func FollowUp(tx ReadTx, tokenHash []byte) (string, error) {
	if len(tokenHash) < FollowUpKeySize {
		return "", fmt.Errorf("store: follow-up hash of %d bytes, want at least %d", len(tokenHash), FollowUpKeySize)
	}
	bk, err := FollowUps.in(tx)
	if err != nil {
		return "", err
	}
	if v := bk.Get(tokenHash[:FollowUpKeySize]); v != nil || len(tokenHash) == FollowUpKeySize {
		return string(v), nil
	}
	return string(bk.Get(tokenHash)), nil
}

// UnsafePutIdempotency records that the request tagged tag created comment id, until expires.
func UnsafePutIdempotency(tx WriteTx, tag []byte, id string, expires time.Time) error {
	bk, err := Idempotency.writable(tx)
	if err != nil {
		return err
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(expires.Unix()))
	return bk.Put(tag, append(v, id...)) // bbolt copies keys
}

// IdempotencyRecord returns the comment a request tagged tag created, or "" when there is
// none or its record expired before now.
func IdempotencyRecord(tx ReadTx, tag []byte, now time.Time) (string, error) {
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
		bk, err := b.writable(tx)
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
