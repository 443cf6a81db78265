package feedback_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// A store written by the submit-only release (schema 1) is migrated when the service starts:
// its comments become listable and get their deadlines.
func TestSchema1StoreIsMigrated(t *testing.T) {
	f := &fixture{env: servicetest.New(t), clock: &clock{now: t0}}
	path := filepath.Join(f.env.DataDir, "feedback", "feedback.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	old := &feedbackv1.Feedback{
		Id: "OLDCOMMENT", Segment: "acme/eng", Text: "from before", Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW,
		CreateDay: timestamppb.New(t0.Truncate(day)), UpdateDay: timestamppb.New(t0.Truncate(day)),
	}
	data, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"meta", "comments", "follow_ups", "idempotency"} {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("1")); err != nil {
			return err
		}
		return tx.Bucket([]byte("comments")).Put([]byte(old.Id), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	f.restart(t)
	list := listAll(t, f, f.as(auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"})
	if len(list) != 1 || list[0].Id != old.Id || list[0].Text != old.Text {
		t.Fatalf("listed %v after migration, want the old comment", list)
	}
	f.clock.Add(7 * day)
	if n := f.checkDeadlines(t); n != 1 {
		t.Fatalf("%d overdue after migration, want the old comment's acknowledge deadline", n)
	}
}
