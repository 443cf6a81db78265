package feedback_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// t0 is the tests' "now": mid-morning, so that the day differs from the instant.
var t0 = time.Date(2026, 3, 10, 10, 17, 42, 0, time.UTC)

// secretRef is a submitter ref that must never reach a file or an event.
const secretRef = "U0SECRETREF42"

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is one feedback service in a servicetest.Env, with a client.
type fixture struct {
	env    *servicetest.Env
	clock  *clock
	svc    *feedback.Service
	client feedbackv1.FeedbackServiceClient
	// versions is the segment registry's last version of each segment's entry (headcount).
	versions map[string]uint64
}

func start(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{env: servicetest.New(t), clock: &clock{now: t0}}
	f.restart(t)
	return f
}

// restart starts the service (again) on the fixture's data dir.
func (f *fixture) restart(t testing.TB) {
	t.Helper()
	svc, err := feedback.Start(context.Background(), feedback.Config{
		Listen:  "127.0.0.1:0",
		DataDir: f.env.DataDir,
		NATS:    f.env.NATSConfig(),
		Now:     f.clock.Now,
		// Deadlines are checked by the tests, after they move the clock.
		DeadlineInterval: time.Hour,
	})
	if err != nil {
		t.Fatalf("start feedback: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	f.svc = svc
	f.client = feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, svc.Addr()))
}

func (f *fixture) as(role auth.Role) context.Context { return f.env.As(context.Background(), role) }

// publish publishes m as an event of kind k about seg, with id, through the bus, as the
// kind's producer does: subject, type and source are the contract's.
func (f *fixture) publish(t testing.TB, k events.Kind, id string, seg segment.Path, m proto.Message) {
	t.Helper()
	b, err := bus.Connect(context.Background(), f.env.NATSConfig())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer b.Close()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Publish(context.Background(), bus.Event{ID: id, Type: k.Type, Source: k.Source, Subject: k.Subject(seg), Data: data})
	if err != nil {
		t.Fatalf("publish %s %s: %v", k.Type, id, err)
	}
}

// publishSegment publishes version version of path's entry in the segment registry, as the
// pulse service does.
func (f *fixture) publishSegment(t testing.TB, path string, n uint32, version uint64) {
	t.Helper()
	f.publish(t, events.PulseSegmentUpserted, events.SegmentUpsertedID(path, version), segment.MustParse(path),
		&eventsv1.SegmentUpserted{Path: path, Headcount: n, Version: version})
}

// headcount sets a segment's headcount in the segment registry, which the pulse service owns:
// it publishes the entry's next version on the pulse stream, and waits until the service
// applied it, that is until ListSegments shows hr the headcount (a segment of 0 is not listed).
func (f *fixture) headcount(t testing.TB, path string, n uint32) {
	t.Helper()
	if f.versions == nil {
		f.versions = map[string]uint64{}
	}
	f.versions[path]++
	f.publishSegment(t, path, n, f.versions[path])
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got, err := f.listedHeadcount(path); err != nil || got != n {
			return fmt.Errorf("ListSegments shows %s with %d people (%v), want %d", path, got, err, n)
		}
		return nil
	})
}

// listedHeadcount is the headcount ListSegments shows hr for path; 0 when it is not listed.
func (f *fixture) listedHeadcount(path string) (uint32, error) {
	resp, err := f.client.ListSegments(f.as(auth.RoleHR), &feedbackv1.ListSegmentsRequest{SegmentPrefix: path, PageSize: 1})
	if err != nil {
		return 0, err
	}
	if len(resp.Segments) == 1 && resp.Segments[0].Path == path {
		return resp.Segments[0].Headcount, nil
	}
	return 0, nil
}

// segmentsApplied waits until the service has applied, or refused for good, every event of
// the segment registry published so far: its durable consumer has nothing pending and nothing
// unacknowledged, and it acknowledges an event after the transaction that applied it commits.
func (f *fixture) segmentsApplied(t testing.TB) {
	t.Helper()
	f.consumerApplied(t, events.PulseSegmentUpserted.Stream.Name, events.DurableFeedbackSegments, 10*time.Second)
}

