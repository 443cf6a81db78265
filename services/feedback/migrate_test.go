package feedback_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
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

// A store written in schema 2 (comments, messages and rules as API protobuf, the comment's
// segment its author's; headcounts without a registry version) is migrated when the service
// starts: the comment is shown, threaded, listed, routed and counted as before, the
// headcounts place it until the segment registry sends a version of its own, and the file is
// in schema 3.
func TestSchema2StoreIsMigrated(t *testing.T) {
	f := &fixture{env: servicetest.New(t), clock: &clock{now: t0}}
	path := filepath.Join(f.env.DataDir, "feedback", "feedback.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	made := t0.Truncate(day)
	const token = "ABCDEFGHIJKLMNOPQRSTUVWXY2"
	old := &feedbackv1.Feedback{
		Id: "OLDCOMMENT", Segment: "acme/eng/platform", Text: "from before", Channel: feedbackv1.Channel_CHANNEL_CHAT,
		Status: stAck, Dimensions: []commonv1.Dimension{dimWorkload}, SentimentScore: -0.25,
		SentimentLabel: commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE, OwnerGroup: "it-support", Upvotes: 2,
		CreateDay: timestamppb.New(made), UpdateDay: timestamppb.New(made.Add(day)), MessageCount: 1, Language: "en",
	}
	msg := &feedbackv1.Message{Id: "OLDMESSAGE", Author: feedbackv1.Author_AUTHOR_RESPONDER, Text: "on it", CreateDay: timestamppb.New(made.Add(day)), Status: stAck}
	rule := &feedbackv1.RoutingRule{Id: "OLDRULE", SegmentPrefix: "acme/eng", Dimension: dimWorkload, OwnerGroup: "managers"}
	put := func(tx *bolt.Tx, b string, k []byte, m proto.Message) error {
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return err
		}
		return tx.Bucket([]byte(b)).Put(k, data)
	}
	hash := sha256.Sum256([]byte(token))
	dayKey := binary.BigEndian.AppendUint64([]byte("acme\x00"), ^uint64(made.Unix()))
	dayKey = append(append(dayKey, make([]byte, 8)...), old.Id...)
	loop := append(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(made.Add(day).Unix())), 0), 0)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"meta", "comments", "loops", "messages", "follow_ups", "idempotency", "by_day",
			"rate_limits", "upvotes", "people", "routing_rules", "headcounts"} {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		for _, e := range []struct {
			b    string
			k, v []byte
		}{
			{"meta", []byte("schema"), []byte("2")},
			{"follow_ups", hash[:], []byte(old.Id)},
			{"by_day", dayKey, nil},
			{"loops", []byte(old.Id), loop},
			{"headcounts", []byte("acme"), binary.BigEndian.AppendUint32(nil, 200)},
			{"headcounts", []byte("acme/eng"), binary.BigEndian.AppendUint32(nil, 12)},
		} {
			if err := tx.Bucket([]byte(e.b)).Put(e.k, e.v); err != nil {
				return err
			}
		}
		if err := put(tx, "comments", []byte(old.Id), old); err != nil {
			return err
		}
		if err := put(tx, "messages", binary.BigEndian.AppendUint32([]byte(old.Id+"\x00"), 1), msg); err != nil {
			return err
		}
		return put(tx, "routing_rules", []byte(rule.Id), rule)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	f.restart(t)
	hr := f.as(auth.RoleHR)
	want := proto.CloneOf(old)
	want.Segment = "acme/eng" // shown under the team's department, by the migrated headcounts
	got, err := f.client.GetFeedback(hr, &feedbackv1.GetFeedbackRequest{FeedbackId: old.Id})
	if err != nil || !proto.Equal(got.Feedback, want) {
		t.Fatalf("GetFeedback after migration = %v, %v; want %v", got.GetFeedback(), err, want)
	}
	mgr := servicetest.WithToken(context.Background(), f.env.SubtreeManager)
	if _, err := f.client.GetFeedback(mgr, &feedbackv1.GetFeedbackRequest{FeedbackId: old.Id}); err != nil {
		t.Errorf("manager of acme/eng: %v", err)
	}
	th, err := f.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: token})
	if err != nil || !proto.Equal(th.Feedback, want) || len(th.Messages) != 1 || !proto.Equal(th.Messages[0], msg) {
		t.Fatalf("GetThread after migration = %v, %v; want the comment and its message %v", th, err, msg)
	}
	if list := listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme/eng"}); len(list) != 1 || list[0].Id != old.Id {
		t.Errorf("listed under acme/eng: %v", ids(list))
	}
	rules, err := f.client.ListRoutingRules(hr, &feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme"})
	if err != nil || len(rules.Rules) != 1 || !proto.Equal(rules.Rules[0], rule) {
		t.Errorf("rules after migration = %v, %v; want %v", rules, err, rule)
	}
	if n, err := f.listedHeadcount("acme/eng"); err != nil || n != 12 {
		t.Errorf("acme/eng listed with %d, %v; want 12", n, err)
	}
	// The old headcounts have version 0: the registry's first version of a segment replaces it.
	f.headcount(t, "acme/eng", 0)
	if got := f.shownUnder(t, old.Id); got != "acme" {
		t.Errorf("after the registry unregistered acme/eng the comment is shown under %s, want acme", got)
	}
	f.svc.Close()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema")); string(v) != "3" {
			t.Errorf("schema %q after the migration, want 3", v)
		}
		// The record keeps the segment in its author field (binary since issue 12).
		if a, err := store.CommentAuthor(tx, old.Id); err != nil || a != "acme/eng/platform" {
			t.Errorf("the migrated comment's author segment = %q, %v; want acme/eng/platform", a, err)
		}
		return nil
	})
}
