package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

// callTimeout bounds one call. A killed process fails calls at once (Unavailable); the bound
// is for a machine so loaded that a call stalls.
const callTimeout = 30 * time.Second

// giveUp bounds how long a call is retried, and a process restarted: far beyond any pause of
// the kill loop, so reaching it means something is broken.
const giveUp = 3 * time.Minute

// teams are the segments people belong to, registered with headcounts large enough that no
// survey result of the organisation is hidden.
var teams = []string{org + "/eng", org + "/sales", org + "/ops", org + "/support"}

const teamHeadcount = 500

// phrases are what people say; each comment adds a unique word so that it can be told apart.
var phrases = []string{
	"Trop de réunions, on est débordés",
	"J'aime beaucoup mon équipe et mon manager",
	"The new tools make my work much easier",
	"Nobody tells us why priorities change every week",
	"Les locaux sont bruyants, difficile de se concentrer",
	"I am proud of what we shipped this month",
}

// load is the simulated employees and what their calls acknowledged.
type load struct {
	c      *cluster
	conns  []*grpc.ClientConn
	fb     feedbackv1.FeedbackServiceClient
	pl     pulsev1.PulseServiceClient
	survey string

	next    atomic.Int64 // numbers people, keys and words
	retries atomic.Int64

	mu        sync.Mutex
	comments  []*comment
	responses []string // response ids; "" when a retry acknowledged it (the id is not returned again)
	scale     int      // scale answers acknowledged
	followUps int
	upvotes   int
	// lost: an acknowledged comment a later call could not find.
	lost []string
}

// comment is an acknowledged comment and what was acknowledged about it since.
type comment struct {
	id, token, text string
	followUps       []string
	upvotes         int
}

// newLoad connects to the services and does what HR does first: register the teams and open
// a survey whose wave stays open for the whole run.
func newLoad(ctx context.Context, c *cluster) (*load, error) {
	ld := &load{c: c}
	for _, n := range []*node{c.feedback, c.pulse} {
		// Reconnect within a second of a restart, not after gRPC's default backoff of up to
		// two minutes.
		cc, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
				BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second,
			}, MinConnectTimeout: 5 * time.Second}))
		if err != nil {
			ld.close()
			return nil, err
		}
		ld.conns = append(ld.conns, cc)
	}
	ld.fb = feedbackv1.NewFeedbackServiceClient(ld.conns[0])
	ld.pl = pulsev1.NewPulseServiceClient(ld.conns[1])

	hr := ld.as(ctx, auth.RoleHR)
	for _, t := range teams {
		if err := ld.call(ctx, func(ctx context.Context) error {
			_, err := ld.pl.UpsertSegment(hr, &pulsev1.UpsertSegmentRequest{Path: t, Headcount: teamHeadcount})
			return err
		}); err != nil {
			ld.close()
			return nil, fmt.Errorf("pulse UpsertSegment %s: %w", t, err)
		}
	}
	sv := &pulsev1.Survey{
		Title:    &commonv1.LocalizedText{Translations: map[string]string{"en": "Chaos pulse"}},
		Audience: org,
		Cadence:  pulsev1.Cadence_CADENCE_ONCE,
		Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Now().Add(-time.Minute)), ResponseWindow: durationpb.New(7 * 24 * time.Hour)},
		Questions: []*pulsev1.Question{{Id: "load", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD,
			Text: &commonv1.LocalizedText{Translations: map[string]string{"en": "My workload is manageable"}}}},
		DefaultLanguage: "en",
	}
	var created *pulsev1.CreateSurveyResponse
	if err := ld.call(ctx, func(ctx context.Context) (err error) {
		created, err = ld.pl.CreateSurvey(hr, &pulsev1.CreateSurveyRequest{Survey: sv, IdempotencyKey: "chaos-survey"})
		return err
	}); err != nil {
		ld.close()
		return nil, fmt.Errorf("pulse CreateSurvey: %w", err)
	}
	ld.survey = created.Survey.Id
	return ld, nil
}

func (ld *load) close() {
	for _, cc := range ld.conns {
		cc.Close()
	}
}

// as is ctx carrying role's bearer token.
func (ld *load) as(ctx context.Context, role auth.Role) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+ld.c.tokens[role])
}

// run runs the employees until stop; each then finishes the item it was on.
func (ld *load) run(ctx context.Context, stop <-chan struct{}, workers int, seed uint64) error {
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ld.employee(ctx, stop, rand.New(rand.NewPCG(seed, uint64(i)+2)))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// employee acts until stop: comments (45%), survey responses (25%), follow-ups (15%) and
// upvotes (15%) of comments already acknowledged, with a short pause between items.
func (ld *load) employee(ctx context.Context, stop <-chan struct{}, rng *rand.Rand) error {
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(between(rng, time.Millisecond, 50*time.Millisecond)):
		}
		var err error
		switch p := rng.IntN(100); {
		case p < 45:
			err = ld.submit(ctx, rng)
		case p < 70:
			err = ld.respond(ctx, rng)
		case p < 85:
			err = ld.followUp(ctx, rng)
		default:
			err = ld.upvote(ctx, rng)
		}
		if err != nil {
			return err
		}
	}
}

