package feedback_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

const (
	stNew        = commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW
	stAck        = commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED
	stInProgress = commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS
	stResolved   = commonv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED
	stDeclined   = commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED
)

func (f *fixture) setStatus(ctx context.Context, id string, st commonv1.FeedbackStatus, note string) (*feedbackv1.Feedback, error) {
	resp, err := f.client.UpdateStatus(ctx, &feedbackv1.UpdateStatusRequest{FeedbackId: id, Status: st, Note: note})
	return resp.GetFeedback(), err
}

func wantCode(t testing.TB, err error, code codes.Code, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), code)
	}
	if field != "" && !strings.HasPrefix(st.Message(), field+":") {
		t.Fatalf("message %q does not start with the field %q", st.Message(), field)
	}
}

func TestWorkflowAllowsTheDocumentedTransitionsOnly(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	all := []commonv1.FeedbackStatus{stNew, stAck, stInProgress, stResolved, stDeclined}
	legal := map[[2]commonv1.FeedbackStatus]bool{
		{stNew, stAck}: true, {stNew, stDeclined}: true,
		{stAck, stInProgress}: true, {stAck, stResolved}: true, {stAck, stDeclined}: true,
		{stInProgress, stResolved}: true, {stInProgress, stDeclined}: true,
	}
	// A path from NEW to each status, through legal steps.
	reach := map[commonv1.FeedbackStatus][]commonv1.FeedbackStatus{
		stNew: nil, stAck: {stAck}, stInProgress: {stAck, stInProgress},
		stResolved: {stAck, stResolved}, stDeclined: {stDeclined},
	}
	for _, from := range all {
		for _, to := range all {
			ref := fmt.Sprintf("U-%v-%v", from, to)
			id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "the build is slow", SubmitterRef: ref}).FeedbackId
			for _, step := range reach[from] {
				if _, err := f.setStatus(hr, id, step, "on our way"); err != nil {
					t.Fatalf("%v → %v: %v", from, step, err)
				}
			}
			c, err := f.setStatus(hr, id, to, "moving")
			if legal[[2]commonv1.FeedbackStatus{from, to}] {
				if err != nil || c.Status != to {
					t.Errorf("%v → %v = %v, %v; want legal", from, to, c.GetStatus(), err)
				}
				continue
			}
			if status.Code(err) != codes.FailedPrecondition || !strings.HasPrefix(status.Convert(err).Message(), "status:") {
				t.Errorf("%v → %v: err = %v, want FailedPrecondition on status", from, to, err)
			}
		}
	}
}

func TestStatusChangeIsPublishedWithTheOwnerAndReadByTheAuthor(t *testing.T) {
	f := start(t)
	f.clock.Add(26 * time.Hour) // a day that is not the submission day
	receipt := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng/platform", Text: "VPN drops", SubmitterRef: secretRef})
	hr := f.as(auth.RoleHR)
	if _, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: receipt.FeedbackId, OwnerGroup: "it-support"}); err != nil {
		t.Fatalf("AssignOwner: %v", err)
	}
	f.headcount(t, "acme/eng", 40) // platform stays unknown: shown under acme/eng
	f.clock.Add(24 * time.Hour)
	c, err := f.setStatus(hr, receipt.FeedbackId, stAck, "We read you, IT is on it")
	if err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	day := time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)
	if c.Status != stAck || c.OwnerGroup != "it-support" || c.Segment != "acme/eng" || !c.UpdateDay.AsTime().Equal(day) || c.MessageCount != 1 {
		t.Fatalf("after UpdateStatus: %v", c)
	}

	msg := nextEvent(t, f, events.FeedbackStatusChanged.All())
	if msg.Subject() != events.FeedbackStatusChanged.Subject(segment.MustParse("acme/eng")) {
		t.Errorf("subject %q, want the shown segment acme/eng (never the author's small team)", msg.Subject())
	}
	if got := msg.Headers().Get(bus.HeaderTime); got != day.Format(time.RFC3339Nano) {
		t.Errorf("ce-time %q, want the day %v", got, day)
	}
	var ev eventsv1.FeedbackStatusChanged
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := &eventsv1.FeedbackStatusChanged{
		FeedbackId: receipt.FeedbackId, Segment: "acme/eng", From: stNew, To: stAck,
		Note: "We read you, IT is on it", OwnerGroup: "it-support",
	}
	ev.ChangedDay = nil
	if !proto.Equal(&ev, want) {
		t.Errorf("event = %v, want %v", &ev, want)
	}

	// The author reads the note with the token alone.
	th, err := f.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: receipt.FollowUpToken})
	if err != nil {
		t.Fatalf("GetThread: %v", err)
	}
	if th.Feedback.Status != stAck || len(th.Messages) != 1 || th.Messages[0].Text != "We read you, IT is on it" ||
		th.Messages[0].Status != stAck || th.Messages[0].Author != feedbackv1.Author_AUTHOR_RESPONDER || !th.Messages[0].CreateDay.AsTime().Equal(day) {
		t.Fatalf("thread = %v", th)
	}
}

