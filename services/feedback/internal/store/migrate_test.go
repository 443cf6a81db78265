package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/segment"
)

var (
	day0 = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	day2 = day0.AddDate(0, 0, 2)
)

// legacy writes a store as an older release did: raw buckets, a schema version, and values
// that release's encoding made. It does not use this package's writers, which write the
// current format.
type legacy struct {
	t  *testing.T
	db *bolt.DB
}

func newLegacy(t *testing.T, schema string, buckets ...string) *legacy {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "f.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l := &legacy{t, db}
	for _, b := range buckets {
		l.put(b, nil, nil)
	}
	l.put("meta", []byte("schema"), []byte(schema))
	return l
}

// put writes k -> v in bucket b, creating it; a nil k only creates the bucket.
func (l *legacy) put(b string, k, v []byte) {
	l.t.Helper()
	err := l.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(b))
		if err != nil || k == nil {
			return err
		}
		return bk.Put(k, v)
	})
	if err != nil {
		l.t.Fatal(err)
	}
}

func (l *legacy) putProto(b string, k []byte, m proto.Message) {
	l.t.Helper()
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		l.t.Fatal(err)
	}
	l.put(b, k, data)
}

// schema2Buckets are the buckets a schema 2 store has.
var schema2Buckets = []string{"meta", "comments", "loops", "messages", "follow_ups", "idempotency", "by_day",
	"rate_limits", "upvotes", "people", "routing_rules", "headcounts"}

// oldComment is a comment as schema 2 stored it: its segment is the author's.
var oldComment = &feedbackv1.Feedback{
	Id: "C1", Segment: "acme/eng/platform", Text: "the build is slow", Channel: feedbackv1.Channel_CHANNEL_CHAT,
	Status:         commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED,
	Dimensions:     []commonv1.Dimension{commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH},
	SentimentScore: -0.5, SentimentLabel: commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE,
	OwnerGroup: "dev-productivity", Upvotes: 3, CreateDay: timestamppb.New(day0), UpdateDay: timestamppb.New(day2),
	MessageCount: 2, Language: "en",
}

func headcount4(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func messageKey(id string, seq uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(id), 0), seq)
}