// consumerApplied waits up to timeout until durable consumer durable of stream has been
// delivered every event of its filter stored so far, and has nothing pending and nothing
// unacknowledged: the service's consumers acknowledge an event after the transaction that
// applied it commits. Pending alone is not enough: the server counts a stored message into a
// consumer's pending from a queue of its own (the stream's signal loop), so right after a
// publish was acknowledged the consumer can still show nothing pending.
func (f *fixture) consumerApplied(t testing.TB, stream, durable string, timeout time.Duration) {
	t.Helper()
	js := f.env.JetStream(t)
	last := uint64(0) // the last stream sequence the consumer's filter matches, once known
	known := false
	poll.Until(t, timeout, 10*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, stream, durable)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if !known {
			if last, err = lastMatching(ctx, js, stream, info.Config); err != nil {
				return err
			}
			known = true
		}
		if info.Delivered.Stream < last || info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("consumer %s: delivered up to %d of %d, %d pending, %d unacknowledged", durable, info.Delivered.Stream, last, info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

// lastMatching is the sequence of the last message of stream that a consumer configured as
// cfg would be delivered (0: none).
func lastMatching(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (uint64, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	filters := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		filters = append(filters, cfg.FilterSubject)
	}
	if len(filters) == 0 {
		info, err := st.Info(ctx)
		if err != nil {
			return 0, err
		}
		return info.State.LastSeq, nil
	}
	var last uint64
	for _, subj := range filters {
		m, err := st.GetLastMsgForSubject(ctx, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}

func (f *fixture) submit(t testing.TB, req *feedbackv1.SubmitFeedbackRequest) *feedbackv1.SubmitFeedbackResponse {
	t.Helper()
	resp, err := f.client.SubmitFeedback(f.as(auth.RoleSubmitter), req)
	if err != nil {
		t.Fatalf("SubmitFeedback(%s): %v", req.Segment, err)
	}
	return resp
}

func TestSubmitStoresScrubbedCommentAndPublishesIt(t *testing.T) {
	f := start(t)
	text := "Le déploiement du vendredi est épuisant, écrivez à jane.doe@acme.example ou au +33 6 12 34 56 78, <@U024BE7LH> le sait"
	resp := f.submit(t, &feedbackv1.SubmitFeedbackRequest{
		Segment: "acme/eng/platform", Text: "  " + text + "\n", SubmitterRef: secretRef,
		Channel: feedbackv1.Channel_CHANNEL_CHAT, Language: "fr",
		Dimensions: []commonv1.Dimension{commonv1.Dimension_DIMENSION_WORKLOAD},
	})
	if resp.FeedbackId == "" || resp.FollowUpToken == "" || resp.Status != commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW {
		t.Fatalf("receipt = %v, want an id, a token and NEW", resp)
	}

	got, err := f.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: resp.FeedbackId})
	if err != nil {
		t.Fatalf("GetFeedback: %v", err)
	}
	c := got.Feedback
	for _, leaked := range []string{"jane.doe@acme.example", "12 34 56 78", "U024BE7LH"} {
		if strings.Contains(c.Text, leaked) {
			t.Errorf("stored text %q still holds %q", c.Text, leaked)
		}
	}
	if !strings.HasPrefix(c.Text, "Le déploiement du vendredi est épuisant") {
		t.Errorf("stored text %q lost the comment itself or its trimming", c.Text)
	}
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	if !c.CreateDay.AsTime().Equal(day) || c.Channel != feedbackv1.Channel_CHANNEL_CHAT || c.Language != "fr" {
		t.Errorf("comment = %v, want created on %v through CHAT in fr", c, day)
	}
	// No headcount is known: the comment is shown under its organisation only, never under
	// the author's possibly small team.
	if c.Segment != "acme" {
		t.Errorf("comment shown under %q, want the organisation until headcounts are known", c.Segment)
	}

	msg := nextEvent(t, f, events.FeedbackSubmitted.Subject(segment.MustParse("acme/eng/platform")))
	h := msg.Headers()
	for k, want := range map[string]string{
		bus.HeaderMsgID:  events.SubmittedID(resp.FeedbackId),
		bus.HeaderType:   events.FeedbackSubmitted.Type,
		bus.HeaderSource: events.FeedbackSubmitted.Source,
		bus.HeaderTime:   day.Format(time.RFC3339Nano),
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var ev eventsv1.FeedbackSubmitted
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatalf("decode FeedbackSubmitted: %v", err)
	}
	if ev.FeedbackId != resp.FeedbackId || ev.Segment != "acme/eng/platform" || ev.Text != c.Text || !ev.SubmittedDay.AsTime().Equal(day) {
		t.Fatalf("event = %v, want comment %s of acme/eng/platform with the stored text on %v", &ev, resp.FeedbackId, day)
	}
	// Contributor tags are the ones the shared secret gives for this person at t0.
	secret, err := anonymity.LoadOrCreateSecret(host.DefaultSecretFile(f.env.DataDir))
	if err != nil {
		t.Fatalf("load secret: %v", err)
	}
	want := secret.Contributors(secretRef, segment.MustParse("acme/eng/platform"), t0)
	if len(want) == 0 || len(ev.Contributors) != len(want) {
		t.Fatalf("%d contributor tags, want %d", len(ev.Contributors), len(want))
	}
	for i, c := range ev.Contributors {
		// Sealed in the event (a reader of the stream cannot link two of one person's
		// events); the secret opens it to the person's tag.
		opened, err := secret.OpenTag(c.Segment, c.Window, c.Tag)
		if c.Segment != want[i].Segment || c.Window != want[i].Window || err != nil || !bytes.Equal(opened, want[i].Tag) {
			t.Errorf("contributor %d = %v (opened %x, %v), want %v", i, c, opened, err, want[i])
		}
		if bytes.Contains(c.Tag, want[i].Tag[:8]) {
			t.Errorf("contributor %d carries its tag in clear", i)
		}
	}
	if name, found := findRef(msg.Data()); found {
		t.Fatalf("event payload carries the submitter ref (%s)", name)
	}
}

func TestIdempotencyKeyReturnsTheFirstComment(t *testing.T) {
	f := start(t)
	req := &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "The VPN drops every hour", SubmitterRef: "U1", IdempotencyKey: "slack-1700000000.000100"}
	first := f.submit(t, req)
	again := f.submit(t, req)
	if again.FeedbackId != first.FeedbackId || again.FollowUpToken != first.FollowUpToken {
		t.Fatalf("retry = %v, want the first receipt %v", again, first)
	}
	other := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: req.Text, SubmitterRef: "U2", IdempotencyKey: req.IdempotencyKey})
	if other.FeedbackId == first.FeedbackId || other.FollowUpToken == first.FollowUpToken {
		t.Fatal("another person's request with the same key returned the first person's comment")
	}
	nextEvent(t, f, events.FeedbackSubmitted.All())
	if ids := publishedIDs(t, f, events.FeedbackSubmitted.All()); len(ids) != 2 {
		t.Fatalf("%d FeedbackSubmitted events (%v), want 2: one per comment", len(ids), ids)
	}

	// The key survives a restart.
	f.svc.Close()
	f.restart(t)
	if again := f.submit(t, req); again.FeedbackId != first.FeedbackId {
		t.Fatalf("after restart the retry made comment %s, want %s", again.FeedbackId, first.FeedbackId)
	}
	// Once the record has expired (at the end of the UTC day holding the time to live, never
	// an instant, which would be the comment's exact time) the same key from the same person
	// still gives the same token, hence the same comment id: the first comment, not a second
	// one that would share its thread's token.
	f.clock.Add(feedback.DefaultIdempotencyTTL + 24*time.Hour)
	if late := f.submit(t, req); late.FeedbackId != first.FeedbackId || late.FollowUpToken != first.FollowUpToken {
		t.Fatalf("retry after the record expired = %v, want the first receipt %v", late, first)
	}
	// No event for it: the next comment's is the third.
	f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "another", SubmitterRef: "U3"})
	nextEvent(t, f, events.FeedbackSubmitted.All())
	if ids := publishedIDs(t, f, events.FeedbackSubmitted.All()); len(ids) != 3 {
		t.Fatalf("%d FeedbackSubmitted events (%v), want 3: the late retry made none", len(ids), ids)
	}
}

