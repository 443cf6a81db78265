package store_test

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/segment"
)

// A comment's record does not repeat its id, which is its key (bytes per comment), and reads
// back whole, author segment included; a record written before, with the id in the value,
// reads the same.
func TestCommentRecordLeavesTheIdToTheKey(t *testing.T) {
	db := open(t)
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	c := &store.Comment{ID: "c0123456789abcdef", AuthorSegment: segment.MustParse("acme/eng/web"), Text: "the CI is slow",
		Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, Dimensions: []commonv1.Dimension{commonv1.Dimension_DIMENSION_WORKLOAD},
		CreateDay: day, UpdateDay: day, Language: "en"}
	old := &store.Comment{ID: "c00000000000000old", AuthorSegment: segment.MustParse("acme/eng/api"), Text: "old record",
		Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, CreateDay: day, UpdateDay: day}
	err := db.Update(func(tx *bolt.Tx) error {
		if err := store.UnsafePutComment(tx, c); err != nil {
			return err
		}
		// As encodeComment wrote it before: the id first in the value.
		return tx.Bucket(store.Comments).Put([]byte(old.ID), []byte(`{"id":"c00000000000000old","author_segment":"acme/eng/api","text":"old record","status":1,"create_day":"2026-03-10","update_day":"2026-03-10"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(store.Comments).Get([]byte(c.ID)); bytes.Contains(v, []byte(c.ID)) {
			t.Errorf("the record repeats the id: %s", v)
		}
		for _, want := range []*store.Comment{c, old} {
			got, err := store.GetComment(tx, want.ID)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read back %+v, want %+v", got, want)
			}
			author, err := store.CommentAuthor(tx, want.ID)
			if err != nil {
				return err
			}
			if author != want.AuthorSegment.String() {
				t.Errorf("author of %s = %q, want %q", want.ID, author, want.AuthorSegment)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// comments are records with every field set, or few, for the format tests.
func comments() []*store.Comment {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	return []*store.Comment{{
		ID: "c0123456789abcdef", AuthorSegment: segment.MustParse("acme/eng/web"), Text: "the CI is slow",
		Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, CreateDay: day, UpdateDay: day,
	}, {
		ID: "c0123456789abcde2", AuthorSegment: segment.MustParse("acme/eng-x/platform_2"),
		Text:    "Les outils sont lents, \"vraiment\" \u00e9crit en fran\u00e7ais \\ avec des \u2028 caract\u00e8res",
		Channel: feedbackv1.Channel_CHANNEL_CHAT, Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS,
		Dimensions:     []commonv1.Dimension{commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_GROWTH},
		SentimentScore: -0.4375, SentimentLabel: commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE,
		OwnerGroup: "dev-productivity", Upvotes: 300, CreateDay: day, UpdateDay: day.AddDate(0, 2, 1),
		MessageCount: 130, Language: "fr", Risks: []commonv1.RiskFlag{commonv1.RiskFlag_RISK_FLAG_HARASSMENT, commonv1.RiskFlag_RISK_FLAG_QUIT},
	}, {
		ID: "c0123456789abcde3", AuthorSegment: segment.MustParse("acme"), Text: "",
		Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED, SentimentScore: 0.999,
		CreateDay: day,
	}, {
		// The longest text: 4,000 runes, 6,000 bytes (a length of two bytes).
		ID: "c0123456789abcde4", AuthorSegment: segment.MustParse("acme/eng"), Text: strings.Repeat("été ", 1000),
		Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, CreateDay: day, UpdateDay: day, Language: "fr",
	}}
}

// A comment is written in the binary format 1, much shorter than the JSON stores hold, and
// reads back equal from both; the first byte tells one from the other.
func TestCommentRecordFormats(t *testing.T) {
	for _, c := range comments() {
		db := open(t)
		old, err := store.EncodeCommentJSON(c)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			if err := store.UnsafePutComment(tx, c); err != nil {
				return err
			}
			return tx.Bucket(store.Comments).Put([]byte(c.ID+"j"), old)
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = db.View(func(tx *bolt.Tx) error {
			raw := tx.Bucket(store.Comments).Get([]byte(c.ID))
			if len(raw) == 0 || raw[0] == '{' {
				t.Errorf("the record is JSON: %q", raw)
			}
			if len(raw) >= len(old)-(len(`"author_segment":"","text":"","status":,"create_day":"","update_day":""`)-10) {
				t.Errorf("the record takes %d bytes, JSON %d", len(raw), len(old))
			}
			for _, id := range []string{c.ID, c.ID + "j"} {
				got, err := store.GetComment(tx, id)
				if err != nil {
					t.Errorf("read %s: %v", id, err)
					continue
				}
				want := *c
				want.ID = id
				if !reflect.DeepEqual(got, &want) {
					t.Errorf("%s reads back\n%+v, want\n%+v", id, got, &want)
				}
				if a, err := store.CommentAuthor(tx, id); err != nil || a != c.AuthorSegment.String() {
					t.Errorf("author of %s = %q, %v; want %s", id, a, err, c.AuthorSegment)
				}
			}
			return nil
		})
	}
}

// The decoder of comment records takes any bytes without panicking; what it accepts
// writes back to a record that reads the same.
func FuzzDecodeComment(f *testing.F) {
	for _, c := range comments() {
		for _, enc := range []func(*store.Comment) ([]byte, error){store.EncodeComment, store.EncodeCommentJSON} {
			b, err := enc(c)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			f.Add(b[:len(b)/2])
		}
	}
	f.Add([]byte{0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := store.DecodeComment("id", data)
		if err != nil {
			return
		}
		b, err := store.EncodeComment(c)
		if err != nil {
			// JSON holds days before 1970, which format 1 does not; nothing else fails.
			if data[0] == 0x01 {
				t.Fatalf("decoded %+v from a format 1 record, cannot write it back: %v", c, err)
			}
			return
		}
		again, err := store.DecodeComment("id", b)
		if err != nil {
			t.Fatalf("the record written back from %+v does not read: %v", c, err)
		}
		// The score's bits, so that a NaN compares equal to itself.
		if math.Float64bits(again.SentimentScore) != math.Float64bits(c.SentimentScore) {
			t.Fatalf("score read back %v, want %v", again.SentimentScore, c.SentimentScore)
		}
		again.SentimentScore = c.SentimentScore
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("read back %+v, want %+v", again, c)
		}
		if data[0] == 0x01 {
			if a, ok := store.BinaryAuthor(data); !ok || a != c.AuthorSegment.String() {
				t.Fatalf("author read alone %q, %v; whole %q", a, ok, c.AuthorSegment)
			}
		}
	})
}

// BenchmarkCommentRecord writes and reads a scored comment's record in each format: a listing
// decodes one per comment shown, every change writes one.
func BenchmarkCommentRecord(b *testing.B) {
	c := comments()[1]
	for _, f := range []struct {
		name string
		enc  func(*store.Comment) ([]byte, error)
	}{{"binary", store.EncodeComment}, {"json", store.EncodeCommentJSON}} {
		data, err := f.enc(c)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.enc(c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "B/record")
		})
		b.Run(f.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := store.DecodeComment(c.ID, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
