package sentiment_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/sentiment"
	"github.com/voix-dev/voix/services/sentiment/internal/analyzer"
)

// now is a fixed clock in the middle of an ISO week, so the windows of a test never straddle
// a boundary.
var now = time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)

type fixture struct {
	env    *servicetest.Env
	svc    *sentiment.Service
	client sentimentv1.SentimentServiceClient
	js     jetstream.JetStream
	secret *anonymity.Secret
	seq    int
	// clock is the service's clock in Unix nanoseconds: now, unless a test moves it (setNow).
	clock atomic.Int64
}

func start(t *testing.T) *fixture { return startConfig(t, nil) }

// startConfig is start with the configuration changed by edit first, if set.
func startConfig(t *testing.T, edit func(*sentiment.Config)) *fixture {
	t.Helper()
	env := servicetest.New(t)
	f := producer(t, env)
	f.clock.Store(now.UnixNano())
	cfg := sentiment.Config{
		Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig(),
		Now: func() time.Time { return time.Unix(0, f.clock.Load()).UTC() },
		// Releases happen when a test says (waitAcked flushes), so that what is released does
		// not depend on how events and ticks interleave.
		PublishInterval: time.Hour,
	}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := sentiment.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start sentiment: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	f.svc = svc
	f.client = sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, svc.Addr()))
	return f
}

