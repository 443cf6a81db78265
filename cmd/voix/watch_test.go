package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/voix-dev/voix/cmd/voix/internal/dev"
	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// lines sends the lines read from r, until it ends.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	select {
	case l, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the output ended", what)
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: nothing after 30s", what)
	}
	return ""
}

func startDev(t *testing.T) (*dev.Suite, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := dev.Start(context.Background(), dev.Config{DataDir: dir, NATSPort: -1, PulseListen: "127.0.0.1:0",
		FeedbackListen: "127.0.0.1:0", SentimentListen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// watchRun is one voix watch running until stop.
type watchRun struct {
	out  <-chan string // stdout and stderr together, in the order written
	done chan error
	stop context.CancelFunc
}

func startWatch(args ...string) *watchRun {
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	wr := &watchRun{out: lines(r), done: make(chan error, 1), stop: cancel}
	go func() {
		wr.done <- watchCmd(ctx, args, w, w)
		w.Close()
	}()
	return wr
}

// end stops the watch and returns what it said after the lines read so far.
func (wr *watchRun) end(t *testing.T) []string {
	t.Helper()
	wr.stop()
	var rest []string
	for l := range wr.out {
		rest = append(rest, l)
	}
	select {
	case err := <-wr.done:
		if err != nil {
			t.Fatalf("voix watch after Ctrl-C: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("voix watch did not stop")
	}
	return rest
}

// comment makes people ref0..ref0+n-1 comment in seg.
func comment(t *testing.T, s *dev.Suite, seg string, ref0, n int) {
	t.Helper()
	fc := feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, s.Feedback.Addr()))
	sub := servicetest.WithToken(context.Background(), s.Tokens.Submitter)
	for i := range n {
		if _, err := fc.SubmitFeedback(sub, &feedbackv1.SubmitFeedbackRequest{Segment: seg,
			Text: "Les outils de build sont trop lents", SubmitterRef: fmt.Sprintf("U%d", ref0+i)}); err != nil {
			t.Fatalf("SubmitFeedback: %v", err)
		}
	}
}

// waitReleased waits until GetSentiment shows people in seg (all dimensions).
func waitReleased(t *testing.T, s *dev.Suite, seg string, people uint32) {
	t.Helper()
	sc := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, s.Sentiment.Addr()))
	hr := servicetest.WithToken(context.Background(), s.Tokens.HR)
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() error {
		resp, err := sc.GetSentiment(hr, &sentimentv1.GetSentimentRequest{Segment: seg})
		if err != nil {
			return err
		}
		if a := resp.Aggregate; a.Hidden || a.People != people {
			return fmt.Errorf("%s: %d people, hidden %v; want %d", seg, a.People, a.Hidden, people)
		}
		return nil
	})
}

// readUpdates reads the watch's output, line by line, until stop returns true: stop is given
// the line's note (a "voix watch: " line; "" for an update) and the updates read so far, by
// segment (all dimensions together).
func readUpdates(t *testing.T, wr *watchRun, what string, stop func(note string, bySegment map[string]*commonv1.Aggregate) bool) (all []*eventsv1.SentimentUpdated, bySegment map[string]*commonv1.Aggregate) {
	t.Helper()
	bySegment = map[string]*commonv1.Aggregate{}
	for {
		l := next(t, wr.out, fmt.Sprintf("%s (updates so far: %d)", what, len(all)))
		note := ""
		if strings.HasPrefix(l, "voix watch: ") {
			note = l
		} else {
			var ev eventsv1.SentimentUpdated
			if err := protojson.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("line %q is not a SentimentUpdated: %v", l, err)
			}
			all = append(all, &ev)
			if a := ev.Aggregate; a.Dimension == commonv1.Dimension_DIMENSION_UNSPECIFIED {
				bySegment[a.Segment] = a
			}
		}
		if stop(note, bySegment) {
			return all, bySegment
		}
	}
}

// untilCaughtUp reads the watch's output up to its caught-up note, and returns the updates
// printed before it, by segment (all dimensions together).
func untilCaughtUp(t *testing.T, wr *watchRun) (all []*eventsv1.SentimentUpdated, bySegment map[string]*commonv1.Aggregate) {
	t.Helper()
	return readUpdates(t, wr, "voix watch", func(note string, _ map[string]*commonv1.Aggregate) bool {
		return strings.Contains(note, "live from here")
	})
}

