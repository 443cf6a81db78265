package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/voix-dev/voix/cmd/voix/internal/chaos"
	"github.com/voix-dev/voix/cmd/voix/internal/proc"
	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
)

// The write phase: two feedback and two pulse replicas (--replica) as OS processes on the
// cluster, sharing the cross-replica marks (services/platform/marks) and, for pulse, the
// surveys (services/pulse/sharedconfig.go: the survey is created on one replica only). Every
// person sends the same keyed comment to both feedback replicas at once, and answers the
// survey on both pulse replicas at once with two different keys, then retries the accepted
// answer on the other replica; one replica of each service is SIGKILLed mid-phase and
// restarted. Checks: one comment and one response per person in the streams, both comment
// calls answered with the same id. Before that, a throughput measure: keyed comments on one
// replica, then on two.
const (
	// writesOrg is the phase's organisation; its comments and responses are counted on the
	// streams under it.
	writesOrg = "wr"
	// writesClaimTTL is the replicas' claim TTL: how long a killed replica's claims hold.
	writesClaimTTL = 10 * time.Second
	// writesPeople is how many people the duplicate load has.
	writesPeople = 240
	// writesWorkers act at once, in the duplicate load and the throughput measure.
	writesWorkers = 8
	// writesMeasure is how long each throughput measure lasts.
	writesMeasure = 5 * time.Second
)

// WritesResult is what the write phase found.
type WritesResult struct {
	// People is how many people acted; Comments how many distinct comment ids the feedback
	// replicas acknowledged to them (one each: both calls of a person must return the same),
	// Mismatched the people whose two calls returned different ids; PublishedComments how many
	// comments of the phase the FEEDBACK stream holds, LostComments the acknowledged ids it
	// does not hold.
	People, Comments, Mismatched, PublishedComments, LostComments int
	// Responses counts the answers accepted (OK on a first request, not a retry), Refused
	// those answered AlreadyExists; PublishedResponses the responses the PULSE stream holds;
	// RetriesRefused the retries of an accepted answer on the other replica that were refused.
	Responses, Refused, PublishedResponses, RetriesRefused int
	// Unavailable counts the calls answered Unavailable and retried (a claim held by a
	// replica storing the same person's submission, or a killed replica).
	Unavailable int64
	// Conflicts counts the replicas' log lines saying a claim expired before it was confirmed
	// and another replica took it (marks.ErrLost): a submission counted twice.
	Conflicts int
	// Killed names the replicas SIGKILLed and restarted.
	Killed []string
	// One and Two are keyed comments per second acknowledged by one feedback replica, then by
	// two, under writesWorkers callers, on the same machine.
	One, Two float64
	// FollowUps counts the people who followed their comment up through each feedback replica
	// in turn, with the code the first answer gave them (so one of the two calls reaches a
	// replica that does not hold the comment and must forward it); FollowUpsBroken those
	// whose follow-up failed or whose thread, read through either replica, lacks one.
	FollowUps, FollowUpsBroken int
	// Results holds, per pulse replica, the respondents its GetResults counted in the team once
	// the survey was closed: each must count every person, whichever replica took the answer
	// (services/pulse/results_replicas.go).
	Results []uint32
}

// OK reports whether every person counted once.
func (w WritesResult) OK() bool {
	return w.People > 0 && w.Comments == w.People && w.Mismatched == 0 && w.PublishedComments == w.People &&
		w.LostComments == 0 && w.Responses == w.People && w.PublishedResponses == w.People && w.RetriesRefused == 0 &&
		w.Conflicts == 0 && w.FollowUps > 0 && w.FollowUpsBroken == 0 && w.resultsComplete()
}

// resultsComplete reports whether every pulse replica's results counted every person.
func (w WritesResult) resultsComplete() bool {
	if len(w.Results) == 0 {
		return false
	}
	for _, n := range w.Results {
		if int(n) != w.People {
			return false
		}
	}
	return true
}