// The store holds neither a follow-up token nor its hash: a comment's id is a keyed hash of
// its token's hash, so the token opens its thread (after a restart too) with nothing stored
// that whoever reads the file, or an id, could test a token against without the server secret.
func TestFollowUpTokensAreStoredNowhereAndOpenTheirThread(t *testing.T) {
	f := start(t)
	receipts := []*feedbackv1.SubmitFeedbackResponse{
		f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "random token", SubmitterRef: "U1"}),
		f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "derived token", SubmitterRef: "U1", IdempotencyKey: "k"}),
	}
	f.svc.Close()
	data := readStore(t, f)
	for _, r := range receipts {
		if bytes.Contains(data, []byte(r.FollowUpToken)) {
			t.Errorf("the store holds the follow-up token %q", r.FollowUpToken)
		}
		h := sha256.Sum256([]byte(r.FollowUpToken))
		if bytes.Contains(data, h[:store.FollowUpKeySize]) {
			t.Errorf("the store holds the hash of the follow-up token %q", r.FollowUpToken)
		}
		// The id is keyed: an unkeyed hash would let whoever sees a pasted code (HR, in a
		// channel) find its comment among the ids a listing shows.
		for _, unkeyed := range []string{base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:16]), fmt.Sprintf("%x", h[:13])} {
			if strings.EqualFold(r.FeedbackId, unkeyed) {
				t.Errorf("comment id %s is an unkeyed hash of its follow-up token", r.FeedbackId)
			}
		}
	}
	f.restart(t)
	for _, r := range receipts {
		th, err := f.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: r.FollowUpToken})
		if err != nil || th.Feedback.GetId() != r.FeedbackId {
			t.Errorf("GetThread with the token of %s: %v, %v", r.FeedbackId, th.GetFeedback().GetId(), err)
		}
	}
}

