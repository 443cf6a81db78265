package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

// action is one thing a person or HR does at a simulated instant. The plan holds them all
// before anything is sent; each runs once the demo clock shows its instant (execute).
type action struct {
	id   int
	kind string // what it is, for the plan's tests
	at   time.Time
	// until is when doing it is pointless (a wave closes); zero: never.
	until time.Time
	// dep must have succeeded first (the comment HR answers).
	dep  *action
	do   func(ctx context.Context, a *action) error
	done chan struct{}
	ok   bool
	// Of a comment, for what follows it.
	feedbackID, code string
}

// rng is the action's own randomness: the same whatever ran before it.
func (a *action) rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1<<40|uint64(a.id))) }

// trigger is the action's Slack trigger_id, which makes its requests unique.
func (a *action) trigger(seed uint64) string { return fmt.Sprintf("%d.%d", seed, a.id) }

// plan decides, from rng, everything people and HR do over the weeks.
func (r *run) plan(rng *rand.Rand) []*action {
	var actions []*action
	end := r.end().Add(-2 * time.Hour)
	add := func(kind string, at time.Time, dep *action, do func(context.Context, *action) error) *action {
		if !at.Before(end) && kind != "weekly" {
			return nil
		}
		a := &action{id: len(actions), kind: kind, at: at, dep: dep, do: do, done: make(chan struct{})}
		actions = append(actions, a)
		return a
	}
	during := func(from time.Time, lo, hi float64) time.Time {
		return from.Add(time.Duration((lo + rng.Float64()*(hi-lo)) * float64(day)))
	}
	// Nothing but the last wave counts for sentiment in the week the clock catches up (see
	// finalWave): what would fall in it comes just before it, or not at all when its survey
	// is not open then.
	quiet := r.quietFrom()
	hush := func(at, notBefore time.Time) (time.Time, bool) {
		if at.Before(quiet) {
			return at, true
		}
		at = quiet.Add(-time.Minute - at.Sub(quiet)/100)
		return at, !at.Before(notBefore)
	}
	r.final = nil

	// The weekly pulse: people answer within three days, more of them early; the last wave,
	// which opens in the week the clock catches up, before it has (see scheduleWeekly).
	for k := 1; k <= r.nWaves; k++ {
		opens := r.weeklyOpens(k)
		closes := opens.Add(weeklyWindow)
		// How far into the plan the wave is, by its number only: the same answers whatever
		// the day and time the demo runs.
		f := min((float64(k-1)*7+1.5)/(7*float64(r.weeks)), 1)
		for _, p := range r.w.people {
			if rng.Float64() >= p.participation(f) {
				continue
			}
			at := opens.Add(time.Hour + time.Duration(math.Pow(rng.Float64(), 1.5)*float64(68*time.Hour)))
			if k == r.nWaves {
				r.final = append(r.final, p) // answers in finalWave, after everything else
				continue
			}
			if a := add("weekly", at, nil, r.respond(p, r.weekly, uint32(k), func(c *Counts) { c.WeeklyResponses++ })); a != nil {
				a.until = closes.Add(-30 * time.Minute)
			}
		}
	}
	// The diagnostic: a bit more than half of the people, over eight of its ten days.
	if opens, ok := r.diagnosticOpens(); ok {
		for _, p := range r.w.people {
			if rng.Float64() >= min(0.62*p.zeal, 0.95) {
				continue
			}
			at, ok := hush(during(opens.Add(2*time.Hour), 0, 8), opens.Add(time.Hour))
			if !ok {
				continue
			}
			if a := add("diagnostic", at, nil, r.respond(p, r.diagnostic, 1, func(c *Counts) { c.DiagnosticResponses++ })); a != nil {
				a.until = opens.Add(diagnosticWindow - 30*time.Minute)
			}
		}
	}
	// Newcomers answer the onboarding survey once it is pending for them (30 days after they
	// started, to the day, for 14 days).
	for _, p := range r.w.people {
		if !p.newcomer || rng.Float64() >= 0.85 {
			continue
		}
		invited := r.started(p).Add(onboardingDelay).UTC().Truncate(day)
		closes := invited.Add(onboardingWindow)
		at, ok := hush(during(later(invited, r.base).Add(12*time.Hour), 0, 3), later(invited, r.base).Add(time.Hour))
		if ok && at.Before(closes.Add(-time.Hour)) {
			if a := add("onboarding", at, nil, r.respond(p, r.onboarding, 0, func(c *Counts) { c.OnboardingResponses++ })); a != nil {
				a.until = closes.Add(-time.Hour)
			}
		}
	}
	// Comments, about one per person over twelve weeks, and what follows them.
	n := max(12, len(r.w.people)*r.weeks/12)
	span := r.end().Sub(r.base) - 16*time.Hour
	for range n {
		at, _ := hush(r.base.Add(4*time.Hour+time.Duration(rng.Float64()*float64(span))), r.base)
		f := r.frac(at)
		p := r.author(rng, f)
		d, pol := p.topic(rng, f)
		c := add("comment", at, nil, r.comment(p, comment(rng, d, pol, p.lang)))
		if c == nil {
			continue
		}
		r.planLoop(rng, add, during, c, p, pol)
	}
	// Every team's CX tool reports its customers' week (cx.go).
	r.planCX(add)
	slices.SortStableFunc(actions, func(a, b *action) int { return a.at.Compare(b.at) })
	return actions
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// author picks who comments at fraction f: some people speak more than others, and the teams
// of the story more and more.
func (r *run) author(rng *rand.Rand, f float64) *person {
	weight := func(p *person) float64 {
		switch p.team.story {
		case overload:
			return p.talk * (1 + 2*f)
		case recognition:
			return p.talk * (1 + 1.5*f)
		}
		return p.talk
	}
	total := 0.0
	for _, p := range r.w.people {
		total += weight(p)
	}
	x := rng.Float64() * total
	for _, p := range r.w.people {
		if x -= weight(p); x < 0 {
			return p
		}
	}
	return r.w.people[len(r.w.people)-1]
}

// planLoop plans what follows comment c by p: HR acknowledges most comments within days,
// replies to half of them, moves some on to in progress, resolved or declined; authors follow
// up on some replies; colleagues of the department upvote some comments.
func (r *run) planLoop(rng *rand.Rand, add func(string, time.Time, *action, func(context.Context, *action) error) *action,
	during func(time.Time, float64, float64) time.Time, c *action, p *person, pol polarity) {
	l := langIndex(p.lang)
	status := func(prev *action, at time.Time, to commonv1.FeedbackStatus, notes [2][]string) *action {
		if prev == nil {
			return nil
		}
		return add("status", at, prev, r.setStatus(c, to, pick(rng, notes[l])))
	}
	if rng.Float64() < 0.3 {
		var voters []*person
		for _, v := range r.w.people {
			if v != p && !v.chat && v.team.dept == p.team.dept {
				voters = append(voters, v)
			}
		}
		for _, i := range rng.Perm(len(voters))[:min(1+rng.IntN(5), len(voters))] {
			add("upvote", during(c.at, 0.2, 4), c, r.upvote(c, voters[i]))
		}
	}
	if rng.Float64() >= 0.8 {
		return // left unread: an open loop
	}
	ack := status(c, during(c.at, 0.3, 3.5), commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED, ackNotes)
	if ack == nil {
		return
	}
	if rng.Float64() < 0.55 {
		reply := add("reply", during(ack.at, 0.05, 1), ack, r.reply(c, pick(rng, replies[pol][l])))
		if reply != nil && rng.Float64() < 0.4 {
			add("follow-up", during(reply.at, 0.5, 3), reply, r.followUp(c, p, pick(rng, followUps[l])))
		}
	}
	switch x := rng.Float64(); {
	case x < 0.45:
		ip := status(ack, during(ack.at, 1, 5), commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS, progressNotes)
		if rng.Float64() < 0.65 {
			status(ip, during(ack.at, 6, 16), commonv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED, resolvedNotes)
		} else if rng.Float64() < 0.15 {
			status(ip, during(ack.at, 6, 12), commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED, declinedNotes)
		}
	case x < 0.55:
		status(ack, during(ack.at, 1, 4), commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED, declinedNotes)
	case x < 0.7:
		status(ack, during(ack.at, 1, 6), commonv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED, resolvedNotes)
	}
}

// codeRE finds the follow-up code in the bot's answer.
var codeRE = regexp.MustCompile("`([A-Z2-7]{26})`")

// comment files text by p: through /feedback for a chat user, SubmitFeedback for the others.
func (r *run) comment(p *person, text string) func(context.Context, *action) error {
	return func(ctx context.Context, a *action) error {
		if !p.chat {
			var resp *feedbackv1.SubmitFeedbackResponse
			err := transient(ctx, func() (err error) {
				resp, err = r.feedback.SubmitFeedback(r.sub(ctx), &feedbackv1.SubmitFeedbackRequest{
					Segment: p.team.path, Text: text, Channel: feedbackv1.Channel_CHANNEL_WEB, SubmitterRef: p.ref,
					IdempotencyKey: fmt.Sprintf("voix-demo-%d-%d", r.cfg.Seed, a.id), Language: p.lang,
				})
				return err
			})
			if err != nil {
				return fmt.Errorf("SubmitFeedback: %w", err)
			}
			a.feedbackID, a.code = resp.FeedbackId, resp.FollowUpToken
			r.add(func(c *Counts) { c.WebComments++ })
			return nil
		}
		if err := r.pickTeam(ctx, p); err != nil {
			return err
		}
		answer, err := r.slash(ctx, p.user, "/feedback", text, a.trigger(r.cfg.Seed))
		if err != nil {
			return err
		}
		m := codeRE.FindStringSubmatch(answer)
		if m == nil {
			return fmt.Errorf("/feedback: the bot answered %q", answer)
		}
		// The author's view of the thread, as the bot shows it with /feedback status, holds
		// the comment's id, which HR sees too.
		var th *feedbackv1.GetThreadResponse
		err = transient(ctx, func() (err error) {
			th, err = r.feedback.GetThread(r.sub(ctx), &feedbackv1.GetThreadRequest{FollowUpToken: m[1]})
			return err
		})
		if err != nil {
			return fmt.Errorf("GetThread: %w", err)
		}
		a.feedbackID, a.code = th.Feedback.Id, m[1]
		r.add(func(c *Counts) { c.ChatComments++ })
		return nil
	}
}

// pickTeam makes a chat user the directory does not know pick their team and language, once,
// before the first thing they do in chat.
func (r *run) pickTeam(ctx context.Context, p *person) error {
	if p.known {
		return nil
	}
	r.mu.Lock()
	po := r.picked[p.id]
	if po == nil {
		po = &pickOnce{}
		r.picked[p.id] = po
	}
	r.mu.Unlock()
	po.once.Do(func() {
		trigger := fmt.Sprintf("%d.team.%d", r.cfg.Seed, p.id)
		answer, err := r.slash(ctx, p.user, "/feedback", "team "+p.team.path, trigger)
		if err == nil && !strings.Contains(answer, p.team.path) {
			err = fmt.Errorf("/feedback team: the bot answered %q", answer)
		}
		if err == nil {
			_, err = r.slash(ctx, p.user, "/feedback", "lang "+p.lang, trigger+".lang")
		}
		if err == nil {
			r.add(func(c *Counts) { c.TeamPicks++ })
		}
		po.err = err
	})
	return po.err
}

var (
	errNotOpenYet = errors.New("not open yet")
	// errLate is returned by an action that came too late: the demo could not keep up.
	errLate = errors.New("too late")
)

// respond answers survey for p: wave is the wave to answer, or 0 for the one open now (a
// lifecycle cohort). A chat user types /pulse answer, one answer per question in the order
// the bot lists them (the wave's, which the demo reads once as HR); the others answer through
// the intranet app, which lists what is pending for them (ListPendingSurveys).
func (r *run) respond(p *person, survey string, wave uint32, count func(*Counts)) func(context.Context, *action) error {
	return func(ctx context.Context, a *action) error {
		f := r.frac(a.at)
		for attempt := 0; ; attempt++ {
			// The scheduler adds a wave at its first pass after it opens: wait for it a little.
			retry := func() error {
				switch {
				case r.clock.Now().After(a.until):
					return errLate // closed while the demo was catching up
				case attempt >= 200:
					return fmt.Errorf("survey %s wave %d is not open for a person who has not answered it", survey, wave)
				}
				return sleep(ctx, 20*time.Millisecond)
			}
			rng := a.rng(r.cfg.Seed)
			if p.chat {
				if err := r.pickTeam(ctx, p); err != nil {
					return err
				}
				qs, err := r.waveQuestions(ctx, survey, wave)
				if errors.Is(err, errNotOpenYet) {
					if err := retry(); err != nil {
						return err
					}
					continue
				}
				if err != nil {
					return err
				}
				var parts []string
				for _, q := range qs {
					s, _ := p.answer(rng, q, f)
					parts = append(parts, s)
				}
				answer, err := r.slash(ctx, p.user, "/pulse", "answer "+survey+" "+strings.Join(parts, "; "), a.trigger(r.cfg.Seed))
				if err != nil {
					return err
				}
				switch {
				// The bot answers in the person's language (gateway, pulse.go).
				case strings.Contains(answer, "are in"), strings.Contains(answer, "You already answered"),
					strings.Contains(answer, "sont bien arrivées"), strings.Contains(answer, "Vous avez déjà répondu"):
					// Already: an earlier try went in after the bot had given up waiting.
					r.add(func(c *Counts) { count(c); c.ChatResponses++ })
					return nil
				case strings.Contains(answer, "closed now"), strings.Contains(answer, "est clos maintenant"):
					return errLate
				case strings.Contains(answer, "no open survey"), strings.Contains(answer, "pas de questionnaire ouvert"):
					if err := retry(); err != nil {
						return err
					}
					continue
				}
				return fmt.Errorf("/pulse answer: the bot answered %q", answer)
			}
			var pending *pulsev1.ListPendingSurveysResponse
			err := transient(ctx, func() (err error) {
				pending, err = r.pulse.ListPendingSurveys(r.sub(ctx), &pulsev1.ListPendingSurveysRequest{
					SubmitterRef: p.ref, Segment: p.team.path, Language: p.lang,
				})
				return err
			})
			if err != nil {
				return fmt.Errorf("ListPendingSurveys: %w", err)
			}
			i := slices.IndexFunc(pending.Surveys, func(s *pulsev1.PendingSurvey) bool {
				return s.SurveyId == survey && (wave == 0 || s.Wave == wave)
			})
			if i < 0 {
				if err := retry(); err != nil {
					return err
				}
				continue
			}
			ps := pending.Surveys[i]
			var answers []*pulsev1.Answer
			for _, pq := range ps.Questions {
				q := r.dims[survey][pq.Id]
				q.id, q.kind = pq.Id, pq.Kind
				if _, an := p.answer(rng, q, f); an != nil {
					answers = append(answers, an)
				}
			}
			err = transient(ctx, func() error {
				_, err := r.pulse.SubmitResponse(r.sub(ctx), &pulsev1.SubmitResponseRequest{
					SurveyId: survey, Wave: ps.Wave, Segment: p.team.path, SubmitterRef: p.ref,
					IdempotencyKey: fmt.Sprintf("voix-demo-%d-%d", r.cfg.Seed, a.id), Answers: answers,
				})
				return err
			})
			if status.Code(err) == codes.FailedPrecondition {
				return errLate // the wave closed while the demo was catching up
			}
			if err != nil {
				return fmt.Errorf("SubmitResponse: %w", err)
			}
			r.add(count)
			return nil
		}
	}
}

// waveQuestions are the questions of a wave of survey, in order, as the bot lists them: wave
// 0 is the one open now.
func (r *run) waveQuestions(ctx context.Context, survey string, wave uint32) ([]question, error) {
	r.mu.Lock()
	qs, ok := r.waves[waveKey{survey, wave}]
	r.mu.Unlock()
	if ok && wave != 0 {
		return qs, nil
	}
	resp, err := r.pulse.GetSurvey(r.hr(ctx), &pulsev1.GetSurveyRequest{SurveyId: survey})
	if err != nil {
		return nil, fmt.Errorf("GetSurvey: %w", err)
	}
	now := r.clock.Now()
	i := slices.IndexFunc(resp.Survey.Waves, func(w *pulsev1.Wave) bool {
		if wave != 0 {
			return w.Number == wave
		}
		return !now.Before(w.OpensAt.AsTime()) && now.Before(w.ClosesAt.AsTime())
	})
	if i < 0 {
		return nil, errNotOpenYet
	}
	qs = nil
	for _, id := range resp.Survey.Waves[i].QuestionIds {
		qs = append(qs, r.dims[survey][id])
	}
	if wave != 0 {
		r.mu.Lock()
		r.waves[waveKey{survey, wave}] = qs
		r.mu.Unlock()
	}
	return qs, nil
}

// answer is p's answer to q at fraction f: as typed after /pulse answer ("-" to skip), and as
// an app sends it (nil to skip). About a third of the people write something in a text
// question.
func (p *person) answer(rng *rand.Rand, q question, f float64) (string, *pulsev1.Answer) {
	switch q.kind {
	case commonv1.QuestionKind_QUESTION_KIND_SCALE:
		v := p.scale(rng, q.dim, f)
		return fmt.Sprint(v), &pulsev1.Answer{QuestionId: q.id, Value: &pulsev1.Answer_Scale{Scale: v}}
	case commonv1.QuestionKind_QUESTION_KIND_ENPS:
		v := p.enps(rng, f)
		return fmt.Sprint(v), &pulsev1.Answer{QuestionId: q.id, Value: &pulsev1.Answer_Enps{Enps: v}}
	case commonv1.QuestionKind_QUESTION_KIND_TEXT:
		if rng.Float64() < 0.33 {
			d, pol := p.topic(rng, f)
			text := strings.ReplaceAll(sentence(rng, d, pol, p.lang), ";", ",")
			return text, &pulsev1.Answer{QuestionId: q.id, Value: &pulsev1.Answer_Text{Text: text}}
		}
	}
	return "-", nil
}

// setStatus moves comment c to status to with a note, as HR.
func (r *run) setStatus(c *action, to commonv1.FeedbackStatus, note string) func(context.Context, *action) error {
	return func(ctx context.Context, _ *action) error {
		if _, err := r.feedback.UpdateStatus(r.hr(ctx), &feedbackv1.UpdateStatusRequest{FeedbackId: c.feedbackID, Status: to, Note: note}); err != nil {
			return fmt.Errorf("UpdateStatus to %s: %w", to, err)
		}
		r.add(func(c *Counts) { c.StatusChanges++ })
		return nil
	}
}

// reply answers comment c, as HR.
func (r *run) reply(c *action, text string) func(context.Context, *action) error {
	return func(ctx context.Context, _ *action) error {
		if _, err := r.feedback.Reply(r.hr(ctx), &feedbackv1.ReplyRequest{FeedbackId: c.feedbackID, Text: text}); err != nil {
			return fmt.Errorf("Reply: %w", err)
		}
		r.add(func(c *Counts) { c.Replies++ })
		return nil
	}
}

// followUp is the author p of comment c answering in its thread, with its follow-up code.
func (r *run) followUp(c *action, p *person, text string) func(context.Context, *action) error {
	return func(ctx context.Context, a *action) error {
		if p.chat {
			answer, err := r.slash(ctx, p.user, "/feedback", "reply "+c.code+" "+text, a.trigger(r.cfg.Seed))
			if err != nil {
				return err
			}
			if !strings.Contains(answer, "Sent") {
				return fmt.Errorf("/feedback reply: the bot answered %q", answer)
			}
		} else if _, err := r.feedback.FollowUp(r.sub(ctx), &feedbackv1.FollowUpRequest{FollowUpToken: c.code, Text: text}); err != nil {
			return fmt.Errorf("FollowUp: %w", err)
		}
		r.add(func(c *Counts) { c.FollowUps++ })
		return nil
	}
}

// upvote is v agreeing with comment c in the intranet app.
func (r *run) upvote(c *action, v *person) func(context.Context, *action) error {
	return func(ctx context.Context, _ *action) error {
		resp, err := r.feedback.Upvote(r.sub(ctx), &feedbackv1.UpvoteRequest{FeedbackId: c.feedbackID, SubmitterRef: v.ref})
		if err != nil {
			return fmt.Errorf("Upvote: %w", err)
		}
		if resp.Counted {
			r.add(func(c *Counts) { c.Upvotes++ })
		}
		return nil
	}
}

// execute runs the actions, each once the demo clock shows its instant, Workers at a time. When
// the suite is slower than the clock, the due actions with the nearest deadline (answers to a
// wave that closes soon) go first; the others wait their turn in the order of their instants,
// so that what follows a comment never overtakes it. It stops at the tenth failure.
func (r *run) execute(ctx context.Context, actions []*action) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := &readyQueue{}
	q.cond = sync.NewCond(&q.mu)
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() {
			for {
				a, ok := q.pop()
				if !ok {
					return
				}
				r.perform(ctx, a, cancel)
			}
		})
	}
	shown := 0
	progress := func(upTo time.Time) {
		for shown < r.weeks && !upTo.Before(r.base.Add(time.Duration(shown+1)*week)) {
			shown++
			r.mu.Lock()
			c := r.counts
			r.mu.Unlock()
			fmt.Fprintf(r.cfg.Out, "  week %2d/%d (to %s): %d responses, %d comments, %d replies so far\n", shown, r.weeks,
				r.base.Add(time.Duration(shown)*week).In(r.loc).Format("Mon 2 Jan"),
				c.WeeklyResponses+c.DiagnosticResponses+c.OnboardingResponses, c.ChatComments+c.WebComments, c.Replies)
		}
	}
	for _, a := range actions {
		progress(a.at)
		if err := sleep(ctx, time.Until(r.clock.RealAt(a.at))); err != nil {
			break
		}
		q.push(a)
	}
	q.close()
	wg.Wait()
	progress(r.end())
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		return fmt.Errorf("%d actions failed, the first: %w", len(r.errs), r.errs[0])
	}
	return ctx.Err()
}

