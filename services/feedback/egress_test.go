package feedback_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// TestNotificationTargetsRefuseInternalAddresses: without the operator's allow-list, a target
// pointing at loopback, link-local (the metadata service), private ranges or the metadata and
// localhost names is InvalidArgument on target.url, naming the rule; a public address is
// accepted; and the allow-list lets exactly what it names through.
func TestNotificationTargetsRefuseInternalAddresses(t *testing.T) {
	f := startNotifying(t, feedback.NotifyConfig{})
	rec := newReceiver(t, always(0))
	set := func(f *fixture, url string) error {
		_, err := f.client.SetNotificationTarget(f.as(auth.RoleHR), &feedbackv1.SetNotificationTargetRequest{
			Target: &feedbackv1.NotificationTarget{OwnerGroup: "hr", SegmentPrefix: "acme",
				Kind: feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, Url: url},
		})
		return err
	}
	for _, url := range []string{
		rec.srv.URL, "http://127.0.0.1/", "http://127.1.2.3:8080/x", "http://[::1]:9000/", "http://[::ffff:127.0.0.1]/",
		"http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/hook", "http://172.20.0.5/", "http://192.168.1.1/",
		"http://100.100.100.200/", "http://[fd00:ec2::254]/", "http://0.0.0.0:80/", "http://localhost:8080/",
		"http://api.localhost/", "http://metadata.google.internal/computeMetadata/v1/",
	} {
		err := set(f, url)
		wantCode(t, err, codes.InvalidArgument, "target.url")
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "must not point to") || !strings.Contains(msg, "--notify-allow") {
			t.Errorf("%s: message %q does not give the rule", url, msg)
		}
	}
	if err := set(f, "https://203.0.113.10/hook"); err != nil {
		t.Errorf("a public address: %v", err)
	}

	allowed := startNotifying(t, feedback.NotifyConfig{Allow: []string{"127.0.0.1", "10.20.0.0/16", "hooks.internal"}})
	for _, url := range []string{rec.srv.URL, "http://10.20.3.4/", "http://hooks.internal:8443/x"} {
		if err := set(allowed, url); err != nil {
			t.Errorf("allowed %s: %v", url, err)
		}
	}
	for _, url := range []string{"http://10.21.0.1/", "http://169.254.169.254/", "http://[::1]/"} {
		wantCode(t, set(allowed, url), codes.InvalidArgument, "target.url")
	}
}

// TestNotificationsAreRefusedAtDialTime: the rule is checked on the address dialled, not only
// when the target is set. A target set while the operator allowed loopback is not posted to
// once the service runs without that allowance (what a name re-bound to an internal address
// after SetNotificationTarget looks like): the receiver gets nothing and the delivery ends in
// the dead letters, saying why.
func TestNotificationsAreRefusedAtDialTime(t *testing.T) {
	f := startNotifying(t, fastNotify)
	rec := newReceiver(t, always(0))
	f.target(t, "eng-leads", "acme/eng", feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK, rec.srv.URL)
	if err := f.svc.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	strict := fastNotify
	strict.Allow = nil
	svc, err := feedback.Start(context.Background(), feedback.Config{
		Listen: "127.0.0.1:0", DataDir: f.env.DataDir, NATS: f.env.NATSConfig(), Now: f.clock.Now,
		DeadlineInterval: time.Hour, Notify: strict,
	})
	if err != nil {
		t.Fatalf("restart feedback: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	f.svc = svc
	f.client = feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, svc.Addr()))
	plan := f.createPlan(t, f.as(auth.RoleHR), newPlan("acme/eng", "Rota review", "eng-leads", dimWorkload))
	poll.Until(t, 20*time.Second, 5*time.Millisecond, func() error {
		r, err := f.client.ListDeadLetters(f.as(auth.RoleHR), &feedbackv1.ListDeadLettersRequest{SegmentPrefix: "acme"})
		if err != nil {
			return err
		}
		if len(r.DeadLetters) == 0 {
			return fmt.Errorf("no dead letter yet")
		}
		d := r.DeadLetters[0]
		if d.LinkId != plan.Id || !strings.HasPrefix(d.LastError, "refused") {
			t.Fatalf("dead letter = %v, want plan %s refused", d, plan.Id)
		}
		return nil
	})
	if n := len(rec.all()); n != 0 {
		t.Errorf("the receiver got %d requests, want none", n)
	}
}

// TestMalformedAllowListStopsTheService: an allow-list entry that is neither an address, a
// range nor a name is a start error, not a silently narrower list.
func TestMalformedAllowListStopsTheService(t *testing.T) {
	env := servicetest.New(t)
	svc, err := feedback.Start(context.Background(), feedback.Config{
		Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig(),
		Notify: feedback.NotifyConfig{Allow: []string{"10.0.0.0/99"}},
	})
	if err == nil {
		svc.Close()
		t.Fatal("Start with allow-list 10.0.0.0/99 succeeded")
	}
}