func (ld *load) submit(ctx context.Context, rng *rand.Rand) error {
	n := ld.next.Add(1)
	req := &feedbackv1.SubmitFeedbackRequest{
		Segment:        teams[rng.IntN(len(teams))],
		Text:           fmt.Sprintf("%s (chaos %s)", phrases[rng.IntN(len(phrases))], word(n)),
		SubmitterRef:   fmt.Sprintf("employee-%d", n),
		IdempotencyKey: fmt.Sprintf("comment-%d", n),
	}
	var resp *feedbackv1.SubmitFeedbackResponse
	err := ld.call(ctx, func(ctx context.Context) (err error) {
		resp, err = ld.fb.SubmitFeedback(ld.as(ctx, auth.RoleSubmitter), req)
		return err
	})
	if err != nil {
		return fmt.Errorf("SubmitFeedback: %w", err)
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.comments = append(ld.comments, &comment{id: resp.FeedbackId, token: resp.FollowUpToken, text: req.Text})
	return nil
}

func (ld *load) respond(ctx context.Context, rng *rand.Rand) error {
	n := ld.next.Add(1)
	req := &pulsev1.SubmitResponseRequest{
		SurveyId:       ld.survey,
		Segment:        teams[rng.IntN(len(teams))],
		SubmitterRef:   fmt.Sprintf("respondent-%d", n),
		IdempotencyKey: fmt.Sprintf("response-%d", n),
		Answers:        []*pulsev1.Answer{{QuestionId: "load", Value: &pulsev1.Answer_Scale{Scale: int32(1 + rng.IntN(5))}}},
	}
	var resp *pulsev1.SubmitResponseResponse
	err := ld.call(ctx, func(ctx context.Context) (err error) {
		resp, err = ld.pl.SubmitResponse(ld.as(ctx, auth.RoleSubmitter), req)
		return err
	})
	if err != nil {
		return fmt.Errorf("SubmitResponse: %w", err)
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.responses = append(ld.responses, resp.ResponseId)
	ld.scale++
	return nil
}

// pick is a random acknowledged comment, or nil before the first.
func (ld *load) pick(rng *rand.Rand) *comment {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if len(ld.comments) == 0 {
		return nil
	}
	return ld.comments[rng.IntN(len(ld.comments))]
}

// followUp adds a message to an acknowledged thread. FollowUp takes no idempotency key, so
// before sending again the client reads the thread, as a careful client would: the first
// attempt may have been stored before the process died.
func (ld *load) followUp(ctx context.Context, rng *rand.Rand) error {
	c := ld.pick(rng)
	if c == nil {
		return ld.submit(ctx, rng)
	}
	text := "suivi " + word(ld.next.Add(1))
	sent := false
	err := ld.call(ctx, func(ctx context.Context) error {
		sub := ld.as(ctx, auth.RoleSubmitter)
		if sent {
			th, err := ld.fb.GetThread(sub, &feedbackv1.GetThreadRequest{FollowUpToken: c.token})
			if err != nil {
				return err
			}
			if countText(th.Messages, text) > 0 {
				return nil
			}
		}
		sent = true
		_, err := ld.fb.FollowUp(sub, &feedbackv1.FollowUpRequest{FollowUpToken: c.token, Text: text})
		return err
	})
	if status.Code(err) == codes.NotFound {
		ld.noteLost("FollowUp on acknowledged comment %s: %v", c.id, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("FollowUp: %w", err)
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	c.followUps = append(c.followUps, text)
	ld.followUps++
	return nil
}

// upvote has another person agree with an acknowledged comment; a retry of a vote that was
// stored is not counted again (one vote per person).
func (ld *load) upvote(ctx context.Context, rng *rand.Rand) error {
	c := ld.pick(rng)
	if c == nil {
		return ld.submit(ctx, rng)
	}
	req := &feedbackv1.UpvoteRequest{FeedbackId: c.id, SubmitterRef: fmt.Sprintf("voter-%d", ld.next.Add(1))}
	err := ld.call(ctx, func(ctx context.Context) error {
		_, err := ld.fb.Upvote(ld.as(ctx, auth.RoleSubmitter), req)
		return err
	})
	if status.Code(err) == codes.NotFound {
		ld.noteLost("Upvote of acknowledged comment %s: %v", c.id, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("Upvote: %w", err)
	}
	ld.mu.Lock()
	defer ld.mu.Unlock()
	c.upvotes++
	ld.upvotes++
	return nil
}

func (ld *load) noteLost(format string, args ...any) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.lost = append(ld.lost, fmt.Sprintf(format, args...))
}

// call runs f until it succeeds, sending it again after a short backoff when it failed the way
// a crash or a restart fails calls, for up to giveUp. Other errors are returned.
func (ld *load) call(ctx context.Context, f func(context.Context) error) error {
	wait, start := 50*time.Millisecond, time.Now()
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := f(cctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted, codes.Unknown, codes.Internal:
		default:
			return err
		}
		if time.Since(start) > giveUp {
			return fmt.Errorf("still failing after %v: %w", giveUp, err)
		}
		ld.retries.Add(1)
		select {
		case <-time.After(wait + time.Duration(rand.Int64N(int64(wait)))):
		case <-ctx.Done():
		}
		wait = min(2*wait, time.Second)
	}
}

// tally copies the counts into res.
func (ld *load) tally(res *Result) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	res.Comments, res.Responses, res.FollowUps, res.Upvotes = len(ld.comments), len(ld.responses), ld.followUps, ld.upvotes
	res.Acked = res.Comments + res.Responses + res.FollowUps + res.Upvotes
	res.Retries = int(ld.retries.Load())
	for _, l := range ld.lost {
		res.lost(1, "%s", l)
	}
}

// countText counts the messages whose text is text.
func countText(msgs []*feedbackv1.Message, text string) int {
	n := 0
	for _, m := range msgs {
		if m.Author == feedbackv1.Author_AUTHOR_EMPLOYEE && m.Text == text {
			n++
		}
	}
	return n
}

// word writes n in lower-case letters: unique, and nothing the scrubber replaces (digits could
// read as a phone number).
func word(n int64) string {
	b := []byte{}
	for {
		b = append(b, byte('a'+n%26))
		n /= 26
		if n == 0 {
			return string(b)
		}
	}
}
