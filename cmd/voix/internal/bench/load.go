package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
)

// The organisation: Departments departments of TeamsPerDepartment teams each, 200 segments.
const (
	Departments        = 20
	TeamsPerDepartment = 9
	Segments           = Departments * (1 + TeamsPerDepartment)
	teamHeadcount      = 40
)

// phrases are what people say; each comment adds a unique word.
var phrases = []string{
	"Trop de réunions, on est débordés et personne ne priorise",
	"J'aime beaucoup mon équipe et mon manager, merci",
	"The new tools make my work much easier than last year",
	"Nobody tells us why priorities change every single week",
	"Les locaux sont bruyants, difficile de se concentrer l'après-midi",
	"I am proud of what we shipped this month together",
}

// RPC names in the report.
const (
	rpcSubmit   = "SubmitFeedback"
	rpcRespond  = "SubmitResponse"
	rpcFollowUp = "FollowUp"
	rpcUpvote   = "Upvote"
	rpcHeatmap  = "GetHeatmap"
	rpcResults  = "GetResults"
	rpcList     = "ListFeedback"
	rpcSent     = "GetSentiment"
	rpcEcho     = "Echo"
	rpcDurable  = "Store"
)

// load is the simulated employees and readers, and what the services acknowledged.
type load struct {
	org string
	st  *stack
	// results is a survey whose one wave is closed with resultsN respondents: what GetResults
	// reads.
	results string
	conns   [3][]*grpc.ClientConn // feedback, pulse, sentiment
	teams   []string
	survey  string
	rec     *recorder
	fresh   *freshness
	stages  *stages

	next atomic.Int64

	mu        sync.Mutex
	comments  []ackedComment
	responses int
}

type ackedComment struct{ id, token string }

func newLoad(st *stack, org string, nconn int, rec *recorder, fresh *freshness) (*load, error) {
	ld := &load{org: org, st: st, rec: rec, fresh: fresh}
	for i, addr := range []string{st.feedback, st.pulse, st.sentiment} {
		cs, err := conns(addr, nconn)
		if err != nil {
			ld.close()
			return nil, err
		}
		ld.conns[i] = cs
	}
	return ld, nil
}

func (ld *load) close() {
	for _, cs := range ld.conns {
		closeAll(cs)
	}
}

func (ld *load) fb(w int) feedbackv1.FeedbackServiceClient {
	return feedbackv1.NewFeedbackServiceClient(ld.conns[0][w%len(ld.conns[0])])
}
func (ld *load) pl(w int) pulsev1.PulseServiceClient {
	return pulsev1.NewPulseServiceClient(ld.conns[1][w%len(ld.conns[1])])
}
func (ld *load) se(w int) sentimentv1.SentimentServiceClient {
	return sentimentv1.NewSentimentServiceClient(ld.conns[2][w%len(ld.conns[2])])
}