func TestSubmitterRefIsStoredNowhere(t *testing.T) {
	f := start(t)
	var first *feedbackv1.SubmitFeedbackResponse
	for i, key := range []string{"", "k-" + secretRef} {
		r := f.submit(t, &feedbackv1.SubmitFeedbackRequest{
			Segment: "acme/eng/platform", Text: fmt.Sprintf("comment %d from %s", i, "someone"), SubmitterRef: secretRef, IdempotencyKey: key,
		})
		if first == nil {
			first = r
		}
	}
	// Every other path that sees the ref: upvotes, the rate limit up to a refusal, and the
	// thread and workflow around the comment.
	bot, hr := f.as(auth.RoleSubmitter), f.as(auth.RoleHR)
	if _, err := f.client.Upvote(bot, &feedbackv1.UpvoteRequest{FeedbackId: first.FeedbackId, SubmitterRef: secretRef}); err != nil {
		t.Fatalf("Upvote: %v", err)
	}
	for i := 2; i < feedback.DefaultDailyLimit; i++ {
		f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "more", SubmitterRef: secretRef, IdempotencyKey: fmt.Sprintf("k%d-%s", i, secretRef)})
	}
	_, err := f.client.SubmitFeedback(bot, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "one too many", SubmitterRef: secretRef})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("comment past the daily limit: %v, want ResourceExhausted", err)
	}
	if _, err := f.client.FollowUp(bot, &feedbackv1.FollowUpRequest{FollowUpToken: first.FollowUpToken, Text: "and another thing"}); err != nil {
		t.Fatalf("FollowUp: %v", err)
	}
	if _, err := f.client.Reply(hr, &feedbackv1.ReplyRequest{FeedbackId: first.FeedbackId, Text: "thanks"}); err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if _, err := f.client.UpdateStatus(hr, &feedbackv1.UpdateStatusRequest{FeedbackId: first.FeedbackId, Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED, Note: "seen"}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	nextEvent(t, f, events.FeedbackSubmitted.All())
	waitPublished(t, f, feedback.DefaultDailyLimit+1)
	f.svc.Close()
	if name, found := findRef(readStore(t, f)); found {
		t.Fatalf("the feedback store holds the submitter ref (%s)", name)
	}
	for _, dir := range []string{f.env.DataDir, natstest.StoreDir(t, f.env.NATS)} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if name, found := findRef(b); found {
				t.Errorf("%s holds the submitter ref (%s)", path, name)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", dir, err)
		}
	}
}