// Line is the phase's summary line.
func (w WritesResult) Line() string {
	return fmt.Sprintf("e2e-cluster replicas: feedback=2 pulse=2 people=%d comments=%d published_comments=%d mismatched=%d lost=%d responses=%d refused=%d published_responses=%d retries_refused=%d unavailable_retries=%d conflicts=%d follow_ups=%d follow_ups_broken=%d results=%v killed=%s",
		w.People, w.Comments, w.PublishedComments, w.Mismatched, w.LostComments, w.Responses, w.Refused, w.PublishedResponses,
		w.RetriesRefused, w.Unavailable, w.Conflicts, w.FollowUps, w.FollowUpsBroken, w.Results, strings.Join(w.Killed, ","))
}

// Report writes the throughput figures and the summary line.
func (w WritesResult) Report(out io.Writer) {
	if w.One > 0 {
		fmt.Fprintf(out, "e2e-cluster replicas: keyed comments/s with %d callers: 1 feedback replica %.0f, 2 replicas %.0f (same machine, same cores)\n",
			writesWorkers, w.One, w.Two)
	}
	fmt.Fprintln(out, w.Line())
}

// writes is the phase's state.
type writes struct {
	cfg     Config
	fb, pl  []*proc.Proc
	fbc     []feedbackv1.FeedbackServiceClient
	plc     []pulsev1.PulseServiceClient
	conns   []*grpc.ClientConn
	tokens  map[auth.Role]string
	survey  string
	unavail atomic.Int64
	acked   map[string]bool // comment ids acknowledged by the duplicate load
	codes   []string        // the follow-up codes of the first people (followUps)
}

func (wr *writes) as(ctx context.Context, role auth.Role) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+wr.tokens[role])
}

// runWrites runs the phase on the running cluster.
func runWrites(ctx context.Context, cfg Config, urls []string, pass string) (WritesResult, error) {
	var res WritesResult
	dir := filepath.Join(cfg.Dir, "writes")
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return res, err
	}
	secretFile := filepath.Join(dir, "secret.key")
	if _, err := anonymity.LoadOrCreateSecret(secretFile); err != nil {
		return res, err
	}
	wr := &writes{cfg: cfg, tokens: map[auth.Role]string{}}
	var file auth.TokenFile
	for _, role := range []auth.Role{auth.RoleSubmitter, auth.RoleHR} {
		tok, err := auth.NewToken()
		if err != nil {
			return res, err
		}
		wr.tokens[role] = tok
		file.Tokens = append(file.Tokens, auth.TokenRecord{Name: "e2e-" + string(role), Role: role, Prefix: writesOrg, SHA256: auth.HashToken(tok)})
	}
	tokens := filepath.Join(dir, "token-hashes.json")
	if err := auth.WriteTokens(tokens, file); err != nil {
		return res, err
	}
	newProc := func(svc, name string) (*proc.Proc, error) {
		addr, err := proc.FreeAddr()
		if err != nil {
			return nil, err
		}
		return &proc.Proc{
			Name: svc + "-" + name, Bin: proc.BinPath(cfg.BinDir, svc), Addr: addr, GRPC: true,
			Log: filepath.Join(dir, "logs", svc+"-"+name+".log"), Env: []string{"VOIX_NATS_PASSWORD=" + pass},
			Args: []string{"--listen", addr, "--data-dir", filepath.Join(dir, svc+"-"+name), "--nats-url", strings.Join(urls, ","),
				"--nats-user", chaos.NATSUser, "--tokens-file", tokens, "--secret-file", secretFile,
				"--stream-replicas", fmt.Sprint(Replicas), "--replica", name, "--claim-ttl", writesClaimTTL.String()},
		}, nil
	}
	for _, name := range []string{"r1", "r2"} {
		f, err := newProc("feedback", name)
		if err != nil {
			return res, err
		}
		p, err := newProc("pulse", name)
		if err != nil {
			return res, err
		}
		wr.fb, wr.pl = append(wr.fb, f), append(wr.pl, p)
	}
	defer func() {
		for _, p := range append(append([]*proc.Proc(nil), wr.fb...), wr.pl...) {
			_ = p.Stop()
		}
		for _, cc := range wr.conns {
			cc.Close()
		}
	}()
	for _, p := range append(append([]*proc.Proc(nil), wr.fb...), wr.pl...) {
		if err := p.Start(ctx); err != nil {
			return res, err
		}
	}
	for _, p := range append(append([]*proc.Proc(nil), wr.fb...), wr.pl...) {
		cc, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return res, err
		}
		wr.conns = append(wr.conns, cc)
	}
	wr.fbc = []feedbackv1.FeedbackServiceClient{feedbackv1.NewFeedbackServiceClient(wr.conns[0]), feedbackv1.NewFeedbackServiceClient(wr.conns[1])}
	wr.plc = []pulsev1.PulseServiceClient{pulsev1.NewPulseServiceClient(wr.conns[2]), pulsev1.NewPulseServiceClient(wr.conns[3])}
	// The survey: created once, on the first pulse replica; the second takes answers for it
	// through the shared survey definitions (services/pulse/sharedconfig.go), also after the
	// first is killed.
	if err := wr.createSurvey(ctx); err != nil {
		return res, err
	}
	logf(cfg.Log, "replicas: two feedback and two pulse replicas sharing their marks (claim TTL %v)", writesClaimTTL)

	var err error
	if res.One, err = wr.throughput(ctx, "one", wr.fbc[:1]); err != nil {
		return res, err
	}
	if res.Two, err = wr.throughput(ctx, "two", wr.fbc); err != nil {
		return res, err
	}
	logf(cfg.Log, "replicas: keyed comments/s: one replica %.0f, two %.0f", res.One, res.Two)

	if err := wr.duplicates(ctx, &res); err != nil {
		return res, err
	}
	if err := wr.followUps(ctx, &res); err != nil {
		return res, err
	}
	res.Unavailable = wr.unavail.Load()
	return res, wr.check(ctx, urls, pass, &res)
}