func as(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// setup creates the organisation (200 segments) and a survey, as an admin, and waits for the
// survey's wave to take answers. A second survey gets respondents answers and is closed, for
// GetResults to read.
func (ld *load) setup(ctx context.Context, clients, respondents int) error {
	admin := as(ctx, ld.st.tokens.Admin)
	pl := ld.pl(0)
	for d := range Departments {
		dept := fmt.Sprintf("%s/d%02d", ld.org, d)
		if _, err := pl.UpsertSegment(admin, &pulsev1.UpsertSegmentRequest{Path: dept, Headcount: teamHeadcount * TeamsPerDepartment}); err != nil {
			return fmt.Errorf("UpsertSegment %s: %w", dept, err)
		}
		for t := range TeamsPerDepartment {
			team := fmt.Sprintf("%s/t%d", dept, t)
			if _, err := pl.UpsertSegment(admin, &pulsev1.UpsertSegmentRequest{Path: team, Headcount: teamHeadcount}); err != nil {
				return fmt.Errorf("UpsertSegment %s: %w", team, err)
			}
			ld.teams = append(ld.teams, team)
		}
	}
	sv := &pulsev1.Survey{
		Title:    &commonv1.LocalizedText{Translations: map[string]string{"en": "Bench pulse"}},
		Audience: ld.org,
		Cadence:  pulsev1.Cadence_CADENCE_ONCE,
		Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Now().Add(-time.Minute)), ResponseWindow: durationpb.New(7 * 24 * time.Hour)},
		Questions: []*pulsev1.Question{{Id: "load", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD,
			Text: &commonv1.LocalizedText{Translations: map[string]string{"en": "My workload is manageable"}}}},
		DefaultLanguage: "en",
		LiveResults:     true,
	}
	created, err := pl.CreateSurvey(admin, &pulsev1.CreateSurveyRequest{Survey: sv})
	if err != nil {
		return fmt.Errorf("CreateSurvey: %w", err)
	}
	results, err := pl.CreateSurvey(admin, &pulsev1.CreateSurveyRequest{Survey: sv})
	if err != nil {
		return fmt.Errorf("CreateSurvey: %w", err)
	}
	ld.survey = results.Survey.Id
	if err := ld.firstResponse(ctx); err != nil {
		return err
	}
	// Fill the results survey, then close it; the load answers the other one.
	var filled atomic.Int64
	if _, err := drive(ctx, clients, time.Hour, 3, func(*rand.Rand) op {
		return func(ctx context.Context, w int, rng *rand.Rand) error {
			if filled.Add(1) > int64(respondents) {
				return errFilled
			}
			return ld.respond(ctx, w, rng)
		}
	}); err != nil && !errors.Is(err, errFilled) {
		return fmt.Errorf("fill the results survey: %w", err)
	}
	if _, err := pl.CloseSurvey(admin, &pulsev1.CloseSurveyRequest{SurveyId: ld.survey}); err != nil {
		return fmt.Errorf("CloseSurvey: %w", err)
	}
	ld.results, ld.survey = ld.survey, created.Survey.Id
	return ld.firstResponse(ctx)
}

var errFilled = errors.New("filled")

