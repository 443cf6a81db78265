package feedback_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// fastNotify retries quickly: the tests wait for outcomes, never for time to pass. The
// receivers are local: the operator's allow-list lets notifications reach loopback.
var fastNotify = feedback.NotifyConfig{Attempts: 4, RetryDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond, Allow: []string{"127.0.0.1"}}

// startNotifying starts a feedback service with notify settings n, and the headcounts that
// show comments under acme/eng and acme/sales.
func startNotifying(t testing.TB, n feedback.NotifyConfig) *fixture {
	t.Helper()
	f := &fixture{env: servicetest.New(t), clock: &clock{now: t0}}
	f.restartNotifying(t, n)
	f.headcount(t, "acme", 100)
	f.headcount(t, "acme/eng", 20)
	f.headcount(t, "acme/sales", 30)
	return f
}

// restartNotifying starts the service (again) on the fixture's data dir with notify settings n.
func (f *fixture) restartNotifying(t testing.TB, n feedback.NotifyConfig) {
	t.Helper()
	svc, err := feedback.Start(context.Background(), feedback.Config{
		Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig(), Now: f.clock.Now,
		DeadlineInterval: time.Hour, Notify: n,
	})
	if err != nil {
		t.Fatalf("start feedback: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	f.svc = svc
	f.client = feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, svc.Addr()))
}

// receiver is a real local HTTP endpoint that records every request it gets and answers with
// the status fail gives for the request's number (0, 1, …): 0 means 200.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []received
	fail func(i int) int
}

type received struct {
	body   []byte
	header http.Header
	status int
}

