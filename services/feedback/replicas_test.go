package feedback_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// replica is one of several feedback services sharing an Env's NATS, secret and tokens, each
// with its own store.
type replica struct {
	svc    *feedback.Service
	client feedbackv1.FeedbackServiceClient
	dir    string // its data dir
}

func startReplica(t *testing.T, f *fixture, name string, claimTTL time.Duration, opts ...func(*feedback.Config)) *replica {
	t.Helper()
	cfg := feedback.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), NATS: f.env.NATSConfig(), Now: f.clock.Now,
		TokensFile:       host.DefaultTokensFile(f.env.DataDir),
		Secret:           anonymity.SecretSource{File: host.DefaultSecretFile(f.env.DataDir)},
		DeadlineInterval: time.Hour,
		Replica:          feedback.ReplicaConfig{Name: name, ClaimTTL: claimTTL},
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := feedback.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start replica %s: %v", name, err)
	}
	t.Cleanup(func() { svc.Close() })
	return &replica{svc: svc, client: feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, svc.Addr())), dir: cfg.DataDir}
}

// twoReplicas starts an Env (NATS, secret, tokens) and two replicas on it.
func twoReplicas(t *testing.T, claimTTL time.Duration, opts ...func(*feedback.Config)) (*fixture, *replica, *replica) {
	f := &fixture{env: servicetest.New(t), clock: &clock{now: t0}}
	return f, startReplica(t, f, "r1", claimTTL, opts...), startReplica(t, f, "r2", claimTTL, opts...)
}

// view is a fixture on replica r: the fixture's helpers then call r.
func (r *replica) view(f *fixture) *fixture {
	return &fixture{env: f.env, clock: f.clock, svc: r.svc, client: r.client, versions: f.versions}
}

func TestIdempotencyKeyHoldsAcrossReplicas(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	ctx := f.as(auth.RoleSubmitter)
	req := &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "The VPN drops every hour", SubmitterRef: "U1", IdempotencyKey: "slack-1"}
	first, err := r1.client.SubmitFeedback(ctx, req)
	if err != nil {
		t.Fatalf("r1: %v", err)
	}
	again, err := r2.client.SubmitFeedback(ctx, req)
	if err != nil {
		t.Fatalf("retry on r2: %v", err)
	}
	if again.FeedbackId != first.FeedbackId || again.FollowUpToken != first.FollowUpToken {
		t.Fatalf("retry on r2 = %v, want r1's receipt %v", again, first)
	}

	// Retries of one request racing on both replicas: one comment, every answer its id.
	race := &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "Builds are slow", SubmitterRef: "U2", IdempotencyKey: "slack-2"}
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			c := []*replica{r1, r2}[i%2].client
			for {
				resp, err := c.SubmitFeedback(ctx, race)
				if status.Code(err) == codes.Unavailable { // the other replica is storing it
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if err != nil {
					t.Errorf("racing retry %d: %v", i, err)
					return
				}
				ids[i] = resp.FeedbackId
				return
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("racing retries returned ids %v, want one", ids)
		}
	}
	// Another person with the same key is another comment.
	other, err := r2.client.SubmitFeedback(ctx, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "x y z", SubmitterRef: "U3", IdempotencyKey: "slack-1"})
	if err != nil || other.FeedbackId == first.FeedbackId {
		t.Fatalf("another person's request with the same key = %v, %v; want a new comment", other, err)
	}
	want := map[string]bool{first.FeedbackId: true, ids[0]: true, other.FeedbackId: true}
	poll.Until(t, 10*time.Second, 20*time.Millisecond, func() error {
		got := publishedIDs(t, f, events.FeedbackSubmitted.All())
		if len(got) < len(want) {
			return fmt.Errorf("%d FeedbackSubmitted events, want %d", len(got), len(want))
		}
		return nil
	})
	if got := publishedIDs(t, f, events.FeedbackSubmitted.All()); len(got) != len(want) {
		t.Fatalf("%d FeedbackSubmitted events (%v), want %d: one per comment", len(got), got, len(want))
	}
}

func TestReplicaDeadBetweenClaimAndCommitFreesTheKeyAfterItsClaim(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 2*time.Second)
	ctx := f.as(auth.RoleSubmitter)
	req := &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "The VPN drops every hour", SubmitterRef: "U1", IdempotencyKey: "slack-1"}
	dead := errors.New("replica r1 died")
	r1.svc.AfterClaim(func() error { return dead })
	if _, err := r1.client.SubmitFeedback(ctx, req); err == nil {
		t.Fatal("r1 stored a comment after it died")
	}
	r1.svc.Close()
	// While r1's claim lives, r2 says to retry, not that the comment exists.
	_, err := r2.client.SubmitFeedback(ctx, req)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "r1") {
		t.Fatalf("r2 during r1's claim: %v; want Unavailable naming r1", err)
	}
	var resp *feedbackv1.SubmitFeedbackResponse
	poll.Until(t, 15*time.Second, 100*time.Millisecond, func() error {
		resp, err = r2.client.SubmitFeedback(ctx, req)
		return err
	})
	again, err := r2.client.SubmitFeedback(ctx, req)
	if err != nil || again.FeedbackId != resp.FeedbackId {
		t.Fatalf("retry on r2 = %v, %v; want %s", again, err, resp.FeedbackId)
	}
	waitPublished(t, f, 1)
	if got := publishedIDs(t, f, events.FeedbackSubmitted.All()); len(got) != 1 || got[0] != events.SubmittedID(resp.FeedbackId) {
		t.Fatalf("published %v, want only r2's comment %s", got, resp.FeedbackId)
	}
}

