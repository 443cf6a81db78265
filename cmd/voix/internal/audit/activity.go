package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/gateway"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
)

// The survey's questions: a scale, an eNPS and a free text, in two dimensions and "all".
var questions = []struct {
	id   string
	kind commonv1.QuestionKind
	dim  commonv1.Dimension
	fr   string
	en   string
}{
	{"load", commonv1.QuestionKind_QUESTION_KIND_SCALE, commonv1.Dimension_DIMENSION_WORKLOAD, "Ma charge de travail est tenable", "My workload is manageable"},
	{"enps", commonv1.QuestionKind_QUESTION_KIND_ENPS, commonv1.Dimension_DIMENSION_ECOSYSTEM, "Recommanderiez-vous l'entreprise ?", "Would you recommend the company?"},
	{"say", commonv1.QuestionKind_QUESTION_KIND_TEXT, commonv1.Dimension_DIMENSION_CONNECTIONS, "Un mot pour l'équipe ?", "Anything to add?"},
}

// codeRE finds a follow-up code in the bot's answer.
var codeRE = regexp.MustCompile("`([A-Z2-7]{26})`")

// setup is what HR does before anyone speaks: register the teams' headcounts in both services,
// load the chat directory (some chat users are left out: they pick their team), and open a
// weekly survey.
func (r *run) setup(ctx context.Context) error {
	hr := r.as(ctx, auth.RoleHR)
	segs := r.w.segments()
	for seg, n := range segs {
		if _, err := r.pl.UpsertSegment(hr, &pulsev1.UpsertSegmentRequest{Path: seg, Headcount: uint32(n)}); err != nil {
			return fmt.Errorf("pulse UpsertSegment %s: %w", seg, err)
		}
	}
	// The registry reaches the feedback service as events: wait until it holds every team.
	if err := waitFor(60*time.Second, func() error {
		resp, err := r.fb.ListSegments(hr, &feedbackv1.ListSegmentsRequest{SegmentPrefix: org, PageSize: 1000})
		if err != nil {
			return err
		}
		if len(resp.Segments) != len(segs) {
			return fmt.Errorf("the feedback service holds %d of the %d registered segments", len(resp.Segments), len(segs))
		}
		return nil
	}); err != nil {
		return err
	}
	var entries []gateway.Entry
	for _, p := range r.w.people {
		if p.chat && p.known {
			entries = append(entries, gateway.Entry{TeamID: workspace, UserID: p.userID, Segment: p.team.String(), Language: p.lang})
		}
	}
	body, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+r.gateway.Addr+"/admin/directory", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.tokens[auth.RoleHR])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT /admin/directory: HTTP %d %s", resp.StatusCode, b)
	}
	sv := &pulsev1.Survey{
		Title:           &commonv1.LocalizedText{Translations: map[string]string{"fr": "Pulse de la semaine", "en": "Weekly pulse"}},
		Audience:        org,
		Cadence:         pulsev1.Cadence_CADENCE_WEEKLY,
		Schedule:        &pulsev1.Schedule{FirstOpensAt: timestamppb.New(r.w.day(r.days[0]).Add(-time.Hour)), ResponseWindow: durationpb.New(36 * time.Hour)},
		DefaultLanguage: "en",
	}
	for _, q := range questions {
		sv.Questions = append(sv.Questions, &pulsev1.Question{Id: q.id, Kind: q.kind, Dimension: q.dim,
			Text: &commonv1.LocalizedText{Translations: map[string]string{"fr": q.fr, "en": q.en}}})
	}
	created, err := r.pl.CreateSurvey(hr, &pulsev1.CreateSurveyRequest{Survey: sv})
	if err != nil {
		return fmt.Errorf("CreateSurvey: %w", err)
	}
	r.surveyID = created.Survey.Id
	for _, p := range r.w.people {
		if !p.chat {
			r.subjects = append(r.subjects, p.id)
			if len(r.subjects) == 2 {
				break
			}
		}
	}
	return nil
}