func TestAnonymousThread(t *testing.T) {
	f := start(t)
	bg := context.Background()
	receipt := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng/platform", Text: "On-call is too heavy", SubmitterRef: secretRef})
	id, token := receipt.FeedbackId, receipt.FollowUpToken
	mgr := servicetest.WithToken(bg, f.env.SubtreeManager)
	author := f.as(auth.RoleSubmitter)

	// A manager of acme/eng cannot answer while the comment is shown under acme only.
	_, err := f.client.Reply(mgr, &feedbackv1.ReplyRequest{FeedbackId: id, Text: "hello"})
	wantCode(t, err, codes.NotFound, "feedback_id")
	f.headcount(t, "acme/eng", 12)

	steps := []struct {
		who  string
		call func() (*feedbackv1.Message, error)
	}{
		{"hr", func() (*feedbackv1.Message, error) {
			r, err := f.client.Reply(f.as(auth.RoleHR), &feedbackv1.ReplyRequest{FeedbackId: id, Text: "  Which rotation? write to hr@acme.example  "})
			return r.GetMessage(), err
		}},
		{"author", func() (*feedbackv1.Message, error) {
			r, err := f.client.FollowUp(author, &feedbackv1.FollowUpRequest{FollowUpToken: token, Text: "The platform one, ask <@U0BOSS> or call +33 6 12 34 56 78"})
			return r.GetMessage(), err
		}},
		{"manager", func() (*feedbackv1.Message, error) {
			r, err := f.client.Reply(mgr, &feedbackv1.ReplyRequest{FeedbackId: id, Text: "We add a fourth person next month"})
			return r.GetMessage(), err
		}},
	}
	for _, s := range steps {
		if _, err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.who, err)
		}
	}
	th, err := f.client.GetThread(author, &feedbackv1.GetThreadRequest{FollowUpToken: token})
	if err != nil {
		t.Fatalf("GetThread: %v", err)
	}
	if len(th.Messages) != 3 || th.Feedback.MessageCount != 3 || th.Feedback.Id != id {
		t.Fatalf("thread = %v, want 3 messages", th)
	}
	wantAuthors := []feedbackv1.Author{feedbackv1.Author_AUTHOR_RESPONDER, feedbackv1.Author_AUTHOR_EMPLOYEE, feedbackv1.Author_AUTHOR_RESPONDER}
	for i, m := range th.Messages {
		if m.Author != wantAuthors[i] || m.Id == "" || !m.CreateDay.AsTime().Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("message %d = %v, want by %v on the day", i, m, wantAuthors[i])
		}
	}
	if got := th.Messages[0].Text; got != "Which rotation? write to hr@acme.example" {
		t.Errorf("hr's reply = %q: responders are trimmed, not scrubbed", got)
	}
	if got := th.Messages[1].Text; strings.Contains(got, "U0BOSS") || strings.Contains(got, "12 34 56") || !strings.HasPrefix(got, "The platform one") {
		t.Errorf("author's follow-up = %q, want it scrubbed like the first comment", got)
	}

	// Wrong tokens, other teams and other organisations learn nothing.
	_, err = f.client.GetThread(author, &feedbackv1.GetThreadRequest{FollowUpToken: token + "X"})
	wantCode(t, err, codes.NotFound, "follow_up_token")
	_, err = f.client.FollowUp(author, &feedbackv1.FollowUpRequest{FollowUpToken: "NOTATOKEN", Text: "hi"})
	wantCode(t, err, codes.NotFound, "follow_up_token")
	_, err = f.client.Reply(servicetest.WithToken(bg, f.env.OtherHR), &feedbackv1.ReplyRequest{FeedbackId: id, Text: "hi"})
	wantCode(t, err, codes.NotFound, "feedback_id")
	_, err = f.client.GetThread(f.as(auth.RoleHR), &feedbackv1.GetThreadRequest{FollowUpToken: token})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = f.client.Reply(author, &feedbackv1.ReplyRequest{FeedbackId: id, Text: "I am not hr"})
	wantCode(t, err, codes.PermissionDenied, "")
}

