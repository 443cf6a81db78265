package dev

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// startSuite runs a dev suite on free ports with its data in dir; it stops in t.Cleanup.
func startSuite(t *testing.T, dir string, k int) *Suite {
	t.Helper()
	s, err := Start(context.Background(), Config{
		DataDir:         dir,
		NATSPort:        -1,
		PulseListen:     "127.0.0.1:0",
		FeedbackListen:  "127.0.0.1:0",
		SentimentListen: "127.0.0.1:0",
		GatewayListen:   "127.0.0.1:0",
		MinGroupSize:    k,
	})
	if err != nil {
		t.Fatalf("start dev suite in %s: %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// updates collects SentimentUpdated events in the order one connection receives them.
type updates struct {
	mu  sync.Mutex
	got []*eventsv1.SentimentUpdated
}

func (u *updates) snapshot() []*eventsv1.SentimentUpdated {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*eventsv1.SentimentUpdated(nil), u.got...)
}

// before returns the updates received before the first one of seg, and whether that one came.
func (u *updates) before(seg string) ([]*eventsv1.SentimentUpdated, bool) {
	got := u.snapshot()
	for i, ev := range got {
		if ev.Aggregate.Segment == seg {
			return got[:i], true
		}
	}
	return nil, false
}

// collect subscribes nc to subjects and collects the updates they carry.
func collect(t *testing.T, nc *nats.Conn, subjects []string) *updates {
	t.Helper()
	u := &updates{}
	for _, subj := range subjects {
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) {
			var ev eventsv1.SentimentUpdated
			if err := proto.Unmarshal(m.Data, &ev); err != nil {
				t.Errorf("undecodable update on %s: %v", m.Subject, err)
				return
			}
			u.mu.Lock()
			u.got = append(u.got, &ev)
			u.mu.Unlock()
		}); err != nil {
			t.Fatalf("subscribe %s: %v", subj, err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return u
}

// subscribePortal connects as the portal user and subscribes to the org and everything below.
// NATS's ">" needs at least one more token, so the org's own aggregate has its own subject.
func subscribePortal(t *testing.T, s *Suite, org string) *updates {
	t.Helper()
	nc, err := nats.Connect(s.NATSURL(), nats.UserInfo(s.Tokens.NATSPortalUser, s.Tokens.NATSPortalPassword))
	if err != nil {
		t.Fatalf("portal connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return collect(t, nc, events.SentimentUpdated.Filters(segment.MustParse(org)))
}

// subscribeAllUpdates collects every SentimentUpdated of every organisation, as the services'
// NATS user. The sentiment service publishes them all from one connection, so this sees them
// in the order they were released.
func subscribeAllUpdates(t *testing.T, s *Suite) *updates {
	t.Helper()
	nc, err := nats.Connect(s.NATSURL(), nats.UserInfo(s.Tokens.NATSServicesUser, s.Tokens.NATSServicesPassword))
	if err != nil {
		t.Fatalf("services connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return collect(t, nc, []string{events.SentimentUpdated.All()})
}

// markerOrg is an organisation of its own for markers: it sorts after every organisation the
// tests use, and the publisher releases the trees of one flush in organisation order.
const markerOrg = "zz-marker"

// releaseMarker makes the sentiment service release an aggregate of markerOrg, and returns its
// segment: k people answer a survey there, their responses published straight to the PULSE
// stream with contributor tags made with the suite's secret (dir is its data dir).
//
// Everything the sentiment service applied before these responses were published is released
// (or held back) in the same flush as the marker or an earlier one, and the publisher releases
// the trees of one flush in organisation order and publishes its updates in commit order: an
// update that was going to be released for it comes before the marker's.
func releaseMarker(t *testing.T, s *Suite, dir string, k int) string {
	t.Helper()
	secret, err := anonymity.SecretSource{File: host.DefaultSecretFile(dir)}.Load()
	if err != nil {
		t.Fatalf("load the suite's secret: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: s.NATSURL(), User: s.Tokens.NATSServicesUser, Password: s.Tokens.NATSServicesPassword})
	if err != nil {
		t.Fatalf("services connect: %v", err)
	}
	defer b.Close()
	seg := segment.MustParse(markerOrg)
	at := time.Now()
	for i := range k {
		ref := fmt.Sprintf("marker-%d", i)
		m := &eventsv1.ResponseSubmitted{
			ResponseId: ref, SurveyId: "marker", Wave: 1, Segment: seg.String(),
			Answers: []*eventsv1.ScoredAnswer{{QuestionId: "q", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE,
				Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, Value: 4}},
			SubmittedDay: timestamppb.New(bus.Day(at)),
		}
		for _, c := range secret.Contributors(ref, seg, at) {
			m.Contributors = append(m.Contributors, &eventsv1.ContributorTag{Segment: c.Segment, Window: c.Window, Tag: c.Tag})
		}
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("marshal marker response: %v", err)
		}
		if err := b.Publish(ctx, bus.Event{ID: events.RespondedID(ref), Type: events.PulseResponded.Type,
			Source: events.PulseResponded.Source, Subject: events.PulseResponded.Subject(seg), Time: at, Data: data}); err != nil {
			t.Fatalf("publish marker response: %v", err)
		}
	}
	return seg.String()
}

// scoredCounter counts ItemScored events: once n have arrived, every comment before them has
// been through the sentiment consumer.
func scoredCounter(t *testing.T, s *Suite) func() int {
	t.Helper()
	nc, err := nats.Connect(s.NATSURL(), nats.UserInfo(s.Tokens.NATSServicesUser, s.Tokens.NATSServicesPassword))
	if err != nil {
		t.Fatalf("services connect: %v", err)
	}
	t.Cleanup(nc.Close)
	var mu sync.Mutex
	n := 0
	if _, err := nc.Subscribe(events.SentimentScored.All(), func(*nats.Msg) { mu.Lock(); n++; mu.Unlock() }); err != nil {
		t.Fatalf("subscribe scored: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func feedbackClient(t *testing.T, s *Suite) feedbackv1.FeedbackServiceClient {
	return feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, s.Feedback.Addr()))
}

func submit(t *testing.T, s *Suite, c feedbackv1.FeedbackServiceClient, seg, ref, text string) *feedbackv1.SubmitFeedbackResponse {
	t.Helper()
	ctx := servicetest.WithToken(context.Background(), s.Tokens.Submitter)
	resp, err := c.SubmitFeedback(ctx, &feedbackv1.SubmitFeedbackRequest{Segment: seg, Text: text, SubmitterRef: ref})
	if err != nil {
		t.Fatalf("SubmitFeedback(%s, %s): %v", seg, ref, err)
	}
	return resp
}

// How long a test waits for the suite, and how often it looks (poll.Until).
const (
	wait = 20 * time.Second
	tick = 20 * time.Millisecond
)

// scoredN is a poll.Until check: n comments have been scored.
func scoredN(scored func() int, n int) func() error {
	return func() error {
		if got := scored(); got != n {
			return fmt.Errorf("%d comments scored, want %d", got, n)
		}
		return nil
	}
}

func TestMinimumGroupCountsPeopleNotComments(t *testing.T) {
	texts := []string{
		"Super équipe, je me sens valorisé",
		"Great onboarding, thanks to everyone",
		"Trop de réunions, on est débordés",
		"The new tools are really good",
		"Pas de souci, ça avance bien",
		"I am exhausted by the on-call rota",
	}
	cases := []struct {
		name string
		refs []string // one comment per entry
		// segments whose aggregate must be published with people == want
		published []string
		want      uint32
	}{
		{"five distinct people", []string{"U1", "U2", "U3", "U4", "U5"},
			[]string{"acme/eng/platform", "acme/eng", "acme"}, 5},
		{"four distinct people", []string{"U1", "U2", "U3", "U4"}, nil, 0},
		{"one person six times", []string{"U1", "U1", "U1", "U1", "U1", "U1"}, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := startSuite(t, dir, 5)
			portal := subscribePortal(t, s, "acme")
			released := subscribeAllUpdates(t, s)
			scored := scoredCounter(t, s)
			c := feedbackClient(t, s)
			for i, ref := range tc.refs {
				submit(t, s, c, "acme/eng/platform", ref, texts[i%len(texts)])
			}
			// Every comment scored means every comment went through the rollups; the updates
			// they caused were committed in the same transactions and follow in order.
			poll.Until(t, wait, tick, scoredN(scored, len(tc.refs)))
			// Whatever the comments were going to release comes before the marker's update:
			// once it is here, nothing more of theirs is on its way.
			marker := releaseMarker(t, s, dir, 5)
			var before []*eventsv1.SentimentUpdated
			poll.Until(t, wait, tick, func() error {
				var ok bool
				if before, ok = released.before(marker); !ok {
					return fmt.Errorf("no update of the marker %s yet", marker)
				}
				return nil
			})
			if len(tc.published) > 0 {
				poll.Until(t, wait, tick, func() error {
					seen := map[string]bool{}
					for _, u := range portal.snapshot() {
						if u.Aggregate.People == tc.want && u.Aggregate.Dimension == 0 {
							seen[u.Aggregate.Segment] = true
						}
					}
					if len(seen) != len(tc.published) {
						return fmt.Errorf("the portal received updates of 5 people for %v, want %s", seen, strings.Join(tc.published, ", "))
					}
					return nil
				})
			}
			acme := segment.MustParse("acme")
			var mine []*eventsv1.SentimentUpdated
			for _, u := range before {
				if segment.MustParse(u.Aggregate.Segment).Within(acme) {
					mine = append(mine, u)
				}
			}
			for who, got := range map[string][]*eventsv1.SentimentUpdated{"the sentiment service published": mine, "the portal received": portal.snapshot()} {
				for _, u := range got {
					a := u.Aggregate
					if a.Hidden || int(a.People) < 5 {
						t.Errorf("%s an aggregate below k: %s people=%d hidden=%v", who, a.Segment, a.People, a.Hidden)
					}
					if len(tc.published) == 0 {
						t.Errorf("%s %s with people=%d; want nothing", who, a.Segment, a.People)
					}
					if a.People == tc.want && a.Count != uint32(len(tc.refs)) {
						t.Errorf("%s %s: count=%d, want %d comments", who, a.Segment, a.Count, len(tc.refs))
					}
				}
			}
		})
	}
}

func TestPortalCannotReadComments(t *testing.T) {
	s := startSuite(t, t.TempDir(), 5)
	errs := make(chan error, 4)
	nc, err := nats.Connect(s.NATSURL(),
		nats.UserInfo(s.Tokens.NATSPortalUser, s.Tokens.NATSPortalPassword),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("portal connect: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(events.Feedback.Subjects)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	nc.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("want a permissions violation, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the server accepted the portal user's subscription to %s", events.Feedback.Subjects)
	}
	// And nothing is delivered to it, even when comments are submitted. Five people comment,
	// so that their aggregate is released to the portal, on the same connection: the server
	// queued any copy of a comment for the portal when the comment was published, before the
	// sentiment service could read it, so it would be there before the aggregate.
	updates := collect(t, nc, events.SentimentUpdated.Filters(segment.MustParse("acme")))
	c := feedbackClient(t, s)
	for i := range 5 {
		submit(t, s, c, "acme/eng", fmt.Sprintf("U%d", i), "Les outils sont lents")
	}
	poll.Until(t, wait, tick, func() error {
		if _, ok := updates.before("acme/eng"); !ok {
			return errors.New("the portal has not received the aggregate of acme/eng")
		}
		return nil
	})
	if n, _, err := sub.Pending(); err != nil || n != 0 {
		t.Fatalf("the portal's subscription to %s holds %d messages (%v), want none", events.Feedback.Subjects, n, err)
	}
}

func TestCrashBetweenCommitAndPublishDeliversOnce(t *testing.T) {
	dir := t.TempDir()
	s := startSuite(t, dir, 2)
	c := feedbackClient(t, s)
	scored := scoredCounter(t, s)
	submit(t, s, c, "acme/eng", "U1", "Great team, I feel valued")
	poll.Until(t, wait, tick, scoredN(scored, 1))

	// NATS dies: the submission is still acknowledged, because it only needs the local commit.
	s.NATS.Shutdown()
	s.NATS.WaitForShutdown()
	submit(t, s, c, "acme/eng", "U2", "Trop de réunions, je suis épuisé")
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	// Everything restarts on the same data: the outbox publishes what NATS never got.
	s2 := startSuite(t, dir, 2)
	agg := waitForCount(t, s2, "acme/eng", 2)
	if agg.People != 2 {
		t.Fatalf("people = %d, want 2", agg.People)
	}

	// A second copy of an event already applied (same event id, as a relay that crashed after
	// publishing but before deleting would send it once the dedup window is over) changes
	// nothing.
	// Two more people (a new value is released only once k people contributed since the last
	// one): four comments, not five.
	redeliverLastFeedbackEvent(t, s2)
	submit(t, s2, feedbackClient(t, s2), "acme/eng", "U3", "Les outils sont super")
	submit(t, s2, feedbackClient(t, s2), "acme/eng", "U4", "Bonne ambiance")
	agg = waitForCount(t, s2, "acme/eng", 4)
	if agg.People != 4 {
		t.Fatalf("after a duplicate and two more comments: people = %d, count = %d; want 4 and 4", agg.People, agg.Count)
	}
}

// waitForCount polls GetSentiment until the segment's weekly aggregate counts want comments,
// failing if it ever counts more.
func waitForCount(t *testing.T, s *Suite, seg string, want uint32) *commonv1.Aggregate {
	t.Helper()
	c := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, s.Sentiment.Addr()))
	ctx := servicetest.WithToken(context.Background(), s.Tokens.HR)
	var last *sentimentv1.GetSentimentResponse
	poll.Until(t, wait, tick, func() error {
		resp, err := c.GetSentiment(ctx, &sentimentv1.GetSentimentRequest{Segment: seg})
		if err != nil {
			t.Fatalf("GetSentiment(%s): %v", seg, err)
		}
		last = resp
		if resp.Aggregate.Count > want {
			t.Fatalf("%s counts %d comments, want %d: an event was counted twice", seg, resp.Aggregate.Count, want)
		}
		if resp.Aggregate.Count != want {
			return fmt.Errorf("%s counts %d comments, want %d", seg, resp.Aggregate.Count, want)
		}
		return nil
	})
	return last.Aggregate
}

// redeliverLastFeedbackEvent stores the newest FeedbackSubmitted again under a fresh
// Nats-Msg-Id, keeping its CloudEvents id: JetStream takes it, and the consumer must see that
// it already applied this event.
func redeliverLastFeedbackEvent(t *testing.T, s *Suite) {
	t.Helper()
	nc, err := nats.Connect(s.NATSURL(), nats.UserInfo(s.Tokens.NATSServicesUser, s.Tokens.NATSServicesPassword))
	if err != nil {
		t.Fatalf("services connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	ctx := context.Background()
	stream, err := js.Stream(ctx, events.Feedback.Name)
	if err != nil {
		t.Fatalf("stream %s: %v", events.Feedback.Name, err)
	}
	last, err := stream.GetLastMsgForSubject(ctx, events.FeedbackSubmitted.All())
	if err != nil {
		t.Fatalf("last feedback event: %v", err)
	}
	copyMsg := nats.NewMsg(last.Subject)
	copyMsg.Data = last.Data
	for k, v := range last.Header {
		copyMsg.Header[k] = v
	}
	copyMsg.Header.Set("Nats-Msg-Id", last.Header.Get("Nats-Msg-Id")+"/again")
	ack, err := js.PublishMsg(ctx, copyMsg)
	if err != nil {
		t.Fatalf("republish: %v", err)
	}
	if ack.Duplicate {
		t.Fatal("JetStream dropped the copy as a duplicate; the test would prove nothing")
	}
}

// TestSubmitterRefIsStoredNowhere runs a comment, a survey answer and a slash command by one
// person through the whole suite, then reads every byte under the data dir: the person's id must not be there in
// any encoding.
func TestSubmitterRefIsStoredNowhere(t *testing.T) {
	const ref = "U0SECRETREF42"
	dir := t.TempDir()
	s := startSuite(t, dir, 5)
	scored := scoredCounter(t, s)
	resp := submit(t, s, feedbackClient(t, s), "acme/eng/platform", ref, "Je me sens valorisé dans cette équipe")

	pc := pulsev1.NewPulseServiceClient(servicetest.Dial(t, s.Pulse.Addr()))
	hr := servicetest.WithToken(context.Background(), s.Tokens.HR)
	created, err := pc.CreateSurvey(hr, &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{
		Title:           &commonv1.LocalizedText{Translations: map[string]string{"en": "Weekly pulse"}},
		Audience:        "acme",
		Cadence:         pulsev1.Cadence_CADENCE_ONCE,
		Schedule:        &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Now().Add(-time.Minute))},
		DefaultLanguage: "en",
		Questions: []*pulsev1.Question{
			{Id: "mood", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD,
				Text: &commonv1.LocalizedText{Translations: map[string]string{"en": "My workload is manageable"}}},
			{Id: "say", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT, Dimension: commonv1.Dimension_DIMENSION_CONNECTIONS,
				Text: &commonv1.LocalizedText{Translations: map[string]string{"en": "Anything to add?"}}},
		},
	}})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	sub := servicetest.WithToken(context.Background(), s.Tokens.Submitter)
	if _, err := pc.SubmitResponse(sub, &pulsev1.SubmitResponseRequest{
		SurveyId: created.Survey.Id, Segment: "acme/eng/platform", SubmitterRef: ref, IdempotencyKey: "k-" + ref,
		Answers: []*pulsev1.Answer{
			{QuestionId: "mood", Value: &pulsev1.Answer_Scale{Scale: 2}},
			{QuestionId: "say", Value: &pulsev1.Answer_Text{Text: "My manager listens, thanks"}},
		},
	}); err != nil {
		t.Fatalf("SubmitResponse: %v", err)
	}
	// And through the gateway, as the chat user ref: the directory keeps only a keyed hash.
	registerTeam(t, s, "acme/eng/platform", 12)
	for _, text := range []string{"team acme/eng/platform", "Le wifi du 3e étage coupe souvent"} {
		if code, answer := slashCommand(t, s, s.Tokens.SlackSigningSecret, ref, text); code != http.StatusOK {
			t.Fatalf("/feedback %s: HTTP %d %q", text, code, answer)
		}
	}
	poll.Until(t, wait, tick, scoredN(scored, 2))
	// The response has been through the sentiment consumer once the HR view counts it.
	waitAcked(t, s, events.Pulse.Name, events.DurableSentimentPulse, 1)
	if resp.FollowUpToken == "" {
		t.Fatal("no follow-up token returned")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	needles := map[string][]byte{
		"raw":        []byte(ref),
		"lower-case": []byte(strings.ToLower(ref)),
		"hex":        []byte(hex.EncodeToString([]byte(ref))),
		"HEX":        []byte(strings.ToUpper(hex.EncodeToString([]byte(ref)))),
		"base64":     []byte(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(ref)), "=")),
		"base64url":  []byte(strings.TrimRight(base64.URLEncoding.EncodeToString([]byte(ref)), "=")),
		"utf-16":     utf16le(ref),
	}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for enc, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds the submitter ref (%s)", path, enc)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	if files < 5 {
		t.Fatalf("scanned only %d files: the data dir is not where the suite wrote", files)
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), 0)
	}
	return b
}

// waitAcked waits until the durable consumer has acknowledged n messages: each was applied and
// committed before its ack.
func waitAcked(t *testing.T, s *Suite, stream, durable string, n uint64) {
	t.Helper()
	nc, err := nats.Connect(s.NATSURL(), nats.UserInfo(s.Tokens.NATSServicesUser, s.Tokens.NATSServicesPassword))
	if err != nil {
		t.Fatalf("services connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	poll.Until(t, wait, tick, func() error {
		c, err := js.Consumer(context.Background(), stream, durable)
		if err != nil {
			return fmt.Errorf("consumer %s/%s: %w", stream, durable, err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return fmt.Errorf("consumer %s/%s: %w", stream, durable, err)
		}
		if info.AckFloor.Consumer < n {
			return fmt.Errorf("%s/%s acknowledged %d messages, want %d", stream, durable, info.AckFloor.Consumer, n)
		}
		return nil
	})
}