// A store written in schema 2 (comments, messages and rules as API protobuf, the comment's
// segment its author's; headcounts without a version) opens in schema 3 with every record in
// this package's types and nothing lost.
func TestSchema2StoreIsMigrated(t *testing.T) {
	l := newLegacy(t, "2", schema2Buckets...)
	l.putProto("comments", []byte("C1"), oldComment)
	l.putProto("messages", messageKey("C1", 1), &feedbackv1.Message{
		Id: "M1", Author: feedbackv1.Author_AUTHOR_RESPONDER, Text: "seen", CreateDay: timestamppb.New(day0),
		Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED,
	})
	l.putProto("messages", messageKey("C1", 2), &feedbackv1.Message{
		Id: "M2", Author: feedbackv1.Author_AUTHOR_EMPLOYEE, Text: "thanks", CreateDay: timestamppb.New(day2),
	})
	l.putProto("routing_rules", []byte("R1"), &feedbackv1.RoutingRule{
		Id: "R1", SegmentPrefix: "acme/eng", Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, OwnerGroup: "managers",
	})
	l.put("headcounts", []byte("acme/eng"), headcount4(12))
	l.put("headcounts", []byte("acme/old"), headcount4(0))
	loop := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(day2.Unix())), 0)
	l.put("loops", []byte("C1"), append(loop, 1))

	reindexed := 0
	if err := store.Init(l.db, func(store.WriteTx, *store.Comment) error { reindexed++; return nil }); err != nil {
		t.Fatalf("Init on a schema 2 store: %v", err)
	}
	if reindexed != 0 {
		t.Errorf("reindex ran %d times: schema 2 has its indexes", reindexed)
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		if v := store.Schema(tx); v != "3" {
			t.Errorf("schema %q after Init, want 3", v)
		}
		c, err := store.GetComment(tx, "C1")
		if err != nil {
			return err
		}
		want := &store.Comment{
			ID: "C1", AuthorSegment: segment.MustParse("acme/eng/platform"), Text: oldComment.Text,
			Channel: oldComment.Channel, Status: oldComment.Status, Dimensions: oldComment.Dimensions,
			SentimentScore: -0.5, SentimentLabel: oldComment.SentimentLabel, OwnerGroup: "dev-productivity",
			Upvotes: 3, CreateDay: day0, UpdateDay: day2, MessageCount: 2, Language: "en",
		}
		if !equalComments(c, want) {
			t.Errorf("migrated comment = %+v, want %+v", c, want)
		}
		// The record keeps the segment in its author field (format 1 since issue 12).
		if a, err := store.CommentAuthor(tx, "C1"); err != nil || a != "acme/eng/platform" {
			t.Errorf("the record's author segment = %q, %v; want acme/eng/platform", a, err)
		}
		msgs, err := store.ThreadMessages(tx, "C1")
		if err != nil {
			return err
		}
		if len(msgs) != 2 || *msgs[0] != (store.Message{ID: "M1", Author: feedbackv1.Author_AUTHOR_RESPONDER, Text: "seen", Day: day0, Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED}) ||
			*msgs[1] != (store.Message{ID: "M2", Author: feedbackv1.Author_AUTHOR_EMPLOYEE, Text: "thanks", Day: day2}) {
			t.Errorf("migrated thread = %+v", msgs)
		}
		rules, err := store.Rules(tx)
		if err != nil {
			return err
		}
		if len(rules) != 1 || rules[0].ID != "R1" || !rules[0].Prefix.Equal(segment.MustParse("acme/eng")) ||
			rules[0].Dimension != commonv1.Dimension_DIMENSION_WORKLOAD || rules[0].OwnerGroup != "managers" {
			t.Errorf("migrated rules = %+v", rules)
		}
		for path, want := range map[string]store.Headcount{"acme/eng": {People: 12}, "acme/old": {}} {
			h, found, err := store.GetHeadcount(tx, segment.MustParse(path))
			if err != nil || !found || h != want {
				t.Errorf("headcount of %s = %+v, %v, %v; want %+v (version 0: older than any the registry sends)", path, h, found, err, want)
			}
		}
		loop, err := store.GetLoop(tx, "C1")
		if err != nil || !loop.AckDay.Equal(day2) || !loop.CloseDay.IsZero() || !loop.OwnerByHR {
			t.Errorf("loop = %+v, %v; unchanged by the migration", loop, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Opening it again migrates nothing twice.
	if err := store.Init(l.db, nil); err != nil {
		t.Fatalf("Init on the migrated store: %v", err)
	}
}

// A schema 1 store goes through every migration: reindex sees its comments as records of
// this package, with their author's segment.
func TestSchema1StoreIsMigratedThroughEveryVersion(t *testing.T) {
	l := newLegacy(t, "1", "meta", "comments", "follow_ups", "idempotency")
	l.putProto("comments", []byte("C1"), oldComment)
	var seen []string
	err := store.Init(l.db, func(tx store.WriteTx, c *store.Comment) error {
		seen = append(seen, c.ID+"@"+c.AuthorSegment.String()+"@"+c.CreateDay.Format(time.DateOnly))
		return nil
	})
	if err != nil {
		t.Fatalf("Init on a schema 1 store: %v", err)
	}
	if want := []string{"C1@acme/eng/platform@2026-03-10"}; !slices.Equal(seen, want) {
		t.Errorf("reindexed %v, want %v", seen, want)
	}
	_ = l.db.View(func(tx *bolt.Tx) error {
		c, err := store.GetComment(tx, "C1")
		if err != nil || store.Schema(tx) != store.SchemaVersion || c.AuthorSegment.String() != "acme/eng/platform" {
			t.Errorf("after Init: schema %q, comment %+v, %v", store.Schema(tx), c, err)
		}
		return nil
	})
}

// A store of an unknown version, or whose records do not decode, is left as it was.
func TestMigrationFailsWholeOrNotAtAll(t *testing.T) {
	l := newLegacy(t, "4", schema2Buckets...)
	if err := store.Init(l.db, nil); err == nil || !strings.Contains(err.Error(), `"4"`) {
		t.Errorf("Init on a schema 4 store = %v, want an error naming the version", err)
	}

	l = newLegacy(t, "2", schema2Buckets...)
	l.putProto("comments", []byte("C1"), oldComment)
	l.put("headcounts", []byte("acme/eng"), []byte{1, 2, 3}) // not a schema 2 headcount
	if err := store.Init(l.db, nil); err == nil {
		t.Fatal("Init migrated a store with a corrupt record")
	}
	_ = l.db.View(func(tx *bolt.Tx) error {
		if v := store.Schema(tx); v != "2" {
			t.Errorf("schema %q after a failed migration, want 2", v)
		}
		var old feedbackv1.Feedback
		if err := proto.Unmarshal(tx.Bucket(store.Comments).Get([]byte("C1")), &old); err != nil || old.Segment != "acme/eng/platform" {
			t.Errorf("the comment was rewritten by a failed migration: %v, %v", &old, err)
		}
		return nil
	})
}

func equalComments(a, b *store.Comment) bool {
	return a.ID == b.ID && a.AuthorSegment.Equal(b.AuthorSegment) && a.Text == b.Text && a.Channel == b.Channel &&
		a.Status == b.Status && slices.Equal(a.Dimensions, b.Dimensions) && a.SentimentScore == b.SentimentScore &&
		a.SentimentLabel == b.SentimentLabel && a.OwnerGroup == b.OwnerGroup && a.Upvotes == b.Upvotes &&
		a.CreateDay.Equal(b.CreateDay) && a.UpdateDay.Equal(b.UpdateDay) && a.MessageCount == b.MessageCount &&
		a.Language == b.Language
}

// Records keep days: a time of day given to a writer never reaches the file.
func TestRecordsKeepDaysOnly(t *testing.T) {
	db := open(t)
	instant := time.Date(2026, 3, 10, 10, 17, 42, 0, time.UTC)
	err := db.Update(func(tx *bolt.Tx) error {
		c := &store.Comment{ID: "C1", AuthorSegment: segment.MustParse("acme/eng"), Text: "x", CreateDay: instant, UpdateDay: instant}
		if err := store.UnsafePutComment(tx, c); err != nil {
			return err
		}
		// The same comment given midnights: its record must be the same bytes.
		if err := store.UnsafePutComment(tx, &store.Comment{ID: "C2", AuthorSegment: c.AuthorSegment, Text: "x", CreateDay: day0, UpdateDay: day0}); err != nil {
			return err
		}
		return store.UnsafeAddMessage(tx, "C1", 1, &store.Message{ID: "M1", Text: "y", Day: instant})
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if raw, midnight := tx.Bucket(store.Comments).Get([]byte("C1")), tx.Bucket(store.Comments).Get([]byte("C2")); !bytes.Equal(raw, midnight) {
			t.Errorf("comment record %q holds more than the day: the same comment made at midnight is %q", raw, midnight)
		}
		for _, raw := range [][]byte{tx.Bucket(store.Messages).Get(messageKey("C1", 1))} {
			if bytes.Contains(raw, []byte("10:17")) || bytes.Contains(raw, []byte("T10")) || !bytes.Contains(raw, []byte(`"2026-03-10"`)) {
				t.Errorf("record %s holds more than the day", raw)
			}
		}
		c, err := store.GetComment(tx, "C1")
		if err != nil || !c.CreateDay.Equal(day0) || !c.UpdateDay.Equal(day0) {
			t.Errorf("comment = %+v, %v; want made and updated on %v", c, err, day0)
		}
		return nil
	})
}

// The Unsafe helpers write, and refuse a read-only transaction.
func TestWritesNeedAWriteTransaction(t *testing.T) {
	db := open(t)
	_ = db.View(func(tx *bolt.Tx) error {
		for name, err := range map[string]error{
			"comment":   store.UnsafePutComment(tx, &store.Comment{ID: "C1", AuthorSegment: segment.MustParse("acme")}),
			"headcount": store.UnsafePutHeadcount(tx, segment.MustParse("acme"), store.Headcount{People: 3, Version: 1}),
			"rule":      store.UnsafePutRule(tx, store.Rule{ID: "R1", Prefix: segment.MustParse("acme"), OwnerGroup: "x"}),
		} {
			if err == nil || !strings.Contains(err.Error(), "read-only") {
				t.Errorf("%s written in a read transaction: %v", name, err)
			}
		}
		return nil
	})
	err := db.View(func(tx *bolt.Tx) error {
		_, err := store.GetComment(tx, "C1")
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetComment after the refused write = %v, want ErrNotFound", err)
	}
}

// ScanHeadcounts lists the registered segments within a prefix, on element boundaries, in
// path order and from a cursor.
func TestScanHeadcountsWithinAPrefix(t *testing.T) {
	db := open(t)
	heads := map[string]uint32{"acme": 300, "acme/eng": 40, "acme/eng-x": 5, "acme/eng/platform": 12, "acme/eng/web": 0, "acme/eng/zz": 9, "acme/engineering": 7}
	err := db.Update(func(tx *bolt.Tx) error {
		for p, n := range heads {
			if err := store.UnsafePutHeadcount(tx, segment.MustParse(p), store.Headcount{People: n, Version: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(prefix, after string) []string {
		var out []string
		var from segment.Path
		if after != "" {
			from = segment.MustParse(after)
		}
		err := db.View(func(tx *bolt.Tx) error {
			return store.ScanHeadcounts(tx, segment.MustParse(prefix), from, func(p segment.Path, n uint32) bool {
				if n != heads[p.String()] {
					t.Errorf("%s listed with %d, want %d", p, n, heads[p.String()])
				}
				out = append(out, p.String())
				return true
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := scan("acme/eng", ""), []string{"acme/eng", "acme/eng/platform", "acme/eng/zz"}; !slices.Equal(got, want) {
		t.Errorf("within acme/eng: %v, want %v (not acme/eng-x, acme/engineering, nor the unregistered acme/eng/web)", got, want)
	}
	if got, want := scan("acme/eng", "acme/eng/platform"), []string{"acme/eng/zz"}; !slices.Equal(got, want) {
		t.Errorf("after acme/eng/platform: %v, want %v", got, want)
	}
	if got, want := scan("acme/eng", "acme"), []string{"acme/eng", "acme/eng/platform", "acme/eng/zz"}; !slices.Equal(got, want) {
		t.Errorf("after a path before the prefix: %v, want %v", got, want)
	}
}