// slash posts a signed slash command from chat user user, as Slack would, and returns the
// bot's answer.
func (r *run) slash(ctx context.Context, user, command, text string) (string, error) {
	body := url.Values{"command": {command}, "text": {text}, "user_id": {user}, "team_id": {workspace}, "trigger_id": {"13345224609.738474920.8088930838d88f008e0"}}.Encode()
	// The gateway's clock is the day's: sign with it.
	ts := strconv.FormatInt(time.Now().Add(r.offset).Unix(), 10)
	mac := hmac.New(sha256.New, []byte(r.signingSecret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.gateway.Addr+"/slack/commands", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(gateway.HeaderTimestamp, ts)
	req.Header.Set(gateway.HeaderSignature, "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %q: HTTP %d %s", command, text, resp.StatusCode, b)
	}
	var out struct{ Text string }
	if err := json.Unmarshal(b, &out); err != nil {
		return "", fmt.Errorf("%s: answer %q: %w", command, b, err)
	}
	return out.Text, nil
}

// act is one day of activity.
func (r *run) act(ctx context.Context, d int) error {
	if err := r.awaitSurveyItems(ctx, d); err != nil {
		return err
	}
	n := 7
	if r.cfg.Short {
		n = 4
	}
	// The linkage subjects speak on the first two days, and answer both waves.
	var speakers []*person
	if d == r.days[0] || d == r.days[1] {
		for _, id := range r.subjects {
			speakers = append(speakers, r.w.people[id])
		}
	}
	speakers = append(speakers, r.w.pick(n)...)
	for _, p := range speakers {
		if err := r.comment(ctx, p, d); err != nil {
			return err
		}
	}
	if err := r.mistakes(ctx, d); err != nil {
		return err
	}
	if err := r.loop(ctx); err != nil {
		return err
	}
	if wave := r.openWave(d); wave > 0 {
		respondents := r.w.pick(len(r.w.people) * 2 / 3)
		for _, id := range r.subjects {
			respondents = append(respondents, r.w.people[id])
		}
		seen := map[int]bool{}
		for _, p := range respondents {
			if seen[p.id] || r.answered[wave][p.id] != nil {
				continue
			}
			seen[p.id] = true
			if err := r.respond(ctx, p, d, wave); err != nil {
				return err
			}
		}
	}
	return nil
}

// openWave is the wave open on day d (opens at 09:00 on days 0 and 7, for 36 hours), or 0.
func (r *run) openWave(d int) uint32 {
	switch d - r.days[0] {
	case 0, 1:
		return 1
	case 7, 8:
		return 2
	}
	return 0
}

// comment files one comment by p: through the gateway for a chat user (picking their team
// first when the directory does not know them), through gRPC for the others.
func (r *run) comment(ctx context.Context, p *person, d int) error {
	text := r.w.commentText(p)
	if slices.Contains(r.subjects, p.id) {
		// The linkage subjects say something different each day: the same words twice
		// would link their comments by content, which is theirs to choose.
		ts := commentTexts[p.lang]
		text = ts[(d+p.id)%len(ts)]
	}
	it := &item{person: p.id, day: d, kind: "comment", text: text}
	if p.chat {
		answer, err := r.slash(ctx, p.userID, "/feedback", text)
		if err != nil {
			return err
		}
		if !p.known && !codeRE.MatchString(answer) {
			// Not sent: the person picks their team, typed as people type it, and sends again.
			if !strings.Contains(answer, "not send") {
				r.res.Hits = append(r.res.Hits, fmt.Sprintf("gateway: a person the directory does not know was answered %q: not told plainly that nothing was sent", answer))
			}
			if _, err := r.slash(ctx, p.userID, "/feedback", "team `"+strings.ToUpper(p.team.String()[:1])+p.team.String()[1:]+"`"); err != nil {
				return err
			}
			if answer, err = r.slash(ctx, p.userID, "/feedback", text); err != nil {
				return err
			}
		}
		m := codeRE.FindStringSubmatch(answer)
		if m == nil {
			return fmt.Errorf("chat comment by person %d not filed: the bot answered %q", p.id, answer)
		}
		it.code = m[1]
	} else {
		resp, err := r.fb.SubmitFeedback(r.as(ctx, auth.RoleSubmitter), &feedbackv1.SubmitFeedbackRequest{
			Segment: p.team.String(), Text: text, Channel: feedbackv1.Channel_CHANNEL_WEB, SubmitterRef: p.ref,
			IdempotencyKey: fmt.Sprintf("web-%d-%d-%d", p.id, d, len(r.w.items)),
		})
		if err != nil {
			return fmt.Errorf("SubmitFeedback: %w", err)
		}
		it.code, it.id = resp.FollowUpToken, resp.FeedbackId
	}
	th, err := r.fb.GetThread(r.as(ctx, auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: it.code})
	if err != nil {
		return fmt.Errorf("GetThread of a new comment: %w", err)
	}
	it.id = th.Feedback.Id
	an, err := r.st.AnalyzeText(r.as(ctx, auth.RoleHR), &sentimentv1.AnalyzeTextRequest{Text: text})
	if err != nil {
		return fmt.Errorf("AnalyzeText: %w", err)
	}
	it.scored = map[commonv1.Dimension]int{0: 1}
	for _, ds := range an.Dimensions {
		it.dims = append(it.dims, ds.Dimension)
		it.scored[ds.Dimension] = 1
	}
	r.comments++
	if err := r.settle(ctx, events.FeedbackSubmitted, events.DurableSentimentFeedback, r.comments); err != nil {
		return err
	}
	r.w.items = append(r.w.items, it)
	r.l.apply(it)
	return nil
}

// mistakes are what people get wrong in chat: the code pasted as the bot showed it, with a
// full stop, in lower case, "reply" without text, a code inside a comment, a mistyped team.
// None may become a comment; the right ones reach the thread.
func (r *run) mistakes(ctx context.Context, d int) error {
	var mine *item
	for i := len(r.w.items) - 1; i >= 0; i-- {
		if it := r.w.items[i]; it.kind == "comment" && r.w.people[it.person].chat && r.w.people[it.person].known {
			mine = it
			break
		}
	}
	if mine == nil {
		return nil
	}
	user := r.w.people[mine.person].userID
	for _, text := range []string{
		"status `" + mine.code + "`",
		"status " + strings.ToLower(mine.code) + ".",
		"Status " + mine.code + "!",
		"reply " + mine.code,
		"reply `" + mine.code + "` merci, toujours d'actualité",
		"mon code est " + mine.code + " au cas où",
		"team Acme/Sales/",
		"team acme/direction/comex",
		"status",
	} {
		if _, err := r.slash(ctx, user, "/feedback", text); err != nil {
			return err
		}
	}
	return nil
}

// loop is HR closing the loop: replies and status changes on some comments, and upvotes by
// people who agree.
func (r *run) loop(ctx context.Context) error {
	hr := r.as(ctx, auth.RoleHR)
	sub := r.as(ctx, auth.RoleSubmitter)
	next := map[commonv1.FeedbackStatus]commonv1.FeedbackStatus{
		commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW:          commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED,
		commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED: commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS,
		commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS:  commonv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED,
	}
	for i, it := range r.w.items {
		if it.kind != "comment" || i%3 != 0 {
			continue
		}
		got, err := r.fb.GetFeedback(hr, &feedbackv1.GetFeedbackRequest{FeedbackId: it.id})
		if err != nil {
			return fmt.Errorf("GetFeedback: %w", err)
		}
		if to, ok := next[got.Feedback.Status]; ok {
			if _, err := r.fb.UpdateStatus(hr, &feedbackv1.UpdateStatusRequest{FeedbackId: it.id, Status: to, Note: "Merci, on s'en occupe"}); err != nil {
				return fmt.Errorf("UpdateStatus: %w", err)
			}
		}
		if _, err := r.fb.Reply(hr, &feedbackv1.ReplyRequest{FeedbackId: it.id, Text: "Thanks, can you tell us more?"}); err != nil {
			return fmt.Errorf("Reply: %w", err)
		}
		p := r.w.people[it.person]
		if !p.chat {
			if _, err := r.fb.FollowUp(sub, &feedbackv1.FollowUpRequest{FollowUpToken: it.code, Text: "Yes, it happens every week"}); err != nil {
				return fmt.Errorf("FollowUp: %w", err)
			}
		}
		for _, v := range r.w.pick(3) {
			if v.chat || v.id == it.person {
				continue
			}
			if _, err := r.fb.Upvote(sub, &feedbackv1.UpvoteRequest{FeedbackId: it.id, SubmitterRef: v.ref}); err != nil {
				return fmt.Errorf("Upvote: %w", err)
			}
		}
	}
	return nil
}

// respond answers the open wave for p: through /pulse for a chat user, gRPC otherwise.
func (r *run) respond(ctx context.Context, p *person, d int, wave uint32) error {
	load, enps := 1+r.w.rng.IntN(5), r.w.rng.IntN(11)
	say := fmt.Sprintf("%s (%d)", []string{"Bonne semaine dans l'ensemble", "Trop de réunions", "Good week overall", "Too many meetings"}[r.w.rng.IntN(4)], len(r.textAuthor)+1)
	it := &item{person: p.id, day: d, kind: "response", wave: wave,
		dims:   []commonv1.Dimension{questions[0].dim, questions[1].dim, questions[2].dim},
		scored: map[commonv1.Dimension]int{0: 2, questions[0].dim: 1, questions[2].dim: 1},
		enps:   map[commonv1.Dimension]int{0: 1, questions[1].dim: 1},
	}
	if p.chat && p.known {
		answer, err := r.slash(ctx, p.userID, "/pulse", fmt.Sprintf("answer %s %d; %d; %s", r.surveyID, load, enps, say))
		if err != nil {
			return err
		}
		if !strings.Contains(answer, "are in") && !strings.Contains(answer, "sont bien arrivées") { // the bot speaks the person's language
			return fmt.Errorf("/pulse answer by person %d: %q", p.id, answer)
		}
		if m := surveyCodeRE.FindStringSubmatch(answer); m != nil {
			r.heldSurvey = append(r.heldSurvey, &item{person: p.id, day: d, kind: "survey", code: m[1], text: say, from: it})
		} else {
			r.res.Hits = append(r.res.Hits, fmt.Sprintf("gateway: /pulse answer with a comment by person %d gave no follow-up code: %q", p.id, answer))
		}
	} else if !p.chat {
		resp, err := r.pl.SubmitResponse(r.as(ctx, auth.RoleSubmitter), &pulsev1.SubmitResponseRequest{
			SurveyId: r.surveyID, Segment: p.team.String(), SubmitterRef: p.ref, IdempotencyKey: fmt.Sprintf("app-%d-%d", p.id, wave),
			Answers: []*pulsev1.Answer{
				{QuestionId: "load", Value: &pulsev1.Answer_Scale{Scale: int32(load)}},
				{QuestionId: "enps", Value: &pulsev1.Answer_Enps{Enps: int32(enps)}},
				{QuestionId: "say", Value: &pulsev1.Answer_Text{Text: say}},
			},
		})
		if err != nil {
			return fmt.Errorf("SubmitResponse: %w", err)
		}
		it.id = resp.ResponseId
		for _, th := range resp.Threads {
			r.heldSurvey = append(r.heldSurvey, &item{person: p.id, day: d, kind: "survey", code: th.FollowUpToken, text: say, from: it})
		}
	} else {
		return nil // a chat user without a team is asked to pick one first; covered by comments
	}
	r.textAuthor[say] = p.id
	if r.answered[wave] == nil {
		r.answered[wave] = map[int][]string{}
	}
	r.answered[wave][p.id] = []string{"load", "enps", "say"}
	r.responses++
	if err := r.settle(ctx, events.PulseResponded, events.DurableSentimentPulse, r.responses); err != nil {
		return err
	}
	r.w.items = append(r.w.items, it)
	r.l.apply(it)
	return nil
}

// settle waits until the stream holds want events on subject and the sentiment service has
// applied them all: items then reach the aggregates in the order the harness sent them, which
// is what lets it tell which of them a shown number includes.
func (r *run) settle(ctx context.Context, k events.Kind, durable string, want int) error {
	stream, subject := k.Stream.Name, k.All()
	return waitFor(60*time.Second, func() error {
		ok, err := r.settled(ctx, stream, durable, subject, want)
		if err == nil && !ok {
			err = fmt.Errorf("sentiment has not applied %d events of %s", want, subject)
		}
		return err
	})
}

// waitFor calls check until it returns nil, or returns its last error after wait.
func waitFor(wait time.Duration, check func() error) error {
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *run) settled(ctx context.Context, stream, durable, subject string, want int) (bool, error) {
	st, err := r.js.Stream(ctx, stream)
	if err != nil {
		return false, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return false, err
	}
	n := uint64(0)
	for _, c := range info.State.Subjects {
		n += c
	}
	if n < uint64(want) {
		return false, nil
	}
	c, err := st.Consumer(ctx, durable)
	if err != nil {
		return false, nil // not created yet
	}
	ci, err := c.Info(ctx)
	if err != nil {
		return false, err
	}
	// Consumer sequences count only the messages the durable's filter delivers: the stream's
	// own last sequence may be an event of another kind (a comment routed after scoring) that
	// this durable never sees, so its ack floor in stream terms need not reach it.
	return ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Consumer >= ci.Delivered.Consumer, nil
}

// surveyCodeRE finds the follow-up code of the thread a /pulse answer's comment opened.
var surveyCodeRE = regexp.MustCompile("/feedback status ([A-Z2-7]{26})")

// awaitSurveyItems waits until every survey comment of a day before d is a feedback item its
// respondent reaches with their code (pulse releases them once their day has ended), and
// counts them among the items of their person and the comments HR must read.
func (r *run) awaitSurveyItems(ctx context.Context, d int) error {
	var still []*item
	for _, it := range r.heldSurvey {
		if it.day >= d {
			still = append(still, it)
			continue
		}
		err := waitFor(60*time.Second, func() error {
			th, err := r.fb.GetThread(r.as(ctx, auth.RoleSubmitter), &feedbackv1.GetThreadRequest{FollowUpToken: it.code})
			if err != nil {
				return fmt.Errorf("the survey comment of person %d of day %d is not a thread yet: %w", it.person, it.day, err)
			}
			if th.Feedback.Channel != feedbackv1.Channel_CHANNEL_SURVEY {
				r.res.Hits = append(r.res.Hits, fmt.Sprintf("survey comment %s has channel %v", th.Feedback.Id, th.Feedback.Channel))
			}
			it.id = th.Feedback.Id
			return nil
		})
		if err != nil {
			return err
		}
		r.surveyItems++
		r.w.items = append(r.w.items, it)
	}
	r.heldSurvey = still
	return nil
}