// createSurvey registers the phase's team and creates a survey open now on pulse-r1 only.
func (wr *writes) createSurvey(ctx context.Context) error {
	hr := wr.as(ctx, auth.RoleHR)
	if err := wr.retry(ctx, func(ctx context.Context) error {
		_, err := wr.plc[0].UpsertSegment(hr, &pulsev1.UpsertSegmentRequest{Path: writesOrg + "/eng", Headcount: 50})
		return err
	}); err != nil {
		return fmt.Errorf("replicas: UpsertSegment: %w", err)
	}
	sv := &pulsev1.Survey{
		Title:    &commonv1.LocalizedText{Translations: map[string]string{"en": "Replicas pulse"}},
		Audience: writesOrg, Cadence: pulsev1.Cadence_CADENCE_ONCE, DefaultLanguage: "en",
		Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Now().Add(-time.Minute)), ResponseWindow: durationpb.New(24 * time.Hour)},
		Questions: []*pulsev1.Question{{Id: "load", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD,
			Text: &commonv1.LocalizedText{Translations: map[string]string{"en": "My workload is manageable"}}}},
	}
	return wr.retry(ctx, func(ctx context.Context) error {
		resp, err := wr.plc[0].CreateSurvey(hr, &pulsev1.CreateSurveyRequest{Survey: sv, IdempotencyKey: "replicas-survey"})
		if err == nil {
			wr.survey = resp.Survey.Id
		}
		return err
	})
}

// retry calls f until it succeeds or fails otherwise than Unavailable (or a deadline), for
// at most a minute.
func (wr *writes) retry(ctx context.Context, f func(context.Context) error) error {
	start := time.Now()
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(cctx)
		cancel()
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded:
		default:
			return err
		}
		if time.Since(start) > time.Minute || ctx.Err() != nil {
			return fmt.Errorf("still failing after a minute: %w", err)
		}
		wr.unavail.Add(1)
		if err := chaos.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// throughput sends keyed comments of distinct people round robin to clients for