func TestReplicasWithoutNATSRefuseKeyedSubmissions(t *testing.T) {
	f, r1, _ := twoReplicas(t, 0)
	ctx := f.as(auth.RoleSubmitter)
	natstest.Stop(f.env.NATS)
	_, err := r1.client.SubmitFeedback(ctx, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "The VPN drops", SubmitterRef: "U1", IdempotencyKey: "k1"})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), feedback.MarksBucket) {
		t.Fatalf("keyed submission with NATS down: %v; want Unavailable naming %s", err, feedback.MarksBucket)
	}
	// Without a key there is nothing to check across replicas: the outbox holds the event.
	if _, err := r1.client.SubmitFeedback(ctx, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "The VPN drops", SubmitterRef: "U1"}); err != nil {
		t.Fatalf("submission without a key with NATS down: %v", err)
	}
}

func TestReplicaStuckPastItsClaimStoresNothing(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 2*time.Second)
	ctx := f.as(auth.RoleSubmitter)
	req := &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "The VPN drops every hour", SubmitterRef: "U1", IdempotencyKey: "slack-1"}
	// r1 takes the claim, then stalls until r2 has stored the same request after r1's claim
	// expired.
	stalled, wake := make(chan struct{}), make(chan struct{})
	r1.svc.AfterClaim(func() error {
		close(stalled)
		<-wake
		return nil
	})
	errc := make(chan error, 1)
	go func() {
		_, err := r1.client.SubmitFeedback(ctx, req)
		errc <- err
	}()
	<-stalled
	var stored *feedbackv1.SubmitFeedbackResponse
	poll.Until(t, 15*time.Second, 100*time.Millisecond, func() (err error) {
		stored, err = r2.client.SubmitFeedback(ctx, req)
		return err
	})
	close(wake)
	if err := <-errc; status.Code(err) != codes.Unavailable {
		t.Fatalf("r1 after its claim expired: %v; want Unavailable, nothing stored", err)
	}
	waitPublished(t, f, 1)
	if got := publishedIDs(t, f, events.FeedbackSubmitted.All()); len(got) != 1 || got[0] != events.SubmittedID(stored.FeedbackId) {
		t.Fatalf("published %v, want only r2's comment %s", got, stored.FeedbackId)
	}
}

// TestEveryReplicaAppliesTheScoresOfTheCommentsItHolds: with two replicas, the score of a
// comment reaches the replica holding it wherever it was submitted (each replica has its own
// feedback-scored durable and skips the scores of comments it does not hold), every replica
// gets the segment registry, and the owner is told of each routed comment once (the notify
// durable is shared by the replicas).
func TestEveryReplicaAppliesTheScoresOfTheCommentsItHolds(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0, func(c *feedback.Config) { c.Notify = fastNotify })
	f.versions = map[string]uint64{}
	f1, f2 := r1.view(f), r2.view(f)
	for _, h := range []struct {
		path string
		n    uint32
	}{{"acme", 100}, {"acme/eng", 20}} {
		f1.headcount(t, h.path, h.n) // published once, shown by r1
		poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
			if got, err := f2.listedHeadcount(h.path); err != nil || got != h.n {
				return fmt.Errorf("r2 lists %s with %d people (%v), want %d", h.path, got, err, h.n)
			}
			return nil
		})
	}
	// Rules and targets are shared by the replicas (sharedconfig.go): hr sets them on r1.
	owner := newReceiver(t, always(0))
	rule := f1.rule(t, "acme/eng", 0, "eng-leads")
	tg := f1.target(t, "eng-leads", "acme/eng", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, owner.srv.URL)
	configApplied(t, r2, max(configRevision(t, f, "rule."+rule.Id), configRevision(t, f, "target."+tg.Target.Id)))

	// Most comments on r2: a score must reach r2 whichever replica asks for it first.
	holder := map[string]*fixture{}
	var ids []string
	for i, v := range []*fixture{f2, f1, f2, f2, f1, f2} {
		c := v.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "the on-call rota", SubmitterRef: fmt.Sprintf("U%d", i)})
		holder[c.FeedbackId] = v
		ids = append(ids, c.FeedbackId)
	}
	for _, id := range ids {
		publishScored(t, f, scoredWith(id, "acme/eng"))
	}
	for id, v := range holder {
		if c := waitScored(t, v, id); c.OwnerGroup != "eng-leads" {
			t.Errorf("comment %s: owner %q, want eng-leads", id, c.OwnerGroup)
		}
	}

	owner.waitDelivered(t, len(holder))
	notifyApplied(t, f)
	for _, r := range []*replica{r1, r2} {
		if n := pendingIn(t, r); n != 0 {
			t.Fatalf("%d deliveries still pending in %s", n, r.dir)
		}
	}
	told := map[string]int{}
	for _, q := range owner.all() {
		var body struct {
			LinkID string `json:"link_id"`
		}
		if err := json.Unmarshal(q.body, &body); err != nil {
			t.Fatalf("body %s: %v", q.body, err)
		}
		told[body.LinkID]++
	}
	for id := range holder {
		if told[id] != 1 {
			t.Errorf("owner told of %s %d times, want once (all: %v)", id, told[id], told)
		}
	}
	if len(told) != len(holder) {
		t.Errorf("owner told of %v, want the %d comments", told, len(holder))
	}
}

