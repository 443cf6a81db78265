package feedback_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
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
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// submitOn submits req on replica r as the env's submitter.
func submitOn(t *testing.T, f *fixture, r *replica, req *feedbackv1.SubmitFeedbackRequest) *feedbackv1.SubmitFeedbackResponse {
	t.Helper()
	resp, err := r.client.SubmitFeedback(f.as(auth.RoleSubmitter), req)
	if err != nil {
		t.Fatalf("SubmitFeedback(%s): %v", req.Segment, err)
	}
	return resp
}

// headcountOn sets path's headcount in the registry once and waits until every replica of rs
// applied it.
func headcountOn(t *testing.T, f *fixture, path string, n uint32, rs ...*replica) {
	t.Helper()
	rs[0].view(f).headcount(t, path, n)
	for _, r := range rs[1:] {
		v := r.view(f)
		poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
			if got, err := v.listedHeadcount(path); err != nil || got != n {
				return fmt.Errorf("replica shows %s with %d people (%v), want %d", path, got, err, n)
			}
			return nil
		})
	}
}

func TestFollowUpAndAnswersReachTheReplicaHoldingTheComment(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	hr, author := f.as(auth.RoleHR), f.as(auth.RoleSubmitter)
	sub := submitOn(t, f, r1, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "The build farm is down every Monday", SubmitterRef: "U1"})

	// HR, through r2, reads, acknowledges, assigns and answers the comment r1 holds.
	if _, err := r2.client.GetFeedback(hr, &feedbackv1.GetFeedbackRequest{FeedbackId: sub.FeedbackId}); err != nil {
		t.Fatalf("GetFeedback through r2: %v", err)
	}
	st, err := r2.client.UpdateStatus(hr, &feedbackv1.UpdateStatusRequest{FeedbackId: sub.FeedbackId, Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED, Note: "We see it"})
	if err != nil {
		t.Fatalf("UpdateStatus through r2: %v", err)
	}
	if st.Feedback.Status != commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED {
		t.Fatalf("UpdateStatus through r2 answered status %v", st.Feedback.Status)
	}
	if _, err := r2.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: sub.FeedbackId, OwnerGroup: "it-support"}); err != nil {
		t.Fatalf("AssignOwner through r2: %v", err)
	}
	reply, err := r2.client.Reply(hr, &feedbackv1.ReplyRequest{FeedbackId: sub.FeedbackId, Text: "Fixed on Friday"})
	if err != nil {
		t.Fatalf("Reply through r2: %v", err)
	}
	up, err := r2.client.Upvote(author, &feedbackv1.UpvoteRequest{FeedbackId: sub.FeedbackId, SubmitterRef: "U2"})
	if err != nil || !up.Counted {
		t.Fatalf("Upvote through r2: %v, %v", up, err)
	}

	// The author, whose follow-up code reaches r2, adds to the thread and reads HR's reply.
	fu, err := r2.client.FollowUp(author, &feedbackv1.FollowUpRequest{FollowUpToken: sub.FollowUpToken, Text: "Thanks, still slow on Tuesdays"})
	if err != nil {
		t.Fatalf("FollowUp through r2: %v", err)
	}
	th, err := r2.client.GetThread(author, &feedbackv1.GetThreadRequest{FollowUpToken: strings.ToLower(sub.FollowUpToken)})
	if err != nil {
		t.Fatalf("GetThread through r2: %v", err)
	}
	var msgs []string
	for _, m := range th.Messages {
		msgs = append(msgs, m.Id)
	}
	if !slices.Contains(msgs, reply.Message.Id) || !slices.Contains(msgs, fu.Message.Id) {
		t.Fatalf("thread through r2 has messages %v, want HR's reply %s and the follow-up %s", msgs, reply.Message.Id, fu.Message.Id)
	}

	// All of it is in r1's store, the holder: read there directly.
	got, err := r1.client.GetFeedback(hr, &feedbackv1.GetFeedbackRequest{FeedbackId: sub.FeedbackId})
	if err != nil {
		t.Fatalf("GetFeedback on r1: %v", err)
	}
	if got.Feedback.Status != commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED || got.Feedback.OwnerGroup != "it-support" || got.Feedback.Upvotes != 1 {
		t.Fatalf("r1 holds %v, want acknowledged, owned by it-support, one upvote", got.Feedback)
	}
	direct, err := r1.client.GetThread(author, &feedbackv1.GetThreadRequest{FollowUpToken: sub.FollowUpToken})
	if err != nil || len(direct.Messages) != len(th.Messages) {
		t.Fatalf("thread on r1: %d messages (%v), through r2: %d", len(direct.GetMessages()), err, len(th.Messages))
	}
}

