package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/poll"
)

// hookReceiver is a local webhook receiver that records every request and refuses the first
// one on each path with a 500, so every notification needs a retry.
type hookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen map[string]int // requests per path
	got  []hookRequest  // the accepted ones
}

type hookRequest struct{ path, body string }

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{seen: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.seen[r.URL.Path]++
		if h.seen[r.URL.Path] == 1 {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		h.got = append(h.got, hookRequest{r.URL.Path, string(b)})
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// wait waits until an accepted request on path holds every one of parts, and returns it.
func (h *hookReceiver) wait(t *testing.T, path string, parts ...string) string {
	t.Helper()
	var body string
	poll.Until(t, 30*time.Second, 20*time.Millisecond, func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
	next:
		for _, g := range h.got {
			if g.path != path {
				continue
			}
			for _, p := range parts {
				if !strings.Contains(g.body, p) {
					continue next
				}
			}
			body = g.body
			return nil
		}
		return fmt.Errorf("%s received %d requests, none accepted holding %q", path, h.seen[path], parts)
	})
	return body
}

// TestOwnersAreToldAndReadTheirQueueThroughTheGateway: a comment sent through the bot is
// scored, routed to its owner group, and the group's webhook (a real local receiver, which
// refuses the first try) gets it on a retry, without who wrote it; a risk-flagged one goes to
// hr's webhook at once; HR reads the group's queue
// on the dashboard's inbox; a new rule applied to open comments re-routes it, the new owner is
// told and its queue lists it; a plan created with the dashboard's form tells its owner group;
// past the deadlines, the plan's owner is told it is due and the comment's owner that it is
// overdue.
func TestOwnersAreToldAndReadTheirQueueThroughTheGateway(t *testing.T) {
	// The feedback service's clock, moved at the end to pass the deadlines.
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	d := startDashboardWith(t, dashOptions{feedback: func(c *feedback.Config) {
		c.Notify = feedback.NotifyConfig{Attempts: 6, RetryDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, Allow: []string{"127.0.0.1"}}
		c.Now, c.DeadlineInterval = clock, time.Second
	}})
	d.registerWithPulse(t)
	rec := newHookReceiver(t)
	hr := d.env.As(context.Background(), auth.RoleHR)
	webhook := feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK
	for owner, path := range map[string]string{"eng-leads": "/eng", "platform-leads": "/platform", "hr": "/hr"} {
		if _, err := d.feedback.SetNotificationTarget(hr, &feedbackv1.SetNotificationTargetRequest{Target: &feedbackv1.NotificationTarget{
			OwnerGroup: owner, SegmentPrefix: "acme/eng", Kind: webhook, Url: rec.srv.URL + path}}); err != nil {
			t.Fatalf("SetNotificationTarget %s: %v", owner, err)
		}
	}
	if _, err := d.feedback.UpsertRoutingRule(hr, &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{SegmentPrefix: "acme/eng", OwnerGroup: "eng-leads"}}); err != nil {
		t.Fatal(err)
	}

	// A person speaks through the bot.
	if got := d.command(t, "team acme/eng/platform"); !strings.Contains(got, "Got it") {
		t.Fatalf("team: %q", got)
	}
	const text = "I would like more pair programming sessions with the web team"
	if got := d.command(t, text); codeRE.FindStringSubmatch(got) == nil {
		t.Fatalf("comment: %q, want a follow-up code", got)
	}
	var id string
	poll.Until(t, 30*time.Second, 20*time.Millisecond, func() error {
		resp, err := d.feedback.ListFeedback(hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", OwnerGroup: "eng-leads"})
		if err != nil {
			return err
		}
		if len(resp.Feedback) != 1 {
			all, _ := d.feedback.ListFeedback(hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"})
			return fmt.Errorf("eng-leads' queue holds %d comments; all: %v", len(resp.Feedback), all)
		}
		id = resp.Feedback[0].Id
		return nil
	})
	body := rec.wait(t, "/eng", id, "eng-leads")
	for _, who := range []string{userID, teamID, "slack:"} {
		if strings.Contains(body, who) {
			t.Errorf("the owner's notification names the author (%q): %s", who, body)
		}
	}

	// A risk-flagged comment goes to hr at once, whatever the rules, and hr's webhook is told
	// of the flag, neither the text nor its author.
	const harassment = "My manager harasses me and makes sexist jokes about me in every meeting."
	d.commandAs(t, teamID, "U0SECOND", "/feedback", "team acme/eng/platform")
	if got := d.commandAs(t, teamID, "U0SECOND", "/feedback", harassment); codeRE.FindStringSubmatch(got) == nil {
		t.Fatalf("risky comment: %q, want a follow-up code", got)
	}
	body = rec.wait(t, "/hr", `"owner_group":"hr"`, "HARASSMENT")
	for _, never := range []string{"U0SECOND", teamID, "slack:", "sexist"} {
		if strings.Contains(body, never) {
			t.Errorf("hr's notification of a flagged comment holds %q: %s", never, body)
		}
	}

	// The group's queue on the dashboard.
	cookie := []*http.Cookie{d.session(t, d.env.Tokens[auth.RoleHR])}
	queue := func(owner string) string {
		t.Helper()
		code, body, _ := d.get(t, "/inbox?"+url.Values{"owner": {owner}}.Encode(), cookie)
		if code != http.StatusOK {
			t.Fatalf("/inbox?owner=%s: HTTP %d\n%s", owner, code, body)
		}
		return body
	}
	if b := queue("eng-leads"); !strings.Contains(b, text) || !strings.Contains(b, `value="eng-leads"`) {
		t.Errorf("eng-leads' queue on the inbox does not list the comment")
	}
	if strings.Contains(queue("platform-leads"), text) {
		t.Errorf("platform-leads' queue lists a comment it does not own")
	}
	if code, body, _ := d.get(t, "/inbox?owner=Not+A+Group", cookie); code != http.StatusBadRequest || !strings.Contains(body, "owner_group") {
		t.Errorf("/inbox with a malformed owner group: HTTP %d, want 400 naming the field", code)
	}

	// Re-routing: a new rule applied to the open comments moves it and tells the new owner.
	if _, err := d.feedback.UpsertRoutingRule(hr, &feedbackv1.UpsertRoutingRuleRequest{
		Rule: &feedbackv1.RoutingRule{SegmentPrefix: "acme/eng/platform", OwnerGroup: "platform-leads"}, ApplyToOpen: true}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "/platform", id, "platform-leads")
	if b := queue("platform-leads"); !strings.Contains(b, text) {
		t.Errorf("after re-routing, platform-leads' queue does not list the comment")
	}
	if strings.Contains(queue("eng-leads"), text) {
		t.Errorf("after re-routing, eng-leads' queue still lists the comment")
	}

	// A plan made with the dashboard's form tells its owner group.
	_, page, _ := d.get(t, "/loops", cookie)
	code, h := d.post(t, "/loops", cookie[0], url.Values{"csrf": {csrfOf(t, page)}, "op": {"create"}, "segment": {"acme/eng"},
		"title": {"Faster builds"}, "owner": {"eng-leads"}, "due": {"2027-01-15"}, "feedback_ids": {id}})
	if code != http.StatusSeeOther {
		t.Fatalf("create a plan: HTTP %d %v", code, h)
	}
	planID := strings.TrimPrefix(h.Get("Location"), "/loops?notice=plan#plan-")
	rec.wait(t, "/eng", planID, `"kind":"action_created"`)

	// Past the plan's due day, the comment unanswered: both owners are told.
	mu.Lock()
	now = time.Date(2027, time.January, 20, 12, 0, 0, 0, time.UTC)
	mu.Unlock()
	rec.wait(t, "/eng", planID, `"kind":"action_due"`)
	rec.wait(t, "/platform", id, `"kind":"overdue"`)
}