func TestSubmitFeedbackRejectsBadInput(t *testing.T) {
	f := start(t)
	valid := func() *feedbackv1.SubmitFeedbackRequest {
		return &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "ok", SubmitterRef: "U1"}
	}
	cases := []struct {
		name  string
		edit  func(*feedbackv1.SubmitFeedbackRequest)
		code  codes.Code
		field string
	}{
		{"no segment", func(r *feedbackv1.SubmitFeedbackRequest) { r.Segment = "" }, codes.InvalidArgument, "segment"},
		{"upper-case segment", func(r *feedbackv1.SubmitFeedbackRequest) { r.Segment = "acme/Eng" }, codes.InvalidArgument, "segment"},
		{"segment too deep", func(r *feedbackv1.SubmitFeedbackRequest) { r.Segment = "acme/a/b/c/d/e/f/g/h" }, codes.InvalidArgument, "segment"},
		{"segment with empty element", func(r *feedbackv1.SubmitFeedbackRequest) { r.Segment = "acme//eng" }, codes.InvalidArgument, "segment"},
		{"segment of another org", func(r *feedbackv1.SubmitFeedbackRequest) { r.Segment = "globex/eng" }, codes.PermissionDenied, "segment"},
		{"empty text", func(r *feedbackv1.SubmitFeedbackRequest) { r.Text = "" }, codes.InvalidArgument, "text"},
		{"blank text", func(r *feedbackv1.SubmitFeedbackRequest) { r.Text = " \t\n " }, codes.InvalidArgument, "text"},
		{"text of 4001 runes", func(r *feedbackv1.SubmitFeedbackRequest) { r.Text = strings.Repeat("é", 4001) }, codes.InvalidArgument, "text"},
		{"text with NUL", func(r *feedbackv1.SubmitFeedbackRequest) { r.Text = "a\x00b" }, codes.InvalidArgument, "text"},
		{"no submitter ref", func(r *feedbackv1.SubmitFeedbackRequest) { r.SubmitterRef = "" }, codes.InvalidArgument, "submitter_ref"},
		{"submitter ref too long", func(r *feedbackv1.SubmitFeedbackRequest) { r.SubmitterRef = strings.Repeat("u", 257) }, codes.InvalidArgument, "submitter_ref"},
		{"idempotency key of 129 bytes", func(r *feedbackv1.SubmitFeedbackRequest) { r.IdempotencyKey = strings.Repeat("k", 129) }, codes.InvalidArgument, "idempotency_key"},
		{"unknown channel", func(r *feedbackv1.SubmitFeedbackRequest) { r.Channel = 42 }, codes.InvalidArgument, "channel"},
		{"unspecified dimension", func(r *feedbackv1.SubmitFeedbackRequest) {
			r.Dimensions = []commonv1.Dimension{commonv1.Dimension_DIMENSION_UNSPECIFIED}
		}, codes.InvalidArgument, "dimensions[0]"},
		{"unknown dimension", func(r *feedbackv1.SubmitFeedbackRequest) { r.Dimensions = []commonv1.Dimension{99} }, codes.InvalidArgument, "dimensions[0]"},
		{"duplicate dimension", func(r *feedbackv1.SubmitFeedbackRequest) {
			r.Dimensions = []commonv1.Dimension{commonv1.Dimension_DIMENSION_GROWTH, commonv1.Dimension_DIMENSION_GROWTH}
		}, codes.InvalidArgument, "dimensions[1]"},
		{"unknown language", func(r *feedbackv1.SubmitFeedbackRequest) { r.Language = "de" }, codes.InvalidArgument, "language"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := valid()
			tc.edit(req)
			_, err := f.client.SubmitFeedback(f.as(auth.RoleSubmitter), req)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), tc.code)
			}
			if !strings.HasPrefix(st.Message(), tc.field+":") {
				t.Fatalf("message %q does not start with the field %q", st.Message(), tc.field)
			}
		})
	}
	// The limits themselves are accepted: 4000 runes, a 128-byte key, a 256-byte ref.
	ok := valid()
	ok.Text, ok.IdempotencyKey, ok.SubmitterRef = strings.Repeat("é", 4000), strings.Repeat("k", 128), strings.Repeat("u", 256)
	f.submit(t, ok)
	// Nothing was half-written by the rejected calls: one comment, one event.
	nextEvent(t, f, events.FeedbackSubmitted.All())
	if ids := publishedIDs(t, f, events.FeedbackSubmitted.All()); len(ids) != 1 {
		t.Fatalf("%d events after %d rejected calls and one accepted, want 1", len(ids), len(cases))
	}
}

