package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

const pulseUsage = "See your open surveys with `/pulse`, answer one with `/pulse answer <survey> <answer 1>; <answer 2>; …`: " +
	"one answer per question in order, `-` to skip one: 1–5 for a scale, 0–10 for a recommendation, option letters for a choice (`a` or `a,c`), words for text. " +
	"Questions come in your language when the survey has it: choose it with `/pulse lang fr` or `/pulse lang en`."

// pulseCommand runs /pulse: list the person's pending questions (in their language), answer a
// survey, or choose the language. The verb is read like /feedback's: any case, formatting
// around it removed.
func (s *Service) pulseCommand(ctx context.Context, cmd command, body []byte) reply {
	if s.pulse == nil {
		return ephemeral("Surveys are not available here yet.")
	}
	text := strings.TrimFunc(unescapeSlack(cmd.Text), isSeparator)
	words := splitWords(text)
	verb := ""
	if len(words) > 0 {
		verb = strings.ToLower(cleanWord(words[0].s))
	}
	switch verb {
	case kwLang, kwLanguage:
		arg := ""
		if len(words) > 1 {
			arg = words[1].s
		}
		return s.setLanguage(cmd, arg, "/pulse")
	case "", "list", "answer":
	default:
		return ephemeral("%s", pulseUsage)
	}
	m, r := s.lookup(cmd)
	if r != nil {
		return *r
	}
	seg, r := s.segmentOf(ctx, m, "I can't show your surveys yet: try `/pulse` again once your team is set.")
	if r != nil {
		return *r
	}
	pending, err := s.pulse.ListPendingSurveys(ctx, &pulsev1.ListPendingSurveysRequest{
		SubmitterRef: submitterRef(cmd), Segment: seg.String(), Language: m.rec.Language,
	})
	if err != nil {
		return s.pulseFailed("list", err)
	}
	if verb != "answer" {
		return listPending(pending.Surveys)
	}
	if len(words) < 2 {
		return ephemeral("%s", pulseUsage)
	}
	id := cleanWord(words[1].s)
	answers := strings.TrimFunc(text[words[1].end:], isSeparator)
	if containsCodeShape(answers) {
		return ephemeral("Nothing was sent: an answer looks like it contains a follow-up code, and survey answers are read by others. Keep your code to yourself and answer again without it.")
	}
	for _, sv := range pending.Surveys {
		if sv.SurveyId == id {
			return s.answer(ctx, cmd, seg.String(), sv, answers, body)
		}
	}
	return ephemeral("You have no open survey `%s`: it may be closed or already answered. `/pulse` lists the open ones.", clip(id))
}

func listPending(surveys []*pulsev1.PendingSurvey) reply {
	if len(surveys) == 0 {
		return ephemeral("No survey is waiting for you. Thank you!")
	}
	var b strings.Builder
	for _, sv := range surveys {
		fmt.Fprintf(&b, "*%s*", sv.Title)
		if sv.ClosesAt != nil {
			fmt.Fprintf(&b, " (open until %s)", sv.ClosesAt.AsTime().Format("2 Jan"))
		}
		if sv.ClosingSoon { // a reminder, shown only to this person (loop.go)
			b.WriteString(" — closing soon, your answer still counts")
		}
		for i, q := range sv.Questions {
			fmt.Fprintf(&b, "\n%d. %s %s", i+1, q.Text, hint(q))
		}
		fmt.Fprintf(&b, "\nAnswer with `/pulse answer %s ", sv.SurveyId)
		for i := range sv.Questions {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "<%d>", i+1)
		}
		b.WriteString("`\n")
	}
	b.WriteString(pulseUsage)
	return ephemeral("%s", b.String())
}

// hint says how to answer a question.
func hint(q *pulsev1.PendingQuestion) string {
	switch q.Kind {
	case commonv1.QuestionKind_QUESTION_KIND_SCALE:
		return "(1–5)"
	case commonv1.QuestionKind_QUESTION_KIND_ENPS:
		return "(0–10)"
	case commonv1.QuestionKind_QUESTION_KIND_CHOICE:
		var opts []string
		for i, o := range q.Options {
			opts = append(opts, fmt.Sprintf("%c) %s", 'a'+i, o.Label))
		}
		if q.Multiple {
			return "(any of " + strings.Join(opts, ", ") + ")"
		}
		return "(one of " + strings.Join(opts, ", ") + ")"
	}
	return "(your words)"
}

