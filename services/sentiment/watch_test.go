package sentiment_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
)

// release is one release as a watch or the stream shows it: aggregate and version.
type release struct {
	seg     string
	dim     commonv1.Dimension
	window  string
	version uint64
}

func releaseOf(u *eventsv1.SentimentUpdated) release {
	a := u.Aggregate
	return release{seg: a.Segment, dim: a.Dimension, window: a.Window.GetKey(), version: u.Version}
}

// crowd makes new people comment, each once.
type crowd struct {
	f *fixture
	n int // people so far
}

// add makes n new people comment in seg, waits until the consumer applied them, releases what
// may be released, and waits until the outbox has published it: every release is then on the
// stream.
func (c *crowd) add(t *testing.T, n int, seg string) {
	t.Helper()
	f := c.f
	for range n {
		c.n++
		f.comment(t, fmt.Sprintf("P%d", c.n), seg, "Super équipe, très bonne ambiance", commonv1.Dimension_DIMENSION_CONNECTIONS)
	}
	f.waitAcked(t, events.DurableSentimentFeedback, events.Feedback.Name, uint64(c.n))
	poll.Until(t, 15*time.Second, 10*time.Millisecond, func() error {
		n, err := f.svc.OutboxPending()
		if err != nil || n > 0 {
			return fmt.Errorf("outbox holds %d events (%v)", n, err)
		}
		return nil
	})
}

// streamed is every SentimentUpdated under prefix on the stream, in order.
func (f *fixture) streamed(t *testing.T, prefix string) []release {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, err := f.js.Stream(ctx, events.Sentiment.Name)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	filters := events.SentimentUpdated.Filters(segment.MustParse(prefix))
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: filters})
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	var out []release
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var u eventsv1.SentimentUpdated
			if err := proto.Unmarshal(m.Data(), &u); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out = append(out, releaseOf(&u))
		}
		if batch.Error() != nil {
			t.Fatalf("fetch: %v", batch.Error())
		}
		if got == 0 {
			return out
		}
	}
}

// watcher is one WatchSentiment call.
type watcher struct {
	t      *testing.T
	stream sentimentv1.SentimentService_WatchSentimentClient
	cancel context.CancelFunc
	// token is the last resume token received.
	token string
}

func (f *fixture) watch(t *testing.T, prefix, token string) *watcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.env.As(context.Background(), auth.RoleHR), 30*time.Second)
	stream, err := f.client.WatchSentiment(ctx, &sentimentv1.WatchSentimentRequest{SegmentPrefix: prefix, ResumeToken: token})
	if err != nil {
		cancel()
		t.Fatalf("WatchSentiment: %v", err)
	}
	t.Cleanup(cancel)
	return &watcher{t: t, stream: stream, cancel: cancel, token: token}
}

// next is the next response; its token, if any, becomes the watcher's.
func (w *watcher) next() *sentimentv1.WatchSentimentResponse {
	w.t.Helper()
	resp, err := w.stream.Recv()
	if err != nil {
		w.t.Fatalf("recv: %v", err)
	}
	if resp.ResumeToken != "" {
		w.token = resp.ResumeToken
	}
	return resp
}

// untilCaughtUp reads up to the caught_up response, and returns the initial updates and the
// live ones before it.
func (w *watcher) untilCaughtUp() (initial, live []*eventsv1.SentimentUpdated) {
	w.t.Helper()
	for {
		resp := w.next()
		switch {
		case resp.CaughtUp:
			if resp.Update != nil || resp.ResumeToken == "" {
				w.t.Fatalf("caught_up response %v: want a token and no update", resp)
			}
			return initial, live
		case resp.Update == nil:
			w.t.Fatalf("response without update nor caught_up: %v", resp)
		case resp.Initial:
			if len(live) > 0 || resp.ResumeToken != "" {
				w.t.Fatalf("initial update %v after live ones, or with a token", resp)
			}
			initial = append(initial, resp.Update)
		default:
			if resp.ResumeToken == "" {
				w.t.Fatalf("live update without a resume token: %v", resp)
			}
			live = append(live, resp.Update)
		}
	}
}