// untilSeen reads the watch's output until it has printed, for each segment of want, an update
// (all dimensions) of that many people, before or after its caught-up note: a release made
// while the watch was away may reach the stream after the resumed watch caught up (the
// aggregate is readable before its SentimentUpdated is published), and is then printed live.
func untilSeen(t *testing.T, wr *watchRun, want map[string]uint32) (all []*eventsv1.SentimentUpdated, bySegment map[string]*commonv1.Aggregate) {
	t.Helper()
	return readUpdates(t, wr, fmt.Sprintf("voix watch, resumed, until it prints %v", want), func(_ string, by map[string]*commonv1.Aggregate) bool {
		for seg, people := range want {
			if a := by[seg]; a == nil || a.People != people {
				return false
			}
		}
		return true
	})
}

// TestWatchPrintsTheStateThenResumes: voix watch prints the current released state first, one
// JSON line per aggregate; stopped, it says how to resume; resumed with that token, it prints
// the releases made while it was away and nothing it printed before.
func TestWatchPrintsTheStateThenResumes(t *testing.T) {
	s, dir := startDev(t)
	comment(t, s, "acme/eng", 0, 5)
	comment(t, s, "acme/sales", 100, 5)
	waitReleased(t, s, "acme", 10)

	base := []string{"--data-dir", dir, "--sentiment-addr", s.Sentiment.Addr(), "--segment", "acme"}
	wr := startWatch(base...)
	_, state := untilCaughtUp(t, wr)
	for seg, want := range map[string]uint32{"acme": 10, "acme/eng": 5, "acme/sales": 5} {
		if a := state[seg]; a == nil || a.People != want || a.Hidden {
			t.Errorf("current state of %s: %v, want %d people", seg, a, want)
		}
	}
	said := wr.end(t)
	var resume string
	for _, l := range said {
		if _, tok, ok := strings.Cut(l, "--resume "); ok {
			resume = tok
		}
	}
	if resume == "" {
		t.Fatalf("voix watch stopped without a resume token: %q", said)
	}

	comment(t, s, "acme/eng", 200, 5)
	waitReleased(t, s, "acme", 15)
	wr = startWatch(append(base, "--resume", resume)...)
	all, got := untilSeen(t, wr, map[string]uint32{"acme": 15, "acme/eng": 10})
	wr.end(t)
	if a := got["acme"]; a == nil || a.People != 15 {
		t.Errorf("resumed: acme %v, want the release of 15 people", a)
	}
	if a := got["acme/eng"]; a == nil || a.People != 10 {
		t.Errorf("resumed: acme/eng %v, want the release of 10 people", a)
	}
	for _, ev := range all {
		if a := ev.Aggregate; a.Segment == "acme/sales" || a.People < 10 {
			t.Errorf("resumed, voix watch printed again %s with %d people (version %d), from before it stopped", a.Segment, a.People, ev.Version)
		}
	}
}

// TestWatchNATSPrintsReleasedAggregates runs voix watch --nats as the portal user, makes five
// people comment, and reads the organisation's released aggregate as a line of JSON.
func TestWatchNATSPrintsReleasedAggregates(t *testing.T) {
	s, dir := startDev(t)
	wr := startWatch("--nats", "--nats-url", s.NATSURL(), "--data-dir", dir, "--segment", "acme")
	if l := next(t, wr.out, "voix watch"); !strings.Contains(l, "voix.sentiment.updated.acme") {
		t.Fatalf("voix watch says %q, want the subjects it watches", l)
	}
	comment(t, s, "acme/eng", 0, 5)
	for {
		l := next(t, wr.out, "voix watch")
		var ev eventsv1.SentimentUpdated
		if err := protojson.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q is not a SentimentUpdated: %v", l, err)
		}
		if ev.Aggregate.GetSegment() == "acme" {
			if ev.Aggregate.People != 5 || ev.Aggregate.Hidden {
				t.Fatalf("the organisation's aggregate: %v, want 5 people", ev.Aggregate)
			}
			break
		}
	}
	wr.end(t)
}

// TestWatchIsLimitedToItsOrganisation: the portal user cannot watch another organisation, and
// voix watch --nats says so instead of waiting for nothing; the hr token cannot either.
func TestWatchIsLimitedToItsOrganisation(t *testing.T) {
	s, dir := startDev(t)
	for _, mode := range [][]string{
		{"--nats", "--nats-url", s.NATSURL()},
		{"--sentiment-addr", s.Sentiment.Addr()},
	} {
		errc := make(chan error, 1)
		go func() {
			errc <- watchCmd(context.Background(), append(mode, "--data-dir", dir, "--segment", "globex"), io.Discard, io.Discard)
		}()
		select {
		case err := <-errc:
			msg := strings.ToLower(fmt.Sprint(err))
			if !strings.Contains(msg, "permissions violation") && !strings.Contains(msg, "permissiondenied") {
				t.Fatalf("%v watching another organisation: %v, want a permission error", mode, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: voix watch kept watching another organisation", mode)
		}
	}
}
