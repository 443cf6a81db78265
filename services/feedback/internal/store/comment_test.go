package store_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
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