// readyQueue holds the actions that are due, nearest deadline first, then in plan order.
type readyQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	due    []*action
	closed bool
}

func (q *readyQueue) push(a *action) {
	q.mu.Lock()
	q.due = append(q.due, a)
	q.mu.Unlock()
	q.cond.Signal()
}

func (q *readyQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// pop takes the most urgent due action, waiting for one; false once closed and empty.
func (q *readyQueue) pop() (*action, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.due) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.due) == 0 {
		return nil, false
	}
	best := 0
	for i, a := range q.due {
		if urgent(a, q.due[best]) {
			best = i
		}
	}
	a := q.due[best]
	q.due = slices.Delete(q.due, best, best+1)
	return a, true
}

// urgent orders due actions: those with a deadline first, nearest first; then in plan order,
// which puts a comment before what follows it.
func urgent(a, b *action) bool {
	switch {
	case a.until.IsZero() != b.until.IsZero():
		return !a.until.IsZero()
	case !a.until.Equal(b.until):
		return a.until.Before(b.until)
	}
	return a.at.Before(b.at) || a.at.Equal(b.at) && a.id < b.id
}

func (r *run) perform(ctx context.Context, a *action, cancel func()) {
	defer close(a.done)
	if a.dep != nil {
		<-a.dep.done
		if !a.dep.ok {
			return
		}
	}
	if ctx.Err() != nil {
		return
	}
	if !a.until.IsZero() && r.clock.Now().After(a.until) {
		r.add(func(c *Counts) { c.Late++ })
		return
	}
	err := a.do(ctx, a)
	if errors.Is(err, errLate) {
		r.add(func(c *Counts) { c.Late++ })
		return
	}
	if err != nil {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		if len(r.errs) >= 10 {
			cancel()
		}
		r.mu.Unlock()
		return
	}
	a.ok = true
}