// parseAnswers reads "<a1>; <a2>; …" against the questions, in order. The last answer keeps
// any ';' it holds, so a text question at the end can say anything.
func parseAnswers(qs []*pulsev1.PendingQuestion, s string) ([]*pulsev1.Answer, error) {
	parts := strings.SplitN(s, ";", max(len(qs), 1))
	if strings.TrimSpace(s) == "" || len(parts) != len(qs) {
		return nil, fmt.Errorf("this survey has %d questions: give one answer for each, separated by `;` (`-` to skip)", len(qs))
	}
	var out []*pulsev1.Answer
	for i, q := range qs {
		v := strings.TrimSpace(parts[i])
		if v == "-" {
			continue
		}
		a := &pulsev1.Answer{QuestionId: q.Id}
		switch q.Kind {
		case commonv1.QuestionKind_QUESTION_KIND_SCALE, commonv1.QuestionKind_QUESTION_KIND_ENPS:
			n, err := strconv.Atoi(v)
			lo, hi := 1, 5
			if q.Kind == commonv1.QuestionKind_QUESTION_KIND_ENPS {
				lo, hi = 0, 10
			}
			if err != nil || n < lo || n > hi {
				return nil, fmt.Errorf("answer %d must be a number from %d to %d", i+1, lo, hi)
			}
			if q.Kind == commonv1.QuestionKind_QUESTION_KIND_SCALE {
				a.Value = &pulsev1.Answer_Scale{Scale: int32(n)}
			} else {
				a.Value = &pulsev1.Answer_Enps{Enps: int32(n)}
			}
		case commonv1.QuestionKind_QUESTION_KIND_CHOICE:
			var ids []string
			for _, l := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool { return r == ',' || r == ' ' }) {
				if len(l) != 1 || l[0] < 'a' || int(l[0]-'a') >= len(q.Options) {
					return nil, fmt.Errorf("answer %d must be option letters from a to %c", i+1, 'a'+len(q.Options)-1)
				}
				ids = append(ids, q.Options[l[0]-'a'].Id)
			}
			if len(ids) == 0 || (!q.Multiple && len(ids) > 1) {
				return nil, fmt.Errorf("answer %d must be one option letter", i+1)
			}
			a.Value = &pulsev1.Answer_Choice{Choice: &pulsev1.ChoiceAnswer{OptionIds: ids}}
		default:
			a.Value = &pulsev1.Answer_Text{Text: v}
		}
		out = append(out, a)
	}
	return out, nil
}

func (s *Service) answer(ctx context.Context, cmd command, seg string, sv *pulsev1.PendingSurvey, text string, body []byte) reply {
	answers, err := parseAnswers(sv.Questions, text)
	if err != nil {
		return ephemeral("Nothing was sent: %s.", err)
	}
	key := sha256.Sum256(body)
	resp, err := s.pulse.SubmitResponse(ctx, &pulsev1.SubmitResponseRequest{
		SurveyId: sv.SurveyId, Wave: sv.Wave, Segment: seg, SubmitterRef: submitterRef(cmd),
		IdempotencyKey: "slack-" + hex.EncodeToString(key[:20]), Answers: answers,
	})
	if err != nil {
		return s.pulseFailed("answer", err)
	}
	lang := ""
	if m, r := s.lookup(cmd); r == nil {
		lang = botLang(m)
	}
	return ephemeral("Thank you, your answers to *%s* are in, anonymously.%s", sv.Title, surveyEnd(lang, seg, resp)) // loop.go
}

func (s *Service) pulseFailed(action string, err error) reply {
	st := status.Convert(err)
	s.cfg.Log.Warn("pulse call failed", "action", action, "code", st.Code().String(), "message", redactCodes(st.Message()))
	switch st.Code() {
	case codes.AlreadyExists:
		return ephemeral("You already answered this survey: thank you!")
	case codes.FailedPrecondition:
		return ephemeral("This survey is closed now. Thank you all the same!")
	case codes.InvalidArgument:
		return ephemeral("Nothing was sent: %s. %s", st.Message(), pulseUsage)
	case codes.PermissionDenied:
		return ephemeral("Your team is outside what this app may send to. Pick your team again with `/feedback team <team>`.")
	}
	return ephemeral("Sorry, something went wrong on our side and nothing was sent. Please try again in a minute.")
}