func TestCodeOrIDNoReplicaHoldsIsNotFound(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	submitOn(t, f, r1, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "one comment on r1", SubmitterRef: "U1"})
	for _, r := range []*replica{r1, r2} {
		_, err := r.client.GetThread(f.as(auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: rand.Text()})
		if status.Code(err) != codes.NotFound {
			t.Errorf("GetThread with an unknown code: %v, want NotFound", err)
		}
		_, err = r.client.Reply(f.as(auth.RoleHR), &feedbackv1.ReplyRequest{FeedbackId: "NOPE", Text: "hello"})
		if status.Code(err) != codes.NotFound || !strings.Contains(status.Convert(err).Message(), "feedback_id") {
			t.Errorf("Reply to an unknown id: %v, want NotFound naming feedback_id", err)
		}
	}
}

func TestForwardedCallKeepsTheCallersAuthorization(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	headcountOn(t, f, "acme/eng", 10, r1, r2)
	eng := submitOn(t, f, r1, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng/platform", Text: "eng comment", SubmitterRef: "U1"}).FeedbackId
	sales := submitOn(t, f, r1, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/sales", Text: "sales comment", SubmitterRef: "U1"}).FeedbackId
	bg := context.Background()
	manager, otherHR := servicetest.WithToken(bg, f.env.SubtreeManager), servicetest.WithToken(bg, f.env.OtherHR)
	for _, tc := range []struct {
		who  string
		ctx  context.Context
		id   string
		want codes.Code
	}{
		{"manager of acme/eng, own subtree", manager, eng, codes.OK},
		{"manager of acme/eng, other team", manager, sales, codes.NotFound},
		{"hr of another org", otherHR, eng, codes.NotFound},
		{"submitter", f.as(auth.RoleSubmitter), eng, codes.PermissionDenied},
	} {
		// The same answer through r2 as from r1, the holder: code and message.
		var answers []error
		for _, r := range []*replica{r1, r2} {
			_, err := r.client.Reply(tc.ctx, &feedbackv1.ReplyRequest{FeedbackId: tc.id, Text: "answer from " + tc.who})
			answers = append(answers, err)
		}
		for i, err := range answers {
			if status.Code(err) != tc.want {
				t.Errorf("%s: Reply on r%d = %v, want %v", tc.who, i+1, err, tc.want)
			}
		}
		if a, b := status.Convert(answers[0]), status.Convert(answers[1]); a.Message() != b.Message() {
			t.Errorf("%s: r1 says %q, r2 says %q", tc.who, a.Message(), b.Message())
		}
	}
	// Only the one allowed reply was added.
	got, err := r1.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: eng})
	if err != nil || got.Feedback.MessageCount != 2 {
		t.Fatalf("eng comment on r1: %v (%v), want the manager's two replies (r1 and through r2)", got, err)
	}
	if got, _ := r1.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: sales}); got.GetFeedback().GetMessageCount() != 0 {
		t.Fatalf("sales comment got %d messages from refused callers", got.GetFeedback().GetMessageCount())
	}
}