func TestGetFeedbackObeysTheTokenPrefix(t *testing.T) {
	f := start(t)
	eng := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng/platform", Text: "eng comment", SubmitterRef: "U1"}).FeedbackId
	sales := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/sales", Text: "sales comment", SubmitterRef: "U1"}).FeedbackId
	get := func(ctx context.Context, id string) codes.Code {
		_, err := f.client.GetFeedback(ctx, &feedbackv1.GetFeedbackRequest{FeedbackId: id})
		return status.Code(err)
	}
	bg := context.Background()
	// Until acme/eng's headcount reaches the threshold, its comments are shown under acme only,
	// which a manager limited to acme/eng does not cover.
	if got := get(servicetest.WithToken(bg, f.env.SubtreeManager), eng); got != codes.NotFound {
		t.Fatalf("manager of acme/eng before headcounts: GetFeedback = %v, want NotFound", got)
	}
	f.headcount(t, "acme/eng", 10)
	for _, tc := range []struct {
		who  string
		ctx  context.Context
		id   string
		want codes.Code
	}{
		{"hr of the org", f.as(auth.RoleHR), sales, codes.OK},
		{"global admin", f.as(auth.RoleAdmin), eng, codes.OK},
		{"manager of acme/eng, own subtree", servicetest.WithToken(bg, f.env.SubtreeManager), eng, codes.OK},
		{"manager of acme/eng, other team", servicetest.WithToken(bg, f.env.SubtreeManager), sales, codes.NotFound},
		{"hr of another org", servicetest.WithToken(bg, f.env.OtherHR), eng, codes.NotFound},
		{"unknown id", f.as(auth.RoleHR), "NOPE", codes.NotFound},
		{"submitter", f.as(auth.RoleSubmitter), eng, codes.PermissionDenied},
		{"no token", bg, eng, codes.Unauthenticated},
	} {
		if got := get(tc.ctx, tc.id); got != tc.want {
			t.Errorf("%s: GetFeedback = %v, want %v", tc.who, got, tc.want)
		}
	}
}

func readStore(t testing.TB, f *fixture) []byte {
	t.Helper()
	path := filepath.Join(f.env.DataDir, "feedback", "feedback.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if len(data) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return data
}

// waitPublished waits until the service's stream holds at least n events.
func waitPublished(t testing.TB, f *fixture, n int) {
	t.Helper()
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := len(publishedIDs(t, f, events.Feedback.Subjects)); got < n {
			return fmt.Errorf("%d events published, want %d", got, n)
		}
		return nil
	})
}

// outboxDrained waits until the service's outbox holds nothing: every event published and
// its record deleted.
func (f *fixture) outboxDrained(t testing.TB) {
	t.Helper()
	f.outboxDrainedWithin(t, 5*time.Minute)
}

// outboxDrainedWithin is outboxDrained waiting up to timeout.
func (f *fixture) outboxDrainedWithin(t testing.TB, timeout time.Duration) {
	t.Helper()
	poll.Until(t, timeout, 50*time.Millisecond, func() error {
		if n, err := f.svc.OutboxPending(); err != nil || n > 0 {
			return fmt.Errorf("outbox: %d events pending (%v)", n, err)
		}
		return nil
	})
}

// findRef looks for secretRef in b in any encoding servicetest.FindSecret knows.
func findRef(b []byte) (string, bool) { return servicetest.FindSecret(b, secretRef) }

// nextEvent reads the first event on subject, waiting for the outbox relay to publish it.
func nextEvent(t testing.TB, f *fixture, subject string) jetstream.Msg {
	return f.env.NextEvent(t, events.Feedback.Name, subject)
}

// publishedIDs lists the event ids the service's stream holds on subject.
func publishedIDs(t testing.TB, f *fixture, subject string) []string {
	return f.env.PublishedIDs(t, events.Feedback.Name, subject)
}