// TestWatchStartsWithTheCurrentState: a watch opened after releases first receives the released
// state of its subtree (what GetSentiment shows), marked initial, then caught_up, then the
// releases that follow, live.
func TestWatchStartsWithTheCurrentState(t *testing.T) {
	f := start(t)
	c := &crowd{f: f}
	c.add(t, 5, "acme/eng/web")
	c.add(t, 5, "acme/sales/smb") // outside the watched subtree

	w := f.watch(t, "acme/eng", "")
	initial, live := w.untilCaughtUp()
	if len(live) != 0 {
		t.Fatalf("live updates before caught_up on a quiet stream: %v", live)
	}
	got := map[string]*commonv1.Aggregate{}
	for _, u := range initial {
		a := u.Aggregate
		if !strings.HasPrefix(a.Segment, "acme/eng") {
			t.Fatalf("initial state holds %s, outside acme/eng", a.Segment)
		}
		got[fmt.Sprintf("%s/%d", a.Segment, a.Dimension)] = a
	}
	for _, seg := range []string{"acme/eng", "acme/eng/web"} {
		for _, dim := range []commonv1.Dimension{commonv1.Dimension_DIMENSION_UNSPECIFIED, commonv1.Dimension_DIMENSION_CONNECTIONS} {
			a, ok := got[fmt.Sprintf("%s/%d", seg, dim)]
			if !ok {
				t.Fatalf("initial state %v: no %s %s", got, seg, dim)
			}
			if want := f.get(t, seg, dim); !proto.Equal(a, want) || a.People != 5 {
				t.Errorf("initial %s %s = %v; GetSentiment shows %v (5 people)", seg, dim, a, want)
			}
		}
	}

	c.add(t, 5, "acme/eng/web")
	resp := w.next()
	if resp.Initial || resp.Update == nil || resp.ResumeToken == "" {
		t.Fatalf("after the initial state: %v, want a live update with a token", resp)
	}
	if a := resp.Update.Aggregate; a.People != 10 || !strings.HasPrefix(a.Segment, "acme/eng") {
		t.Fatalf("live update %v: want 10 people under acme/eng", a)
	}
}

// TestWatchResumesWithoutGapsOrRepeats: a watch is cut off in the middle of the releases of a
// flush, releases go on while it is away, and it resumes with its last token, twice; what the
// three connections received (initial state included) is every release the stream holds for
// the subtree, each exactly once.
func TestWatchResumesWithoutGapsOrRepeats(t *testing.T) {
	f := start(t)
	c := &crowd{f: f}
	c.add(t, 5, "acme/eng/web") // before the watch: the initial state

	var received []release
	w := f.watch(t, "acme/eng", "")
	initial, _ := w.untilCaughtUp()
	for _, u := range initial {
		received = append(received, releaseOf(u))
	}
	if len(initial) == 0 {
		t.Fatal("no initial state after a release")
	}

	c.add(t, 5, "acme/eng/api") // several releases: the team, acme/eng, each dimension
	resp := w.next()
	if resp.Update == nil || resp.Initial {
		t.Fatalf("want a live update, got %v", resp)
	}
	received = append(received, releaseOf(resp.Update))
	w.cancel() // cut off with the rest of the flush unread

	c.add(t, 5, "acme/eng/web")
	c.add(t, 6, "acme/eng/ops")

	w = f.watch(t, "acme/eng", w.token)
	initial, live := w.untilCaughtUp()
	if len(initial) != 0 {
		t.Fatalf("a resumed watch sent %d initial updates", len(initial))
	}
	if len(live) == 0 {
		t.Fatal("a resumed watch sent nothing of what was released while it was away")
	}
	for _, u := range live {
		received = append(received, releaseOf(u))
	}
	w.cancel()

	// Resumed at the tail: nothing to catch up, then live again.
	w = f.watch(t, "acme/eng", w.token)
	if _, live := w.untilCaughtUp(); len(live) != 0 {
		t.Fatalf("resumed at the tail, got %d updates before caught_up", len(live))
	}
	c.add(t, 5, "acme/eng/api")
	want := f.streamed(t, "acme/eng")
	for len(received) < len(want) {
		resp := w.next()
		if resp.Update == nil || resp.Initial {
			t.Fatalf("want a live update, got %v", resp)
		}
		received = append(received, releaseOf(resp.Update))
	}

	// Every release on the stream exactly once. The initial state holds the latest release of
	// each aggregate, which here (one release of acme/eng/web before the watch) is all of them.
	count := map[release]int{}
	for _, r := range received {
		count[r]++
	}
	for _, r := range want {
		switch count[r] {
		case 1:
		case 0:
			t.Errorf("missed %+v", r)
		default:
			t.Errorf("received %+v %d times", r, count[r])
		}
		delete(count, r)
	}
	for r, n := range count {
		t.Errorf("received %+v (%d times), which the stream does not hold", r, n)
	}
	t.Logf("%d releases on the stream, %d received over three connections", len(want), len(received))
	if len(want) < 12 {
		t.Errorf("the test made only %d releases", len(want))
	}
}

// TestWatchRefusesABadToken: a token of another prefix, or not a token, is InvalidArgument on
// resume_token.
func TestWatchRefusesABadToken(t *testing.T) {
	f := start(t)
	w := f.watch(t, "acme/eng", "")
	w.untilCaughtUp()
	for name, tc := range map[string]struct{ prefix, token string }{
		"other prefix": {"acme/sales", w.token},
		"garbage":      {"acme/eng", "not-a-token"},
		"truncated":    {"acme/eng", w.token[:len(w.token)-3]},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(f.env.As(context.Background(), auth.RoleHR), 10*time.Second)
			defer cancel()
			st, err := f.client.WatchSentiment(ctx, &sentimentv1.WatchSentimentRequest{SegmentPrefix: tc.prefix, ResumeToken: tc.token})
			if err == nil {
				_, err = st.Recv()
			}
			if s := status.Convert(err); s.Code() != codes.InvalidArgument || !strings.HasPrefix(s.Message(), "resume_token: ") {
				t.Fatalf("got %v, want InvalidArgument on resume_token", err)
			}
		})
	}
}