// producer is a fixture without a service yet: the deployment's secret (servicetest made it;
// producers use the same) and a JetStream client to publish events as producers do.
func producer(t testing.TB, env *servicetest.Env) *fixture {
	t.Helper()
	secret, err := anonymity.LoadOrCreateSecret(host.DefaultSecretFile(env.DataDir))
	if err != nil {
		t.Fatalf("load secret: %v", err)
	}
	nc, err := nats.Connect(env.NATS.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return &fixture{env: env, secret: secret, js: js}
}

// setNow moves the service's clock; the events a test publishes keep their own times.
func (f *fixture) setNow(t time.Time) { f.clock.Store(t.UnixNano()) }

func (f *fixture) contributors(t *testing.T, ref, seg string) []*eventsv1.ContributorTag {
	t.Helper()
	p, err := segment.Parse(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	var out []*eventsv1.ContributorTag
	for _, c := range f.secret.Contributors(ref, p, now) {
		out = append(out, &eventsv1.ContributorTag{Segment: c.Segment, Window: c.Window, Tag: c.Tag})
	}
	return out
}

// publish sends an event the way the outbox relay does: id in Nats-Msg-Id and ce-id.
func (f *fixture) publish(t *testing.T, subject, typ string, m proto.Message) {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	f.publishRaw(t, subject, typ, data)
}

func (f *fixture) publishRaw(t *testing.T, subject, typ string, data []byte) {
	t.Helper()
	f.seq++
	id := fmt.Sprintf("test/%d", f.seq)
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set("Nats-Msg-Id", id)
	msg.Header.Set("ce-specversion", "1.0")
	msg.Header.Set("ce-id", id)
	msg.Header.Set("ce-type", typ)
	msg.Header.Set("ce-source", "test")
	msg.Header.Set("ce-time", now.Format(time.RFC3339))
	msg.Header.Set("content-type", "application/protobuf")
	if _, err := f.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

func (f *fixture) comment(t *testing.T, ref, seg, text string, dims ...commonv1.Dimension) {
	t.Helper()
	f.publish(t, events.FeedbackSubmitted.Subject(segment.MustParse(seg)), events.FeedbackSubmitted.Type,
		&eventsv1.FeedbackSubmitted{
			FeedbackId: fmt.Sprintf("fb-%d", f.seq+1), Segment: seg, Text: text, Dimensions: dims,
			SubmittedDay: timestamppb.New(now.Truncate(24 * time.Hour)), Contributors: f.contributors(t, ref, seg),
		})
}

func (f *fixture) get(t *testing.T, seg string, dim commonv1.Dimension) *commonv1.Aggregate {
	t.Helper()
	return f.getAt(t, seg, dim, time.Time{})
}

// getAt reads the aggregate of the week holding at (now, for the zero time).
func (f *fixture) getAt(t *testing.T, seg string, dim commonv1.Dimension, at time.Time) *commonv1.Aggregate {
	t.Helper()
	ctx := f.env.As(context.Background(), auth.RoleHR)
	req := &sentimentv1.GetSentimentRequest{Segment: seg, Dimension: dim}
	if !at.IsZero() {
		req.Time = timestamppb.New(at)
	}
	resp, err := f.client.GetSentiment(ctx, req)
	if err != nil {
		t.Fatalf("GetSentiment(%s): %v", seg, err)
	}
	return resp.Aggregate
}

// waitAcked waits until the durable consumer acknowledged n messages (each one was applied and
// committed before its ack), then releases what the rules allow, as the publisher's next tick
// would.
func (f *fixture) waitAcked(t *testing.T, durable, stream string, n uint64) {
	t.Helper()
	f.waitApplied(t, durable, stream, n)
	if err := f.svc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// waitApplied waits until the durable consumer acknowledged n messages, without releasing.
func (f *fixture) waitApplied(t *testing.T, durable, stream string, n uint64) {
	t.Helper()
	poll.Until(t, 15*time.Second, 20*time.Millisecond, func() error {
		c, err := f.js.Consumer(context.Background(), stream, durable)
		if err != nil {
			return fmt.Errorf("consumer %s: %w", durable, err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return fmt.Errorf("consumer %s: %w", durable, err)
		}
		if info.AckFloor.Consumer < n {
			return fmt.Errorf("consumer %s acknowledged %d messages, want %d", durable, info.AckFloor.Consumer, n)
		}
		return nil
	})
}

func (f *fixture) analyze(t *testing.T, text string) *sentimentv1.AnalyzeTextResponse {
	t.Helper()
	resp, err := f.client.AnalyzeText(f.env.As(context.Background(), auth.RoleSubmitter), &sentimentv1.AnalyzeTextRequest{Text: text})
	if err != nil {
		t.Fatalf("AnalyzeText: %v", err)
	}
	return resp
}

func TestRollupsCountDistinctPeopleInEveryAncestor(t *testing.T) {
	f := start(t)
	texts := []string{
		"Super équipe, je me sens valorisé",
		"I am exhausted and overwhelmed",
		"Les outils sont nuls, quelle galère",
		"Great manager, thanks",
		"Réunion à 10h",
		"Trop de stress cette semaine",
	}
	// Five people in acme/eng/platform (one of them twice), one in acme/eng/data.
	type c struct{ ref, seg, text string }
	var cs []c
	for i, ref := range []string{"U1", "U2", "U3", "U4", "U5", "U1"} {
		cs = append(cs, c{ref, "acme/eng/platform", texts[i]})
	}
	cs = append(cs, c{"U9", "acme/eng/data", "Bonne ambiance"})
	for _, x := range cs {
		f.comment(t, x.ref, x.seg, x.text, commonv1.Dimension_DIMENSION_WORKLOAD)
	}
	f.waitAcked(t, events.DurableSentimentFeedback, events.Feedback.Name, uint64(len(cs)))

	// The expected numbers, computed here from the analyzer's per-text answers (the service
	// sums scores in millionths, hence the 1e-6 tolerance on means). The "all dimensions" cell
	// takes a comment's overall sentiment; the WORKLOAD cell the sentiment of the clause about
	// the workload when the analyzer finds one, else the overall sentiment of the comment its
	// author tagged WORKLOAD. The service's organisation language is English (the default).
	type want struct {
		people, count, pos, neg int
		sum                     float64
	}
	type cell struct {
		seg string
		dim commonv1.Dimension
	}
	expect := map[cell]*want{}
	people := map[cell]map[string]bool{}
	an := analyzer.New("en")
	for _, x := range cs {
		r := an.Analyze(x.text)
		p, _ := segment.Parse(x.seg)
		for _, dim := range []commonv1.Dimension{commonv1.Dimension_DIMENSION_UNSPECIFIED, commonv1.Dimension_DIMENSION_WORKLOAD} {
			score, label := r.Score, r.Label
			if dim == commonv1.Dimension_DIMENSION_WORKLOAD {
				for _, h := range r.Dimensions {
					if h.Dimension == analyzer.Workload {
						score, label = h.Score, h.Label
					}
				}
			}
			for _, a := range p.Ancestors() {
				c := cell{a.String(), dim}
				w := expect[c]
				if w == nil {
					w = &want{}
					expect[c] = w
					people[c] = map[string]bool{}
				}
				people[c][x.ref] = true
				w.people = len(people[c])
				w.count++
				w.sum += score
				switch label {
				case analyzer.Positive:
					w.pos++
				case analyzer.Negative:
					w.neg++
				}
			}
		}
	}
	for c, w := range expect {
		seg, dim := c.seg, c.dim
		got := f.get(t, seg, dim)
		// acme/eng/platform has five people and shows them. Its sibling acme/eng/data has
		// one, so acme/eng and acme, minus platform, would show that one person: they wait
		// (for data's people, or the end of the week, which does not help here).
		if w.people < 5 || seg == "acme/eng" || seg == "acme" {
			if !got.Hidden || got.People != 0 || got.Count != 0 || got.MeanScore != 0 {
				t.Errorf("%s/%v: %d people must be hidden with no numbers, got %+v", seg, dim, w.people, got)
			}
			continue
		}
		if got.Hidden || int(got.People) != w.people || int(got.Count) != w.count ||
			int(got.Positive) != w.pos || int(got.Negative) != w.neg ||
			math.Abs(got.MeanScore-w.sum/float64(w.count)) > 1e-6 {
			t.Errorf("%s/%v = people %d count %d pos %d neg %d mean %.4f hidden %v; want people %d count %d pos %d neg %d mean %.4f",
				seg, dim, got.People, got.Count, got.Positive, got.Negative, got.MeanScore, got.Hidden,
				w.people, w.count, w.pos, w.neg, w.sum/float64(w.count))
		}
	}
	if got := f.get(t, "acme", commonv1.Dimension_DIMENSION_GROWTH); !got.Hidden {
		t.Errorf("a dimension nobody talked about must be hidden, got %+v", got)
	}
}

func TestSurveyAnswersFeedScoresAndENPS(t *testing.T) {
	f := start(t)
	scale := []int32{5, 4, 2, 1, 3, 5}
	enps := []int32{10, 9, 7, 6, 0, 8}
	for i := range scale {
		ref := fmt.Sprintf("P%d", i)
		f.publish(t, events.PulseResponded.Subject(segment.MustParse("acme/sales")), events.PulseResponded.Type, &eventsv1.ResponseSubmitted{
			ResponseId: fmt.Sprintf("r%d", i), SurveyId: "s1", Wave: 1, Segment: "acme/sales",
			Answers: []*eventsv1.ScoredAnswer{
				{QuestionId: "q1", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_GROWTH, Value: scale[i]},
				{QuestionId: "q2", Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Value: enps[i]},
			},
			Contributors: f.contributors(t, ref, "acme/sales"),
		})
	}
	f.waitAcked(t, events.DurableSentimentPulse, events.Pulse.Name, uint64(len(scale)))

	var sum float64
	for _, v := range scale {
		sum += float64(v-3) / 2
	}
	growth := f.get(t, "acme/sales", commonv1.Dimension_DIMENSION_GROWTH)
	if growth.Hidden || growth.People != 6 || growth.Count != 6 || math.Abs(growth.MeanScore-sum/6) > 1e-9 {
		t.Errorf("GROWTH = %+v; want 6 people, 6 answers, mean %.4f", growth, sum/6)
	}
	var pro, det int
	for _, v := range enps {
		if v >= 9 {
			pro++
		} else if v <= 6 {
			det++
		}
	}
	eng := f.get(t, "acme", commonv1.Dimension_DIMENSION_ENGAGEMENT)
	want := 100 * float64(pro-det) / float64(len(enps))
	if eng.Enps == nil || math.Abs(eng.Enps.Score-want) > 1e-9 || int(eng.Enps.Promoters) != pro || int(eng.Enps.Detractors) != det {
		t.Errorf("eNPS = %+v; want score %.2f with %d promoters and %d detractors", eng.Enps, want, pro, det)
	}
}

func TestUndecodableEventIsSetAsideAndLaterOnesApply(t *testing.T) {
	f := start(t)
	f.publishRaw(t, events.FeedbackSubmitted.Subject(segment.MustParse("acme")), events.FeedbackSubmitted.Type, []byte{0xff, 0xff, 0xff})
	for i := 0; i < 5; i++ {
		f.comment(t, fmt.Sprintf("U%d", i), "acme", "Merci pour la reconnaissance")
	}
	f.waitAcked(t, events.DurableSentimentFeedback, events.Feedback.Name, 6)
	if got := f.get(t, "acme", 0); got.Hidden || got.Count != 5 {
		t.Fatalf("after a poison message and five comments: %+v; want 5 counted", got)
	}
}

func TestReadsAreLimitedToTheTokenPrefix(t *testing.T) {
	f := start(t)
	ctx := servicetest.WithToken(context.Background(), f.env.OtherHR)
	_, err := f.client.GetSentiment(ctx, &sentimentv1.GetSentimentRequest{Segment: "acme/eng"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("globex hr reading acme: %v; want PermissionDenied", err)
	}
	ctx = f.env.As(context.Background(), auth.RoleSubmitter)
	_, err = f.client.GetSentiment(ctx, &sentimentv1.GetSentimentRequest{Segment: "acme"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("submitter reading aggregates: %v; want PermissionDenied", err)
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	f := start(t)
	hr := f.env.As(context.Background(), auth.RoleHR)
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"segment grammar", func() error {
			_, err := f.client.GetSentiment(hr, &sentimentv1.GetSentimentRequest{Segment: "Acme/Eng"})
			return err
		}, "segment"},
		{"unknown dimension", func() error {
			_, err := f.client.GetSentiment(hr, &sentimentv1.GetSentimentRequest{Segment: "acme", Dimension: 42})
			return err
		}, "dimension"},
		{"unknown granularity", func() error {
			_, err := f.client.GetSentiment(hr, &sentimentv1.GetSentimentRequest{Segment: "acme", Granularity: 9})
			return err
		}, "granularity"},
		{"empty text", func() error {
			_, err := f.client.AnalyzeText(hr, &sentimentv1.AnalyzeTextRequest{Text: "   "})
			return err
		}, "text"},
		{"text too long", func() error {
			_, err := f.client.AnalyzeText(hr, &sentimentv1.AnalyzeTextRequest{Text: strings.Repeat("é", 4001)})
			return err
		}, "text"},
		{"unknown language", func() error {
			_, err := f.client.AnalyzeText(hr, &sentimentv1.AnalyzeTextRequest{Text: "bien", Language: "de"})
			return err
		}, "language"},
		{"watch prefix grammar", func() error {
			st, err := f.client.WatchSentiment(hr, &sentimentv1.WatchSentimentRequest{SegmentPrefix: "acme//x"})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, "segment_prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.field) {
				t.Fatalf("got %v; want InvalidArgument naming %q", err, tc.field)
			}
		})
	}
}

func TestWatchSentimentStreamsPublishedAggregates(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(f.env.As(context.Background(), auth.RoleManager), 20*time.Second)
	defer cancel()
	stream, err := f.client.WatchSentiment(ctx, &sentimentv1.WatchSentimentRequest{SegmentPrefix: "acme/eng"})
	if err != nil {
		t.Fatalf("WatchSentiment: %v", err)
	}
	if _, err := stream.Header(); err != nil { // the subscription is in place once headers are sent
		t.Fatalf("header: %v", err)
	}
	for i := 0; i < 5; i++ {
		f.comment(t, fmt.Sprintf("U%d", i), "acme/eng/web", "Great team")
	}
	f.waitAcked(t, events.DurableSentimentFeedback, events.Feedback.Name, 5)
	seen := map[string]bool{}
	for len(seen) < 2 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("recv after %v: %v", seen, err)
		}
		if resp.Update == nil { // the caught_up mark after the (empty) initial state
			continue
		}
		a := resp.Update.Aggregate
		if a.People < 5 {
			t.Fatalf("streamed an aggregate of %d people", a.People)
		}
		if a.Segment == "acme" {
			t.Fatalf("streamed %s, outside the watched prefix", a.Segment)
		}
		seen[a.Segment] = true
	}
	if !seen["acme/eng"] || !seen["acme/eng/web"] {
		t.Fatalf("streamed %v; want acme/eng and acme/eng/web", seen)
	}
}