func TestReplicaNameMustFitADurableName(t *testing.T) {
	f := &fixture{env: servicetest.New(t), clock: &clock{now: t0}}
	_, err := feedback.Start(context.Background(), feedback.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), NATS: f.env.NATSConfig(), Now: f.clock.Now,
		TokensFile: host.DefaultTokensFile(f.env.DataDir),
		Secret:     anonymity.SecretSource{File: host.DefaultSecretFile(f.env.DataDir)},
		Replica:    feedback.ReplicaConfig{Name: "node1.example"},
	})
	if err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("replica name with a dot: %v; want an error naming the replica", err)
	}
}

// pendingIn closes replica r and returns how many deliveries its store still holds.
func pendingIn(t *testing.T, r *replica) int {
	t.Helper()
	r.svc.Close()
	db, err := bolt.Open(filepath.Join(r.dir, "feedback", "feedback.db"), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var keys [][]byte
	if err := db.View(func(tx *bolt.Tx) error {
		keys, err = store.PendingDeliveries(tx, 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// TestSurveyCommentBecomesOneCommentAcrossReplicas: the feedback-survey-comments durable is
// shared, so a survey comment is made into a comment by one replica, not one per replica.
func TestSurveyCommentBecomesOneCommentAcrossReplicas(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	ev, token := surveyComment("acme/eng", "The on-call rota leaves no time to rest", commonv1.Dimension_DIMENSION_WORKLOAD, t0.Add(-24*time.Hour))
	f.publish(t, events.PulseSurveyComment, events.SurveyCommentID(ev.CommentId), segment.MustParse(ev.Segment), ev)
	surveyApplied(t, f, 1)
	// Either replica opens the thread (forward.go); one store holds it.
	th, err := r2.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: token})
	if err != nil {
		t.Fatalf("GetThread: %v", err)
	}
	held := 0
	for _, r := range []*replica{r1, r2} {
		if storeHolds(t, r, th.Feedback.Id) {
			held++
		}
	}
	if held != 1 {
		t.Fatalf("%d replicas hold the survey comment, want 1", held)
	}
}

// TestStoreTurnedIntoAReplicaAppliesNoScoreAgain: a service that ran alone restarts as replica
// r1; its per-replica feedback-scored durable replays the scores from the start, and those
// the store applied alone are not applied again (else an old comment would be routed again by
// the rules of today).
func TestStoreTurnedIntoAReplicaAppliesNoScoreAgain(t *testing.T) {
	f := start(t)
	f.rule(t, "acme/eng", 0, "eng-leads")
	old := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "the on-call rota", SubmitterRef: "U1"}).FeedbackId
	publishScored(t, f, scoredWith(old, "acme/eng"))
	if c := waitScored(t, f, old); c.OwnerGroup != "eng-leads" {
		t.Fatalf("owner %q, want eng-leads", c.OwnerGroup)
	}
	f.rule(t, "acme/eng", 0, "managers") // the rule changes after the comment was routed
	f.svc.Close()

	svc, err := feedback.Start(context.Background(), feedback.Config{
		Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig(), Now: f.clock.Now,
		DeadlineInterval: time.Hour, Replica: feedback.ReplicaConfig{Name: "r1"},
	})
	if err != nil {
		t.Fatalf("restart as r1: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	f.svc, f.client = svc, feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, svc.Addr()))
	// A new comment's score comes after the old one in the stream: once it is applied, the
	// replay has passed the old score.
	recent := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "the build is slow", SubmitterRef: "U2"}).FeedbackId
	publishScored(t, f, scoredWith(recent, "acme/eng"))
	if c := waitScored(t, f, recent); c.OwnerGroup != "managers" {
		t.Fatalf("new comment: owner %q, want managers", c.OwnerGroup)
	}
	r, err := f.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: old})
	if err != nil {
		t.Fatal(err)
	}
	if r.Feedback.OwnerGroup != "eng-leads" {
		t.Fatalf("old comment: owner %q after the replay, want eng-leads (routed once)", r.Feedback.OwnerGroup)
	}
	// The relay publishes in the order of the outbox: a second routing of the old comment
	// would be published before the new comment's, so wait for two events, then want exactly
	// two, one per comment.
	var ids []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ids = publishedIDs(t, f, events.FeedbackRouted.All()); len(ids) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("routed events %v, want one per comment", ids)
	}
}