// firstResponse waits for the wave of ld.survey to open (the scheduler opens it within a
// second); the first answer taken is counted.
func (ld *load) firstResponse(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	rng := rand.New(rand.NewPCG(1, 1))
	for {
		err := ld.respond(ctx, 0, rng)
		if err == nil {
			return nil
		}
		if status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
			return fmt.Errorf("first SubmitResponse: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// op is one action of a client; it records its own latency.
type op func(ctx context.Context, w int, rng *rand.Rand) error

// drive runs clients goroutines, each calling next() and running what it returns, until d
// has passed; it returns how long it really ran.
func drive(ctx context.Context, clients int, d time.Duration, seed uint64, next func(rng *rand.Rand) op) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	end := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for time.Now().Before(end) && ctx.Err() == nil {
				if err := next(rng)(ctx, w, rng); err != nil && ctx.Err() == nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// timed runs f with a call timeout and records its latency under rpc. Errors are recorded and
// not returned: the report counts them, and a failed call is not acknowledged.
func (ld *load) timed(ctx context.Context, rpc string, f func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	t := time.Now()
	err := f(cctx)
	if ctx.Err() != nil {
		return nil // the run ended while the call was in flight
	}
	ld.rec.add(rpc, time.Since(t), err)
	return err
}

func (ld *load) team(rng *rand.Rand) string { return ld.teams[rng.IntN(len(ld.teams))] }

func (ld *load) submit(ctx context.Context, w int, rng *rand.Rand) error {
	n := ld.next.Add(1)
	seg := ld.team(rng)
	req := &feedbackv1.SubmitFeedbackRequest{
		Segment:        seg,
		Text:           fmt.Sprintf("%s (bench %s)", phrases[rng.IntN(len(phrases))], word(n)),
		SubmitterRef:   fmt.Sprintf("employee-%d", n),
		IdempotencyKey: fmt.Sprintf("bench-comment-%d", n),
	}
	var resp *feedbackv1.SubmitFeedbackResponse
	err := ld.timed(ctx, rpcSubmit, func(ctx context.Context) (err error) {
		resp, err = ld.fb(w).SubmitFeedback(as(ctx, ld.st.tokens.Submitter), req)
		return err
	})
	if err != nil || resp == nil {
		return nil
	}
	now := time.Now()
	ld.fresh.acked(seg, now)
	if ld.stages != nil {
		ld.stages.ack(resp.FeedbackId, now)
	}
	ld.mu.Lock()
	ld.comments = append(ld.comments, ackedComment{resp.FeedbackId, resp.FollowUpToken})
	ld.mu.Unlock()
	return nil
}

func (ld *load) respond(ctx context.Context, w int, rng *rand.Rand) error {
	n := ld.next.Add(1)
	seg := ld.team(rng)
	req := &pulsev1.SubmitResponseRequest{
		SurveyId:       ld.survey,
		Segment:        seg,
		SubmitterRef:   fmt.Sprintf("respondent-%d", n),
		IdempotencyKey: fmt.Sprintf("bench-response-%d", n),
		Answers:        []*pulsev1.Answer{{QuestionId: "load", Value: &pulsev1.Answer_Scale{Scale: int32(1 + rng.IntN(5))}}},
	}
	err := ld.timed(ctx, rpcRespond, func(ctx context.Context) error {
		_, err := ld.pl(w).SubmitResponse(as(ctx, ld.st.tokens.Submitter), req)
		return err
	})
	if err != nil {
		return err
	}
	ld.fresh.acked(seg, time.Now())
	ld.mu.Lock()
	ld.responses++
	ld.mu.Unlock()
	return nil
}

func (ld *load) pick(rng *rand.Rand) (ackedComment, bool) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if len(ld.comments) == 0 {
		return ackedComment{}, false
	}
	return ld.comments[rng.IntN(len(ld.comments))], true
}

func (ld *load) followUp(ctx context.Context, w int, rng *rand.Rand) error {
	c, ok := ld.pick(rng)
	if !ok {
		return ld.submit(ctx, w, rng)
	}
	ld.timed(ctx, rpcFollowUp, func(ctx context.Context) error {
		_, err := ld.fb(w).FollowUp(as(ctx, ld.st.tokens.Submitter), &feedbackv1.FollowUpRequest{FollowUpToken: c.token, Text: "suivi " + word(ld.next.Add(1))})
		return err
	})
	return nil
}

func (ld *load) upvote(ctx context.Context, w int, rng *rand.Rand) error {
	c, ok := ld.pick(rng)
	if !ok {
		return ld.submit(ctx, w, rng)
	}
	ld.timed(ctx, rpcUpvote, func(ctx context.Context) error {
		_, err := ld.fb(w).Upvote(as(ctx, ld.st.tokens.Submitter), &feedbackv1.UpvoteRequest{FeedbackId: c.id, SubmitterRef: fmt.Sprintf("voter-%d", ld.next.Add(1))})
		return err
	})
	return nil
}

func (ld *load) read(ctx context.Context, w int, rng *rand.Rand) error {
	hr := func(ctx context.Context) context.Context { return as(ctx, ld.st.tokens.HR) }
	switch rng.IntN(4) {
	case 0:
		ld.timed(ctx, rpcHeatmap, func(ctx context.Context) error {
			_, err := ld.se(w).GetHeatmap(hr(ctx), &sentimentv1.GetHeatmapRequest{SegmentPrefix: ld.org})
			return err
		})
	case 1:
		ld.timed(ctx, rpcResults, func(ctx context.Context) error {
			_, err := ld.pl(w).GetResults(hr(ctx), &pulsev1.GetResultsRequest{SurveyId: ld.results, SegmentPrefix: ld.org})
			return err
		})
	case 2:
		ld.timed(ctx, rpcList, func(ctx context.Context) error {
			_, err := ld.fb(w).ListFeedback(hr(ctx), &feedbackv1.ListFeedbackRequest{SegmentPrefix: ld.org})
			return err
		})
	default:
		ld.timed(ctx, rpcSent, func(ctx context.Context) error {
			_, err := ld.se(w).GetSentiment(hr(ctx), &sentimentv1.GetSentimentRequest{Segment: ld.team(rng)})
			return err
		})
	}
	return nil
}

// mixed is the day of an organisation: comments (40%), survey answers (20%), follow-ups and
// upvotes of acknowledged comments (8% each), and HR reads (24%).
func (ld *load) mixed(rng *rand.Rand) op {
	switch p := rng.IntN(100); {
	case p < 40:
		return ld.submit
	case p < 60:
		return ld.respondQuiet
	case p < 68:
		return ld.followUp
	case p < 76:
		return ld.upvote
	default:
		return ld.read
	}
}

// respondQuiet is respond for the load: a failed answer is counted, not fatal.
func (ld *load) respondQuiet(ctx context.Context, w int, rng *rand.Rand) error {
	ld.respond(ctx, w, rng)
	return nil
}

// word writes n in lower-case letters: unique, and nothing the scrubber replaces.
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