// writesMeasure and returns how many per second were acknowledged.
func (wr *writes) throughput(ctx context.Context, label string, clients []feedbackv1.FeedbackServiceClient) (float64, error) {
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writesWorkers)
	start := time.Now()
	end := start.Add(writesMeasure)
	for w := range writesWorkers {
		wg.Go(func() {
			sub := wr.as(ctx, auth.RoleSubmitter)
			for i := 0; time.Now().Before(end); i++ {
				req := &feedbackv1.SubmitFeedbackRequest{Segment: writesOrg + "/bench", Text: "The build is slow on Mondays",
					SubmitterRef: fmt.Sprintf("bench-%s-%d-%d", label, w, i), IdempotencyKey: fmt.Sprintf("bench-%s-%d-%d", label, w, i)}
				c := clients[(w+i)%len(clients)]
				if err := wr.retry(ctx, func(ctx context.Context) error {
					_, err := c.SubmitFeedback(sub, req)
					return err
				}); err != nil {
					errs <- fmt.Errorf("replicas: throughput: %w", err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// duplicates runs the duplicate load: each person's keyed comment on both feedback replicas
// at once, their answer on both pulse replicas at once (two keys), then a retry of the
// accepted answer on the other replica. A third of the way in, feedback-r1 and pulse-r1 are
// SIGKILLed; they restart a second later.
func (wr *writes) duplicates(ctx context.Context, res *WritesResult) error {
	type outcome struct {
		ids      [2]string
		token    string // the follow-up code of the first answer
		accepted int    // pulse answers accepted
		refused  int
		retryBad bool
	}
	out := make([]outcome, writesPeople)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	killAt := int64(writesPeople / 3)
	killed := make(chan struct{})
	for range writesWorkers {
		wg.Go(func() {
			sub := wr.as(ctx, auth.RoleSubmitter)
			for {
				i := int(next.Add(1)) - 1
				if i >= writesPeople {
					return
				}
				if int64(i) == killAt {
					go wr.kill(ctx, res, killed)
				}
				ref := fmt.Sprintf("person-%d", i)
				var pw sync.WaitGroup
				var mu sync.Mutex
				var accepted [2]bool
				for r := range 2 {
					pw.Go(func() {
						// Comment: the same request on replica r; on Unavailable (a claim held, a
						// replica down) the caller tries the other replica, as a load balancer would.
						req := &feedbackv1.SubmitFeedbackRequest{Segment: writesOrg + "/eng", Text: "Our on-call rota is unfair",
							SubmitterRef: ref, IdempotencyKey: "comment-" + ref}
						try := r
						if err := wr.retry(ctx, func(ctx context.Context) error {
							resp, err := wr.fbc[try%2].SubmitFeedback(sub, req)
							try++
							if err == nil {
								out[i].ids[r] = resp.FeedbackId
								if r == 0 {
									out[i].token = resp.FollowUpToken
								}
							}
							return err
						}); err != nil {
							fail(fmt.Errorf("replicas: comment of %s: %w", ref, err))
							return
						}
						// Answer: another key on each replica.
						ans := &pulsev1.SubmitResponseRequest{SurveyId: wr.survey, Segment: writesOrg + "/eng", SubmitterRef: ref,
							IdempotencyKey: fmt.Sprintf("answer-%s-%d", ref, r),
							Answers:        []*pulsev1.Answer{{QuestionId: "load", Value: &pulsev1.Answer_Scale{Scale: int32(1 + i%5)}}}}
						try = r
						err := wr.retry(ctx, func(ctx context.Context) error {
							_, err := wr.plc[try%2].SubmitResponse(sub, ans)
							try++
							return err
						})
						mu.Lock()
						defer mu.Unlock()
						switch status.Code(err) {
						case codes.OK:
							out[i].accepted++
							accepted[r] = true
						case codes.AlreadyExists:
							out[i].refused++
						default:
							fail(fmt.Errorf("replicas: answer of %s: %w", ref, err))
						}
					})
				}
				pw.Wait()
				// The accepted answer's retry, on the other replica: a retry, not a refusal.
				for r, ok := range accepted {
					if !ok {
						continue
					}
					ans := &pulsev1.SubmitResponseRequest{SurveyId: wr.survey, Segment: writesOrg + "/eng", SubmitterRef: ref,
						IdempotencyKey: fmt.Sprintf("answer-%s-%d", ref, r),
						Answers:        []*pulsev1.Answer{{QuestionId: "load", Value: &pulsev1.Answer_Scale{Scale: int32(1 + i%5)}}}}
					err := wr.retry(ctx, func(ctx context.Context) error {
						_, err := wr.plc[(r+1)%2].SubmitResponse(sub, ans)
						return err
					})
					if status.Code(err) == codes.AlreadyExists {
						out[i].retryBad = true
					} else if err != nil {
						fail(fmt.Errorf("replicas: retry of %s's answer: %w", ref, err))
					}
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-killed:
	case <-ctx.Done():
		return ctx.Err()
	}
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	ids := map[string]bool{}
	res.People = writesPeople
	for _, o := range out {
		if o.ids[0] != o.ids[1] {
			res.Mismatched++
		}
		for _, id := range o.ids {
			ids[id] = true
		}
		res.Responses += o.accepted
		res.Refused += o.refused
		if o.retryBad {
			res.RetriesRefused++
		}
	}
	res.Comments = len(ids)
	wr.acked = ids
	for i := range out[:min(writesFollowUps, len(out))] {
		wr.codes = append(wr.codes, out[i].token)
	}
	return nil
}

// writesFollowUps is how many people follow their comment up through both replicas.
const writesFollowUps = 24

// followUps has each of the first writesFollowUps people follow their comment up on
// feedback-r1 and then on feedback-r2, as an employee whose chat bot reaches either replica
// behind one address, and then read their thread through each replica: the comment lives on
// one of them, so one follow-up and one read are forwarded (services/feedback/forward.go).
func (wr *writes) followUps(ctx context.Context, res *WritesResult) error {
	sub := wr.as(ctx, auth.RoleSubmitter)
	for i, code := range wr.codes {
		res.FollowUps++
		broken := code == ""
		var texts []string
		for r := range 2 {
			text := fmt.Sprintf("follow-up %d of person %d through replica %d", r+1, i, r+1)
			texts = append(texts, text)
			err := wr.retry(ctx, func(ctx context.Context) error {
				_, err := wr.fbc[r].FollowUp(sub, &feedbackv1.FollowUpRequest{FollowUpToken: code, Text: text})
				return err
			})
			if err != nil {
				logf(wr.cfg.Log, "replicas: follow-up of person-%d through feedback-r%d: %v", i, r+1, err)
				broken = true
			}
		}
		for r := range 2 {
			var thread *feedbackv1.GetThreadResponse
			err := wr.retry(ctx, func(ctx context.Context) error {
				var err error
				thread, err = wr.fbc[r].GetThread(sub, &feedbackv1.GetThreadRequest{FollowUpToken: code})
				return err
			})
			if err != nil {
				logf(wr.cfg.Log, "replicas: thread of person-%d through feedback-r%d: %v", i, r+1, err)
				broken = true
				continue
			}
			for _, want := range texts {
				if !slices.ContainsFunc(thread.Messages, func(m *feedbackv1.Message) bool { return m.Text == want }) {
					logf(wr.cfg.Log, "replicas: thread of person-%d through feedback-r%d lacks %q", i, r+1, want)
					broken = true
				}
			}
		}
		if broken {
			res.FollowUpsBroken++
		}
	}
	return nil
}

// kill SIGKILLs feedback-r1 and pulse-r1 and restarts them a second later.
func (wr *writes) kill(ctx context.Context, res *WritesResult, done chan struct{}) {
	defer close(done)
	for _, p := range []*proc.Proc{wr.fb[0], wr.pl[0]} {
		p.Kill()
	}
	logf(wr.cfg.Log, "replicas: killed %s and %s (SIGKILL)", wr.fb[0].Name, wr.pl[0].Name)
	if chaos.Sleep(ctx, time.Second) != nil {
		return
	}
	for _, p := range []*proc.Proc{wr.fb[0], wr.pl[0]} {
		if err := p.Start(ctx); err != nil {
			logf(wr.cfg.Log, "replicas: restart %s: %v", p.Name, err)
			return
		}
		res.Killed = append(res.Killed, p.Name)
	}
	logf(wr.cfg.Log, "replicas: %s and %s are back", wr.fb[0].Name, wr.pl[0].Name)
}

// check counts the phase's comments and responses on the streams, once the replicas'
// outboxes drained (stopped: a stopped replica publishes nothing more; started again until
// the counts settle).
func (wr *writes) check(ctx context.Context, urls []string, pass string, res *WritesResult) error {
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(chaos.NATSUser, pass), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	seg := segment.MustParse(writesOrg + "/eng")
	// A read right after the NATS kill can meet a JetStream API without a leader yet ("no
	// responders"): retried for up to 30 s before it counts as a failure.
	count := func() (map[string]bool, map[string]bool, error) {
		until := time.Now().Add(30 * time.Second)
		for {
			c, err := streamIDs(ctx, js, events.FeedbackSubmitted.Stream.Name, events.FeedbackSubmitted.Subject(seg))
			var r map[string]bool
			if err == nil {
				r, err = streamIDs(ctx, js, events.PulseResponded.Stream.Name, events.PulseResponded.Subject(seg))
			}
			if err == nil || time.Now().After(until) {
				return c, r, err
			}
			logf(wr.cfg.Log, "replicas: reading the streams: %v; again", err)
			if err := chaos.Sleep(ctx, 500*time.Millisecond); err != nil {
				return nil, nil, err
			}
		}
	}
	// The outboxes relay within a second or two; wait for the counts to reach the people.
	deadline := time.Now().Add(60 * time.Second)
	var comments, responses map[string]bool
	for {
		if comments, responses, err = count(); err != nil {
			return err
		}
		if (len(comments) >= res.People && len(responses) >= res.People) || time.Now().After(deadline) {
			break
		}
		if err := chaos.Sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	// A little longer, so that a late duplicate would be seen too.
	if err := chaos.Sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	if comments, responses, err = count(); err != nil {
		return err
	}
	res.PublishedComments, res.PublishedResponses = len(comments), len(responses)
	for id := range wr.acked {
		if !comments[events.SubmittedID(id)] {
			res.LostComments++
		}
	}
	for _, p := range append(append([]*proc.Proc(nil), wr.fb...), wr.pl...) {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			return err
		}
		res.Conflicts += strings.Count(string(b), "counted twice")
	}
	return wr.results(ctx, res)
}

// results closes the survey and reads the team's results through each pulse replica.
func (wr *writes) results(ctx context.Context, res *WritesResult) error {
	hr := wr.as(ctx, auth.RoleHR)
	if _, err := wr.plc[0].CloseSurvey(hr, &pulsev1.CloseSurveyRequest{SurveyId: wr.survey}); err != nil {
		return fmt.Errorf("close the survey on pulse-r1: %w", err)
	}
	res.Results = make([]uint32, len(wr.plc))
	for i, c := range wr.plc {
		// The close reaches the other replica through the shared survey bucket's watch.
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, err := c.GetResults(hr, &pulsev1.GetResultsRequest{SurveyId: wr.survey, SegmentPrefix: writesOrg + "/eng"})
			if err == nil {
				res.Results[i] = r.GetTotal().GetRespondents()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("results on pulse replica %d: %w", i+1, err)
			}
			if err := chaos.Sleep(ctx, 500*time.Millisecond); err != nil {
				return err
			}
		}
	}
	logf(wr.cfg.Log, "replicas: results counted %v respondents on the pulse replicas for %d people", res.Results, res.People)
	return nil
}

// streamIDs reads the event ids a stream holds on subject.
func streamIDs(ctx context.Context, js jetstream.JetStream, stream, subject string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ids := map[string]bool{}
	err := chaos.ReadStream(ctx, js, stream, []string{subject}, func(m jetstream.Msg) error {
		ids[m.Headers().Get(jetstream.MsgIDHeader)] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