func newReceiver(t testing.TB, fail func(i int) int) *receiver {
	r := &receiver{fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		st := r.fail(len(r.reqs))
		if st == 0 {
			st = http.StatusOK
		}
		r.reqs = append(r.reqs, received{body: body, header: req.Header.Clone(), status: st})
		r.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// delivered are the requests it answered with 200.
func (r *receiver) delivered() []received {
	var out []received
	for _, q := range r.all() {
		if q.status == http.StatusOK {
			out = append(out, q)
		}
	}
	return out
}

// waitDelivered waits until r answered n requests with 200.
func (r *receiver) waitDelivered(t testing.TB, n int) []received {
	t.Helper()
	var got []received
	poll.Until(t, 20*time.Second, 5*time.Millisecond, func() error {
		if got = r.delivered(); len(got) < n {
			return fmt.Errorf("%d notifications delivered (%d requests), want %d", len(got), len(r.all()), n)
		}
		return nil
	})
	return got
}

func always(status int) func(int) int { return func(int) int { return status } }

func (f *fixture) target(t testing.TB, owner, prefix string, kind feedbackv1.NotificationTargetKind, url string) *feedbackv1.SetNotificationTargetResponse {
	t.Helper()
	resp, err := f.client.SetNotificationTarget(f.as(auth.RoleHR), &feedbackv1.SetNotificationTargetRequest{
		Target: &feedbackv1.NotificationTarget{OwnerGroup: owner, SegmentPrefix: prefix, Kind: kind, Url: url},
	})
	if err != nil {
		t.Fatalf("SetNotificationTarget(%s, %s): %v", owner, prefix, err)
	}
	return resp
}

// notifyApplied waits until the feedback-notify consumer has applied everything published so
// far: nothing pending and nothing unacknowledged (it acks after the commit).
func notifyApplied(t testing.TB, f *fixture) {
	t.Helper()
	f.consumerApplied(t, events.Feedback.Name, events.DurableFeedbackNotify, 10*time.Second)
}

// pendingAfterClose closes the service and returns how many deliveries its store still holds.
func pendingAfterClose(t testing.TB, f *fixture) int {
	t.Helper()
	f.svc.Close()
	db := openClosedStore(t, f)
	defer db.Close()
	var keys [][]byte
	if err := db.View(func(tx *bolt.Tx) error {
		var err error
		keys, err = store.PendingDeliveries(tx, 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// TestRoutedCommentReachesTheOwnersWebhookOnce: a routed comment is posted once to its owner
// group's webhook, signed, with what the owner needs and nothing about its author; not to
// other groups or other subtrees; and a copy of the event delivered again posts nothing more.
func TestRoutedCommentReachesTheOwnersWebhookOnce(t *testing.T) {
	f := startNotifying(t, fastNotify)
	owner := newReceiver(t, always(0))
	other := newReceiver(t, always(0))
	webhook := feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK
	tg := f.target(t, "eng-leads", "acme/eng", webhook, owner.srv.URL+"/hook")
	if len(tg.Secret) != 64 {
		t.Fatalf("webhook secret %q, want 32 bytes in hex", tg.Secret)
	}
	f.target(t, "it-support", "acme", webhook, other.srv.URL)
	f.target(t, "eng-leads", "acme/sales", webhook, other.srv.URL)
	f.rule(t, "acme/eng", 0, "eng-leads")

	const text = "the on-call rota is unbearable"
	c := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: text, SubmitterRef: secretRef})
	publishScored(t, f, scoredWith(c.FeedbackId, "acme/eng"))
	got := owner.waitDelivered(t, 1)[0]

	if sig := got.header.Get(feedback.SignatureHeader); !hmac.Equal([]byte(sig), []byte(feedback.Sign([]byte(tg.Secret), got.body))) {
		t.Errorf("%s = %q does not verify with the target's secret", feedback.SignatureHeader, sig)
	}
	var body map[string]any
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("body %s: %v", got.body, err)
	}
	want := map[string]any{"kind": "routed", "link_id": c.FeedbackId, "segment": "acme/eng", "owner_group": "eng-leads",
		"label": "NEGATIVE", "day": "2026-03-10"}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%s] = %v, want %v (body %s)", k, body[k], v, got.body)
		}
	}
	if dims := fmt.Sprint(body["dimensions"]); dims != "[WORKLOAD]" {
		t.Errorf("dimensions = %s, want [WORKLOAD]", dims)
	}
	for _, secret := range []string{text, "on-call", c.FollowUpToken, secretRef} {
		if strings.Contains(string(got.body), secret) || strings.Contains(fmt.Sprint(got.header), secret) {
			t.Errorf("notification holds %q: %s", secret, got.body)
		}
	}
	if _, found := findRef(got.body); found {
		t.Errorf("notification holds the submitter ref in some encoding: %s", got.body)
	}

	// The same event again, as an outbox republishes it after the duplicate window: the
	// stream stores a second copy (another Nats-Msg-Id), the consumer recognises its ce-id.
	msg := nextEvent(t, f, events.FeedbackRouted.All())
	if id := msg.Headers().Get("Nats-Msg-Id"); id != events.RoutedID(c.FeedbackId, "eng-leads") {
		t.Fatalf("routed event id %q", id)
	}
	nc, err := nats.Connect(f.env.NATS.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	copyMsg := nats.NewMsg(msg.Subject())
	for k, v := range msg.Headers() {
		copyMsg.Header[k] = v
	}
	copyMsg.Header.Set("Nats-Msg-Id", "republished-"+msg.Headers().Get("Nats-Msg-Id"))
	copyMsg.Data = msg.Data()
	if _, err := js.PublishMsg(copyMsg); err != nil {
		t.Fatal(err)
	}
	if ids := publishedIDs(t, f, events.FeedbackRouted.All()); len(ids) != 2 {
		t.Fatalf("stream holds %v, want the event and its copy", ids)
	}
	notifyApplied(t, f)
	if n := pendingAfterClose(t, f); n != 0 || len(owner.all()) != 1 || len(other.all()) != 0 {
		t.Errorf("after the copy: %d pending, owner got %d requests, others %d; want 0, 1, 0", n, len(owner.all()), len(other.all()))
	}
}

// TestFailingWebhookIsRetriedAndGetsItOnce: a receiver failing 3 times then succeeding gets
// the notification once, with the same delivery id on every attempt.
func TestFailingWebhookIsRetriedAndGetsItOnce(t *testing.T) {
	f := startNotifying(t, fastNotify)
	rec := newReceiver(t, func(i int) int {
		if i < 3 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	f.target(t, "eng-leads", "acme", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, rec.srv.URL)
	plan := f.createPlan(t, f.as(auth.RoleHR), newPlan("acme/eng", "Rota review", "eng-leads", dimWorkload))
	got := rec.waitDelivered(t, 1)
	all := rec.all()
	if len(all) != 4 {
		t.Fatalf("%d requests, want 3 failures and 1 success", len(all))
	}
	id := all[0].header.Get(feedback.DeliveryHeader)
	for i, q := range all {
		if q.header.Get(feedback.DeliveryHeader) != id {
			t.Errorf("attempt %d has delivery id %q, want %q", i, q.header.Get(feedback.DeliveryHeader), id)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(got[0].body, &body); err != nil || body["kind"] != "action_created" || body["link_id"] != plan.Id || body["title"] != "Rota review" {
		t.Errorf("body %s (%v); want action_created of %s", got[0].body, err, plan.Id)
	}
	dl, err := f.client.ListDeadLetters(f.as(auth.RoleHR), &feedbackv1.ListDeadLettersRequest{SegmentPrefix: "acme"})
	if err != nil || len(dl.DeadLetters) != 0 {
		t.Errorf("dead letters = %v, %v; want none", dl.GetDeadLetters(), err)
	}
	notifyApplied(t, f)
	if n := pendingAfterClose(t, f); n != 0 || len(rec.delivered()) != 1 {
		t.Errorf("%d pending, %d delivered; want 0, 1", n, len(rec.delivered()))
	}
}

// TestAlwaysFailingWebhookEndsInTheDeadLetters: after the last attempt the delivery is a dead
// letter, listed to hr and admin within their prefix, and tried no more.
func TestAlwaysFailingWebhookEndsInTheDeadLetters(t *testing.T) {
	f := startNotifying(t, fastNotify)
	rec := newReceiver(t, always(http.StatusInternalServerError))
	tg := f.target(t, "eng-leads", "acme/eng", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, rec.srv.URL)
	plan := f.createPlan(t, f.as(auth.RoleHR), newPlan("acme/eng", "Rota review", "eng-leads", dimWorkload))
	var dl []*feedbackv1.DeadLetter
	poll.Until(t, 20*time.Second, 5*time.Millisecond, func() error {
		r, err := f.client.ListDeadLetters(f.as(auth.RoleHR), &feedbackv1.ListDeadLettersRequest{SegmentPrefix: "acme"})
		if err != nil {
			return err
		}
		if dl = r.DeadLetters; len(dl) == 0 {
			return fmt.Errorf("no dead letter yet (%d requests)", len(rec.all()))
		}
		return nil
	})
	d := dl[0]
	if len(dl) != 1 || d.TargetId != tg.Target.Id || d.Kind != "action_created" || d.LinkId != plan.Id || d.Segment != "acme/eng" ||
		d.Attempts != 4 || d.LastError != "HTTP 500" || !d.DeadDay.AsTime().Equal(today(t0)) ||
		d.Id != events.ActionCreatedID(plan.Id)+"|"+tg.Target.Id {
		t.Errorf("dead letters = %v", dl)
	}
	if n := len(rec.all()); n != 4 {
		t.Errorf("receiver got %d requests, want the 4 attempts", n)
	}
	admin, err := f.client.ListDeadLetters(f.as(auth.RoleAdmin), &feedbackv1.ListDeadLettersRequest{SegmentPrefix: "acme/eng"})
	if err != nil || len(admin.DeadLetters) != 1 {
		t.Errorf("admin ListDeadLetters(acme/eng) = %v, %v; want the dead letter", admin.GetDeadLetters(), err)
	}
	for _, prefix := range []string{"acme/sales"} {
		r, err := f.client.ListDeadLetters(f.as(auth.RoleHR), &feedbackv1.ListDeadLettersRequest{SegmentPrefix: prefix})
		if err != nil || len(r.DeadLetters) != 0 {
			t.Errorf("ListDeadLetters(%s) = %v, %v; want none", prefix, r.GetDeadLetters(), err)
		}
	}
	_, err = f.client.ListDeadLetters(servicetest.WithToken(context.Background(), f.env.OtherHR), &feedbackv1.ListDeadLettersRequest{SegmentPrefix: "acme"})
	wantCode(t, err, codes.PermissionDenied, "segment_prefix")
	_, err = f.client.ListDeadLetters(f.as(auth.RoleManager), &feedbackv1.ListDeadLettersRequest{SegmentPrefix: "acme"})
	wantCode(t, err, codes.PermissionDenied, "")
	if n := pendingAfterClose(t, f); n != 0 || len(rec.all()) != 4 {
		t.Errorf("%d pending, %d requests after the dead letter; want 0, 4", n, len(rec.all()))
	}
}

// TestSlackTargetIsToldOfEveryKind: a Slack incoming webhook gets a {"text"} line for a
// risk-flagged comment (routed to hr), for the same comment overdue, and for a plan created
// and then due; no comment text, no signature.
func TestSlackTargetIsToldOfEveryKind(t *testing.T) {
	f := startNotifying(t, fastNotify)
	rec := newReceiver(t, always(0))
	f.target(t, "hr", "acme", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_SLACK_WEBHOOK, rec.srv.URL)
	const text = "my manager shouts at me every day"
	c := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/sales", Text: text, SubmitterRef: "R"})
	publishScored(t, f, scoredWith(c.FeedbackId, "acme/sales", riskHarassment))
	rec.waitDelivered(t, 1)
	f.clock.Add(8 * 24 * time.Hour)
	if n := f.checkDeadlines(t); n != 1 {
		t.Fatalf("%d overdue, want the comment's acknowledge deadline", n)
	}
	rec.waitDelivered(t, 2)
	plan := newPlan("acme/sales", "Manager training", "hr", 0)
	plan.DueTime = nil
	p := f.createPlanDue(t, plan, f.clock.Now())
	rec.waitDelivered(t, 3)
	f.clock.Add(2 * 24 * time.Hour)
	if n, err := f.svc.CheckPlanDeadlines(); err != nil || n != 1 {
		t.Fatalf("CheckPlanDeadlines = %d, %v; want 1", n, err)
	}
	got := rec.waitDelivered(t, 4)
	var lines []string
	for _, q := range got {
		var m map[string]string
		if err := json.Unmarshal(q.body, &m); err != nil || len(m) != 1 || m["text"] == "" {
			t.Fatalf("slack body %s (%v), want {\"text\": …}", q.body, err)
		}
		if q.header.Get(feedback.SignatureHeader) != "" {
			t.Errorf("a Slack post carries %s", feedback.SignatureHeader)
		}
		if strings.Contains(m["text"], "shouts") {
			t.Errorf("slack text holds the comment: %q", m["text"])
		}
		lines = append(lines, m["text"])
	}
	slices.Sort(lines)
	joined := strings.Join(lines, "\n")
	for _, want := range []string{
		"New comment for hr in acme/sales", "Risk flags: HARASSMENT", "Open " + c.FeedbackId,
		"Comment overdue (acknowledge) for hr in acme/sales, still NEW",
		`New action plan for hr in acme/sales: "Manager training"`, `Action plan due for hr in acme/sales: "Manager training", still PLANNED`,
		"Open " + p.Id,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("slack lines lack %q:\n%s", want, joined)
		}
	}
}

func (f *fixture) createPlanDue(t testing.TB, p *feedbackv1.ActionPlan, due time.Time) *feedbackv1.ActionPlan {
	t.Helper()
	p.DueTime = timestamppb.New(due)
	return f.createPlan(t, f.as(auth.RoleHR), p)
}

// TestNotificationTargetsRPCs: roles, prefixes, replacement keeping the secret, paging, and
// one case per validation rule.
func TestNotificationTargetsRPCs(t *testing.T) {
	f := start(t)
	hr, admin := f.as(auth.RoleHR), f.as(auth.RoleAdmin)
	webhook := feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK
	slack := feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_SLACK_WEBHOOK
	a := f.target(t, "eng-leads", "acme/eng", webhook, "https://hooks.example/a")
	b := f.target(t, "hr", "acme", slack, "https://hooks.slack.example/T/B/X")
	if b.Secret != "" {
		t.Errorf("a Slack target got a secret")
	}
	// Replacing keeps the secret and shows it no more.
	r, err := f.client.SetNotificationTarget(admin, &feedbackv1.SetNotificationTargetRequest{Target: &feedbackv1.NotificationTarget{
		Id: a.Target.Id, OwnerGroup: "eng-leads", SegmentPrefix: "acme/eng", Kind: webhook, Url: "https://hooks.example/a2"}})
	if err != nil || r.Secret != "" || r.Target.Url != "https://hooks.example/a2" || r.Target.Id != a.Target.Id {
		t.Errorf("replace = %v, %v; want the new URL, same id, no secret shown", r, err)
	}
	other := servicetest.WithToken(context.Background(), f.env.OtherHR)
	_, err = f.client.SetNotificationTarget(other, &feedbackv1.SetNotificationTargetRequest{Target: &feedbackv1.NotificationTarget{
		Id: a.Target.Id, OwnerGroup: "x", SegmentPrefix: "globex", Kind: slack, Url: "https://evil.example"}})
	wantCode(t, err, codes.NotFound, "target.id")
	_, err = f.client.DeleteNotificationTarget(other, &feedbackv1.DeleteNotificationTargetRequest{Id: a.Target.Id})
	wantCode(t, err, codes.NotFound, "id")
	_, err = f.client.SetNotificationTarget(other, &feedbackv1.SetNotificationTargetRequest{Target: &feedbackv1.NotificationTarget{
		OwnerGroup: "x", SegmentPrefix: "acme", Kind: slack, Url: "https://evil.example"}})
	wantCode(t, err, codes.PermissionDenied, "target.segment_prefix")
	for _, role := range []auth.Role{auth.RoleManager, auth.RoleSubmitter} {
		_, err := f.client.ListNotificationTargets(f.as(role), &feedbackv1.ListNotificationTargetsRequest{SegmentPrefix: "acme"})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = f.client.SetNotificationTarget(f.as(role), &feedbackv1.SetNotificationTargetRequest{Target: a.Target})
		wantCode(t, err, codes.PermissionDenied, "")
	}

	// Paging by id, bound to the prefix.
	var ids []string
	req := &feedbackv1.ListNotificationTargetsRequest{SegmentPrefix: "acme", PageSize: 1}
	for {
		resp, err := f.client.ListNotificationTargets(hr, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range resp.Targets {
			ids = append(ids, tg.Id)
		}
		if resp.NextPageToken == "" {
			break
		}
		if _, err := f.client.ListNotificationTargets(hr, &feedbackv1.ListNotificationTargetsRequest{SegmentPrefix: "acme/eng", PageToken: resp.NextPageToken}); err == nil {
			t.Errorf("a token replayed under another prefix was accepted")
		}
		req.PageToken = resp.NextPageToken
	}
	want := []string{a.Target.Id, b.Target.Id}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("listed %v, want %v", ids, want)
	}
	if _, err := f.client.DeleteNotificationTarget(hr, &feedbackv1.DeleteNotificationTargetRequest{Id: b.Target.Id}); err != nil {
		t.Fatal(err)
	}
	if resp, err := f.client.ListNotificationTargets(hr, &feedbackv1.ListNotificationTargetsRequest{SegmentPrefix: "acme"}); err != nil || len(resp.Targets) != 1 {
		t.Errorf("after delete: %v, %v; want one target", resp.GetTargets(), err)
	}

	mod := func(fn func(tg *feedbackv1.NotificationTarget)) *feedbackv1.NotificationTarget {
		tg := &feedbackv1.NotificationTarget{OwnerGroup: "g", SegmentPrefix: "acme", Kind: webhook, Url: "https://h.example/x"}
		fn(tg)
		return tg
	}
	for _, tc := range []struct {
		name  string
		tg    *feedbackv1.NotificationTarget
		field string
	}{
		{"no target", nil, "target"},
		{"long id", mod(func(tg *feedbackv1.NotificationTarget) { tg.Id = strings.Repeat("x", 65) }), "target.id"},
		{"bad owner group", mod(func(tg *feedbackv1.NotificationTarget) { tg.OwnerGroup = "" }), "target.owner_group"},
		{"bad prefix", mod(func(tg *feedbackv1.NotificationTarget) { tg.SegmentPrefix = "acme//eng" }), "target.segment_prefix"},
		{"no kind", mod(func(tg *feedbackv1.NotificationTarget) { tg.Kind = 0 }), "target.kind"},
		{"unknown kind", mod(func(tg *feedbackv1.NotificationTarget) { tg.Kind = 7 }), "target.kind"},
		{"relative url", mod(func(tg *feedbackv1.NotificationTarget) { tg.Url = "/hook" }), "target.url"},
		{"ftp url", mod(func(tg *feedbackv1.NotificationTarget) { tg.Url = "ftp://h.example/x" }), "target.url"},
		{"url with a password", mod(func(tg *feedbackv1.NotificationTarget) { tg.Url = "https://u:p@h.example/x" }), "target.url"},
		{"long url", mod(func(tg *feedbackv1.NotificationTarget) { tg.Url = "https://h.example/" + strings.Repeat("x", 2048) }), "target.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.SetNotificationTarget(hr, &feedbackv1.SetNotificationTargetRequest{Target: tc.tg})
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
	_, err = f.client.DeleteNotificationTarget(hr, &feedbackv1.DeleteNotificationTargetRequest{})
	wantCode(t, err, codes.InvalidArgument, "id")
	_, err = f.client.ListNotificationTargets(hr, &feedbackv1.ListNotificationTargetsRequest{SegmentPrefix: "acme", PageSize: -1})
	wantCode(t, err, codes.InvalidArgument, "page_size")
	_, err = f.client.ListDeadLetters(hr, &feedbackv1.ListDeadLettersRequest{SegmentPrefix: "acme", PageToken: "x"})
	wantCode(t, err, codes.InvalidArgument, "page_token")
}

// TestDeletedTargetGetsNothingMore: deleting a target drops its pending deliveries, which are
// neither retried nor buried.
func TestDeletedTargetGetsNothingMore(t *testing.T) {
	f := startNotifying(t, feedback.NotifyConfig{Attempts: 1000, RetryDelay: time.Millisecond, MaxDelay: time.Millisecond, Allow: []string{"127.0.0.1"}})
	rec := newReceiver(t, always(http.StatusBadGateway))
	tg := f.target(t, "eng-leads", "acme", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, rec.srv.URL)
	f.createPlan(t, f.as(auth.RoleHR), newPlan("acme/eng", "Rota review", "eng-leads", dimWorkload))
	poll.Until(t, 20*time.Second, 5*time.Millisecond, func() error {
		if n := len(rec.all()); n < 2 {
			return fmt.Errorf("%d attempts, want a retry", n)
		}
		return nil
	})
	if _, err := f.client.DeleteNotificationTarget(f.as(auth.RoleHR), &feedbackv1.DeleteNotificationTargetRequest{Id: tg.Target.Id}); err != nil {
		t.Fatal(err)
	}
	dl, err := f.client.ListDeadLetters(f.as(auth.RoleHR), &feedbackv1.ListDeadLettersRequest{SegmentPrefix: "acme"})
	if err != nil || len(dl.DeadLetters) != 0 {
		t.Errorf("dead letters = %v, %v; want none", dl.GetDeadLetters(), err)
	}
	if n := pendingAfterClose(t, f); n != 0 {
		t.Errorf("%d deliveries pending for a deleted target", n)
	}
}

// BenchmarkNotifyDeliveries measures the path from an event to a webhook: b.N plans created
// for an owner group with one WEBHOOK target, the clock running until the receiver has them
// all (action_created → feedback-notify → deliveries → signed POST → delete).
func BenchmarkNotifyDeliveries(b *testing.B) {
	f := startNotifying(b, fastNotify)
	rec := newReceiver(b, always(0))
	f.target(b, "eng-leads", "acme", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, rec.srv.URL)
	hr := f.as(auth.RoleHR)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		f.createPlan(b, hr, newPlan("acme/eng", fmt.Sprintf("plan %d", i), "eng-leads", 0))
	}
	created := time.Since(start)
	rec.waitDelivered(b, b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N)/created.Seconds(), "creates/s")
}

// TestNotifyAppliesABacklogInFewCommits: routed comments waiting for the feedback-notify
// consumer (a burst, or the backlog a restart finds) are applied many to a commit, not one
// commit each: each of the consumer's commits waits a whole commit cycle of the submissions,
// so one event per commit falls behind any real load (2,782 events behind in `voix bench`).
// Every owner is then told, once each.
func TestNotifyAppliesABacklogInFewCommits(t *testing.T) {
	const n = 600
	f := startNotifying(t, fastNotify)
	release := make(chan struct{})
	owner := newReceiver(t, func(int) int { <-release; return 0 })
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release) // before the receiver's Close, which waits for its handlers
		}
	})
	f.target(t, "eng-leads", "acme/eng", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, owner.srv.URL)
	before := f.svc.Commits()
	f.svc.Close()

	// The backlog: n routed comments published while the service is down.
	publishBacklog(t, f, events.FeedbackRouted, n, func(i int) (string, segment.Path, proto.Message) {
		id := fmt.Sprintf("backlog-%03d", i)
		return events.RoutedID(id, "eng-leads"), segment.MustParse("acme/eng"),
			&eventsv1.FeedbackRouted{FeedbackId: id, Segment: "acme/eng", OwnerGroup: "eng-leads", RoutedDay: timestamppb.New(t0)}
	})

	f.restartNotifying(t, fastNotify)
	notifyApplied(t, f)
	// The receiver answers nothing yet, so the sender has committed nothing: every commit
	// since the close is the service closing, starting again, or the consumer applying.
	commits := f.svc.Commits() - before
	t.Logf("%d routed events applied in %d commits (the start included)", n, commits)
	if commits > n/10 {
		t.Errorf("%d routed events took %d commits after the restart, want at most %d (applied in groups)", n, commits, n/10)
	}
	close(release)
	got := owner.waitDelivered(t, n)
	seen := map[string]int{}
	for _, r := range got {
		var body struct {
			LinkID string `json:"link_id"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
		seen[body.LinkID]++
	}
	if len(seen) != n || len(got) != n {
		t.Errorf("owner told %d times of %d comments, want %d of %d, once each", len(got), len(seen), n, n)
	}
}

// publishBacklog publishes n events of kind k, the i-th with the id, segment and payload
// ev(i) gives, pipelined, and returns once JetStream stored them all.
func publishBacklog(t testing.TB, f *fixture, k events.Kind, n int, ev func(i int) (string, segment.Path, proto.Message)) {
	t.Helper()
	js := f.env.JetStream(t)
	for i := range n {
		id, seg, m := ev(i)
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		e := bus.Event{ID: id, Type: k.Type, Source: k.Source, Subject: k.Subject(seg), Data: data}
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: e.Subject, Data: e.Data, Header: e.Header()}); err != nil {
			t.Fatalf("publish %s %d: %v", k.Type, i, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(20 * time.Second):
		t.Fatalf("%d of %d publishes of %s still unacknowledged", js.PublishAsyncPending(), n, k.Type)
	}
}

// openClosedStore opens the fixture's store read-only, once its service has closed it.
func openClosedStore(t testing.TB, f *fixture) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(f.env.DataDir, "feedback", "feedback.db"), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("open the closed store: %v", err)
	}
	return db
}

// rewriteClosedStore closes the fixture's service and changes its store with fn in one
// transaction, as a store made by an older version would hold it.
func rewriteClosedStore(t testing.TB, f *fixture, fn func(tx *bolt.Tx) error) {
	t.Helper()
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(f.env.DataDir, "feedback", "feedback.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open the closed store: %v", err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatalf("rewrite the closed store: %v, close: %v", err, cerr)
	}
}