func TestCommentOfADownReplicaIsUnavailableNamingIt(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	sub := submitOn(t, f, r1, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "comment held by r1", SubmitterRef: "U1"})
	r1.svc.Close()
	for name, call := range map[string]func() error{
		"GetFeedback": func() error {
			_, err := r2.client.GetFeedback(f.as(auth.RoleHR), &feedbackv1.GetFeedbackRequest{FeedbackId: sub.FeedbackId})
			return err
		},
		"FollowUp": func() error {
			_, err := r2.client.FollowUp(f.as(auth.RoleSubmitter), &feedbackv1.FollowUpRequest{FollowUpToken: sub.FollowUpToken, Text: "anyone?"})
			return err
		},
	} {
		err := call()
		if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "r1") {
			t.Errorf("%s through r2 with r1 down: %v, want Unavailable naming r1", name, err)
		}
	}
}

func TestListFeedbackThroughEitherReplicaListsEveryComment(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	var want []string
	for i := range 30 {
		if i%10 == 0 && i > 0 {
			f.clock.Add(24 * time.Hour) // three days of comments
		}
		r := []*replica{r1, r2}[i%3%2] // two thirds on r1, one third on r2
		sub := submitOn(t, f, r, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: fmt.Sprintf("comment number %d", i), SubmitterRef: fmt.Sprintf("U%d", i)})
		want = append(want, sub.FeedbackId)
	}
	var listings [][]string
	for _, r := range []*replica{r1, r2} {
		all := listAll(t, r.view(f), f.as(auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 7})
		for i := 1; i < len(all); i++ {
			if all[i].CreateDay.AsTime().After(all[i-1].CreateDay.AsTime()) {
				t.Fatalf("listing not newest day first at %d: %v after %v", i, all[i].CreateDay.AsTime(), all[i-1].CreateDay.AsTime())
			}
		}
		got := ids(all)
		if !slices.Equal(sorted(got), sorted(want)) {
			t.Fatalf("listing of %d comments, want each of the %d exactly once:\n got %v\nwant %v", len(got), len(want), sorted(got), sorted(want))
		}
		listings = append(listings, got)
	}
	if !slices.Equal(listings[0], listings[1]) {
		t.Fatalf("r1 and r2 list in different orders:\n%v\n%v", listings[0], listings[1])
	}
}

func TestLoopStatsThroughEitherReplicaCountEveryComment(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	hr := f.as(auth.RoleHR)
	headcountOn(t, f, "acme/eng", 10, r1, r2)
	headcountOn(t, f, "acme/sales", 10, r1, r2)
	// acme/eng: six people on r1, four on r2; three comments acknowledged.
	var eng []string
	for i := range 10 {
		r := r1
		if i >= 6 {
			r = r2
		}
		eng = append(eng, submitOn(t, f, r, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: fmt.Sprintf("eng %d", i), SubmitterRef: fmt.Sprintf("E%d", i)}).FeedbackId)
	}
	// acme/sales: three people on each replica, fewer than the minimum group size (5) on
	// either.
	for i := range 6 {
		submitOn(t, f, []*replica{r1, r2}[i%2], &feedbackv1.SubmitFeedbackRequest{Segment: "acme/sales", Text: fmt.Sprintf("sales %d", i), SubmitterRef: fmt.Sprintf("S%d", i)})
	}
	f.clock.Add(48 * time.Hour)
	acked := []string{eng[0], eng[1], eng[7]}
	for _, id := range acked {
		if _, err := r2.client.UpdateStatus(hr, &feedbackv1.UpdateStatusRequest{FeedbackId: id, Status: commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED, Note: "Read"}); err != nil {
			t.Fatalf("acknowledge %s: %v", id, err)
		}
	}
	var answers []*feedbackv1.GetLoopStatsResponse
	for _, r := range []*replica{r1, r2} {
		got, err := r.client.GetLoopStats(hr, &feedbackv1.GetLoopStatsRequest{SegmentPrefix: "acme/eng"})
		if err != nil {
			t.Fatalf("GetLoopStats: %v", err)
		}
		total := uint32(0)
		for _, n := range got.ByStatus {
			total += n
		}
		if got.Hidden || total != uint32(len(eng)) || got.ByStatus[commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED.String()] != uint32(len(acked)) {
			t.Fatalf("loop stats of acme/eng: %v, want shown, %d comments, %d acknowledged", got, len(eng), len(acked))
		}
		if got.MedianTimeToAcknowledge.AsDuration() != 48*time.Hour {
			t.Fatalf("median time to acknowledge %v, want the 2 days each took", got.MedianTimeToAcknowledge.AsDuration())
		}
		answers = append(answers, got)
		// Six people, but no replica saw five of them: the people are counted in each store,
		// and the largest count is the one that may be relied on.
		sales, err := r.client.GetLoopStats(hr, &feedbackv1.GetLoopStatsRequest{SegmentPrefix: "acme/sales"})
		if err != nil || !sales.Hidden {
			t.Fatalf("loop stats of acme/sales: %v (%v), want hidden", sales, err)
		}
	}
	if a, b := answers[0], answers[1]; a.String() != b.String() {
		t.Fatalf("r1 and r2 answer differently:\n%v\n%v", a, b)
	}
}