func TestWorkflowAndThreadRejectBadInput(t *testing.T) {
	f := start(t)
	id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "x", SubmitterRef: "U1"}).FeedbackId
	hr, author := f.as(auth.RoleHR), f.as(auth.RoleSubmitter)
	for _, tc := range []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"status without note", func() error { _, err := f.setStatus(hr, id, stAck, " "); return err }, codes.InvalidArgument, "note"},
		{"status unspecified", func() error {
			_, err := f.setStatus(hr, id, commonv1.FeedbackStatus_FEEDBACK_STATUS_UNSPECIFIED, "n")
			return err
		}, codes.InvalidArgument, "status"},
		{"status unknown", func() error { _, err := f.setStatus(hr, id, 42, "n"); return err }, codes.InvalidArgument, "status"},
		{"back to NEW", func() error { _, err := f.setStatus(hr, id, stNew, "n"); return err }, codes.FailedPrecondition, "status"},
		{"status of unknown comment", func() error { _, err := f.setStatus(hr, "NOPE", stAck, "n"); return err }, codes.NotFound, "feedback_id"},
		{"status without id", func() error { _, err := f.setStatus(hr, "", stAck, "n"); return err }, codes.InvalidArgument, "feedback_id"},
		{"note too long", func() error { _, err := f.setStatus(hr, id, stAck, strings.Repeat("a", 4001)); return err }, codes.InvalidArgument, "note"},
		{"reply without text", func() error {
			_, err := f.client.Reply(hr, &feedbackv1.ReplyRequest{FeedbackId: id})
			return err
		}, codes.InvalidArgument, "text"},
		{"follow-up without token", func() error {
			_, err := f.client.FollowUp(author, &feedbackv1.FollowUpRequest{Text: "hi"})
			return err
		}, codes.InvalidArgument, "follow_up_token"},
		{"follow-up with NUL", func() error {
			_, err := f.client.FollowUp(author, &feedbackv1.FollowUpRequest{FollowUpToken: "T", Text: "a\x00b"})
			return err
		}, codes.InvalidArgument, "text"},
		{"owner with a slash", func() error {
			_, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: id, OwnerGroup: "it/support"})
			return err
		}, codes.InvalidArgument, "owner_group"},
		{"owner by a manager", func() error {
			_, err := f.client.AssignOwner(f.as(auth.RoleManager), &feedbackv1.AssignOwnerRequest{FeedbackId: id, OwnerGroup: "it"})
			return err
		}, codes.PermissionDenied, ""},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code, tc.field) })
	}
	// Nothing changed: still NEW, no message, no status event.
	c, err := f.client.GetFeedback(hr, &feedbackv1.GetFeedbackRequest{FeedbackId: id})
	if err != nil || c.Feedback.Status != stNew || c.Feedback.MessageCount != 0 || c.Feedback.OwnerGroup != "" {
		t.Fatalf("after rejected calls: %v, %v", c, err)
	}
	if ids := publishedIDs(t, f, events.FeedbackStatusChanged.All()); len(ids) != 0 {
		t.Fatalf("status events after rejected calls: %v", ids)
	}
}