// storeHolds closes replica r and reports whether its store holds comment id.
func storeHolds(t *testing.T, r *replica, id string) bool {
	t.Helper()
	r.svc.Close()
	db, err := bolt.Open(filepath.Join(r.dir, "feedback", "feedback.db"), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	found := false
	if err := db.View(func(tx *bolt.Tx) error {
		_, err := store.GetComment(tx, id)
		found = err == nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// TestListFeedbackPageLargerThanANATSMessage: a replica's page that would not fit in one NATS
// message goes in several parts, and the merged listing still has every comment once.
func TestListFeedbackPageLargerThanANATSMessage(t *testing.T) {
	f, r1, r2 := twoReplicas(t, 0)
	long := strings.Repeat("été ", 998) + "fin" // with the number, at most 4000 characters; 6000 bytes
	var want []string
	for i := range 150 {
		sub := submitOn(t, f, r2, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: fmt.Sprintf("%d %s", i, long), SubmitterRef: fmt.Sprintf("U%d", i/20)})
		want = append(want, sub.FeedbackId)
	}
	got := ids(listAll(t, r1.view(f), f.as(auth.RoleHR), &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 150}))
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("listing through r1 has %d comments, want each of the %d on r2 once", len(got), len(want))
	}
}

// BenchmarkGetFeedback compares GetFeedback answered by the replica holding the comment with
// one forwarded by the other replica (one NATS request-reply more, and one "not mine" lookup
// first).
func BenchmarkGetFeedback(b *testing.B) {
	env := servicetest.New(b)
	clk := &clock{now: t0}
	var clients []feedbackv1.FeedbackServiceClient
	for _, name := range []string{"r1", "r2"} {
		svc, err := feedback.Start(context.Background(), feedback.Config{
			Listen: "127.0.0.1:0", DataDir: b.TempDir(), NATS: env.NATSConfig(), Now: clk.Now,
			TokensFile:       host.DefaultTokensFile(env.DataDir),
			Secret:           anonymity.SecretSource{File: host.DefaultSecretFile(env.DataDir)},
			DeadlineInterval: time.Hour, Replica: feedback.ReplicaConfig{Name: name},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { svc.Close() })
		clients = append(clients, feedbackv1.NewFeedbackServiceClient(servicetest.Dial(b, svc.Addr())))
	}
	sub, err := clients[0].SubmitFeedback(env.As(context.Background(), auth.RoleSubmitter), &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "bench", SubmitterRef: "U1"})
	if err != nil {
		b.Fatal(err)
	}
	hr := env.As(context.Background(), auth.RoleHR)
	for i, name := range []string{"holder", "forwarded"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := clients[i].GetFeedback(hr, &feedbackv1.GetFeedbackRequest{FeedbackId: sub.FeedbackId}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
