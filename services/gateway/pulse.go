package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

// pulseText is the bot's text of /pulse, per language (the person's, botLang); English is the
// default. Like actionText and loopText, every key is in both languages with the same fmt
// verbs (TestBotTextsInBothLanguages).
var pulseText = map[string]map[string]string{
	"en": {
		"usage": "See your open surveys with `/pulse`, answer one with `/pulse answer <survey> <answer 1>; <answer 2>; …`: " +
			"one answer per question in order, `-` to skip one: 1–5 for a scale, 0–10 for a recommendation, option letters for a choice (`a` or `a,c`), words for text. " +
			"Questions come in your language when the survey has it: choose it with `/pulse lang fr` or `/pulse lang en`.",
		"unavailable": "Surveys are not available here yet.",
		"codeshape":   "Nothing was sent: an answer looks like it contains a follow-up code, and survey answers are read by others. Keep your code to yourself and answer again without it.",
		"noopen":      "You have no open survey `%s`: it may be closed or already answered. `/pulse` lists the open ones.",
		"none":        "No survey is waiting for you. Thank you!",
		"until":       " (open until %s)",
		"closing":     " — closing soon, your answer still counts",
		"answerwith":  "Answer with `/pulse answer %s ",
		"scale":       "(1–5)",
		"enps":        "(0–10)",
		"anyof":       "(any of %s)",
		"oneof":       "(one of %s)",
		"words":       "(your words)",
		"count":       "this survey has %d questions: give one answer for each, separated by `;` (`-` to skip)",
		"number":      "answer %d must be a number from %d to %d",
		"letters":     "answer %d must be option letters from a to %c",
		"oneletter":   "answer %d must be one option letter",
		"notsent":     "Nothing was sent: %s.",
		"thanks":      "Thank you, your answers to *%s* are in, anonymously.",
		"already":     "You already answered this survey: thank you!",
		"closed":      "This survey is closed now. Thank you all the same!",
		"invalid":     "Nothing was sent: %s. %s",
		"permission":  "Your team is outside what this app may send to. Pick your team again with `/feedback team <team>`.",
		"failed":      "Sorry, something went wrong on our side and nothing was sent. Please try again in a minute.",
		"langhelp":    "To choose the language of survey questions, send `/pulse lang fr` or `/pulse lang en`. Nothing was changed.",
		"langsaved":   "Got it: survey questions will come in English when the survey has them.",
		"langfailed":  "Sorry, I could not save your language. Please try again in a minute.",
	},
	"fr": {
		"usage": "Voyez vos questionnaires ouverts avec `/pulse`, répondez à l'un d'eux avec `/pulse answer <questionnaire> <réponse 1>; <réponse 2>; …` : " +
			"une réponse par question dans l'ordre, `-` pour en passer une : de 1 à 5 pour une échelle, de 0 à 10 pour une recommandation, les lettres des options pour un choix (`a` ou `a,c`), des mots pour un texte. " +
			"Les questions viennent dans votre langue quand le questionnaire l'a : choisissez-la avec `/pulse lang fr` ou `/pulse lang en`.",
		"unavailable": "Les questionnaires ne sont pas encore disponibles ici.",
		"codeshape":   "Rien n'a été envoyé : une réponse semble contenir un code de suivi, et les réponses aux questionnaires sont lues par d'autres. Gardez votre code pour vous et répondez à nouveau sans lui.",
		"noopen":      "Vous n'avez pas de questionnaire ouvert `%s` : il est peut-être clos ou déjà répondu. `/pulse` liste ceux qui sont ouverts.",
		"none":        "Aucun questionnaire ne vous attend. Merci !",
		"until":       " (ouvert jusqu'au %s)",
		"closing":     " — bientôt clos, votre réponse compte encore",
		"answerwith":  "Répondez avec `/pulse answer %s ",
		"scale":       "(de 1 à 5)",
		"enps":        "(de 0 à 10)",
		"anyof":       "(au choix parmi %s)",
		"oneof":       "(une seule parmi %s)",
		"words":       "(vos mots)",
		"count":       "ce questionnaire a %d questions : donnez une réponse pour chacune, séparées par `;` (`-` pour en passer une)",
		"number":      "la réponse %d doit être un nombre de %d à %d",
		"letters":     "la réponse %d doit être des lettres d'options de a à %c",
		"oneletter":   "la réponse %d doit être une seule lettre d'option",
		"notsent":     "Rien n'a été envoyé : %s.",
		"thanks":      "Merci, vos réponses à *%s* sont bien arrivées, anonymement.",
		"already":     "Vous avez déjà répondu à ce questionnaire : merci !",
		"closed":      "Ce questionnaire est clos maintenant. Merci tout de même !",
		"invalid":     "Rien n'a été envoyé : %s. %s",
		"permission":  "Votre équipe est hors de ce à quoi cette application peut envoyer. Choisissez à nouveau votre équipe avec `/feedback team <équipe>`.",
		"failed":      "Désolé, un problème est survenu de notre côté et rien n'a été envoyé. Réessayez dans une minute.",
		"langhelp":    "Pour choisir la langue des questions, envoyez `/pulse lang fr` ou `/pulse lang en`. Rien n'a été changé.",
		"langsaved":   "C'est noté : les questions viendront en français quand le questionnaire les a.",
		"langfailed":  "Désolé, je n'ai pas pu enregistrer votre langue. Réessayez dans une minute.",
	},
}

// pulseTr is the text of key in lang, English when lang is not French.
func pulseTr(lang, key string) string {
	if lang != "fr" {
		lang = "en"
	}
	return pulseText[lang][key]
}

// answerError is a /pulse answer that does not fit the survey: a pulseText key and its
// arguments, written in the person's language by the caller.
type answerError struct {
	key  string
	args []any
}

func (e answerError) Error() string { return fmt.Sprintf(pulseTr("en", e.key), e.args...) }

// text is the error in lang.
func (e answerError) text(lang string) string { return fmt.Sprintf(pulseTr(lang, e.key), e.args...) }

// shortDay writes a day without its year as people of lang write it: "2 Jan", "2 janvier".
func shortDay(lang string, t time.Time) string {
	t = t.UTC()
	if lang == "fr" {
		return fmt.Sprintf("%d %s", t.Day(), frMonths[t.Month()-1])
	}
	return t.Format("2 Jan")
}

// pulseCommand runs /pulse: list the person's pending questions (in their language), answer a
// survey, or choose the language. The verb is read like /feedback's: any case, formatting
// around it removed. Replies are in the person's language (pulseText); the team prompt of
// segmentOf is in English, like the rest of the team subcommand.
func (s *Service) pulseCommand(ctx context.Context, cmd command, body []byte) reply {
	m, unknown := s.lookup(cmd)
	lang := "en"
	if unknown == nil {
		lang = botLang(m)
	}
	tr := func(key string) string { return pulseTr(lang, key) }
	if s.pulse == nil {
		return ephemeral("%s", tr("unavailable"))
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
		return ephemeral("%s", tr("usage"))
	}
	if unknown != nil {
		return *unknown
	}
	seg, r := s.segmentOf(ctx, m, "I can't show your surveys yet: try `/pulse` again once your team is set.")
	if r != nil {
		return *r
	}
	pending, err := s.pulse.ListPendingSurveys(ctx, &pulsev1.ListPendingSurveysRequest{
		SubmitterRef: submitterRef(cmd), Segment: seg.String(), Language: m.rec.Language,
	})
	if err != nil {
		return s.pulseFailed(lang, "list", err)
	}
	if verb != "answer" {
		return listPending(lang, pending.Surveys)
	}
	if len(words) < 2 {
		return ephemeral("%s", tr("usage"))
	}
	id := cleanWord(words[1].s)
	answers := strings.TrimFunc(text[words[1].end:], isSeparator)
	if containsCodeShape(answers) {
		return ephemeral("%s", tr("codeshape"))
	}
	for _, sv := range pending.Surveys {
		if sv.SurveyId == id {
			return s.answer(ctx, cmd, lang, seg.String(), sv, answers, body)
		}
	}
	return ephemeral(tr("noopen"), clip(id))
}

func listPending(lang string, surveys []*pulsev1.PendingSurvey) reply {
	tr := func(key string) string { return pulseTr(lang, key) }
	if len(surveys) == 0 {
		return ephemeral("%s", tr("none"))
	}
	var b strings.Builder
	for _, sv := range surveys {
		fmt.Fprintf(&b, "*%s*", sv.Title)
		if sv.ClosesAt != nil {
			fmt.Fprintf(&b, tr("until"), shortDay(lang, sv.ClosesAt.AsTime()))
		}
		if sv.ClosingSoon { // a reminder, shown only to this person (loop.go)
			b.WriteString(tr("closing"))
		}
		for i, q := range sv.Questions {
			fmt.Fprintf(&b, "\n%d. %s %s", i+1, q.Text, hint(lang, q))
		}
		fmt.Fprintf(&b, "\n"+tr("answerwith"), sv.SurveyId)
		for i := range sv.Questions {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "<%d>", i+1)
		}
		b.WriteString("`\n")
	}
	b.WriteString(tr("usage"))
	return ephemeral("%s", b.String())
}

// hint says how to answer a question.
func hint(lang string, q *pulsev1.PendingQuestion) string {
	switch q.Kind {
	case commonv1.QuestionKind_QUESTION_KIND_SCALE:
		return pulseTr(lang, "scale")
	case commonv1.QuestionKind_QUESTION_KIND_ENPS:
		return pulseTr(lang, "enps")
	case commonv1.QuestionKind_QUESTION_KIND_CHOICE:
		var opts []string
		for i, o := range q.Options {
			opts = append(opts, fmt.Sprintf("%c) %s", 'a'+i, o.Label))
		}
		if q.Multiple {
			return fmt.Sprintf(pulseTr(lang, "anyof"), strings.Join(opts, ", "))
		}
		return fmt.Sprintf(pulseTr(lang, "oneof"), strings.Join(opts, ", "))
	}
	return pulseTr(lang, "words")
}

// parseAnswers reads "<a1>; <a2>; …" against the questions, in order. The last answer keeps
// any ';' it holds, so a text question at the end can say anything. Its errors are
// answerErrors.
func parseAnswers(qs []*pulsev1.PendingQuestion, s string) ([]*pulsev1.Answer, error) {
	parts := strings.SplitN(s, ";", max(len(qs), 1))
	if strings.TrimSpace(s) == "" || len(parts) != len(qs) {
		return nil, answerError{"count", []any{len(qs)}}
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
				return nil, answerError{"number", []any{i + 1, lo, hi}}
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
					return nil, answerError{"letters", []any{i + 1, 'a' + len(q.Options) - 1}}
				}
				ids = append(ids, q.Options[l[0]-'a'].Id)
			}
			if len(ids) == 0 || (!q.Multiple && len(ids) > 1) {
				return nil, answerError{"oneletter", []any{i + 1}}
			}
			a.Value = &pulsev1.Answer_Choice{Choice: &pulsev1.ChoiceAnswer{OptionIds: ids}}
		default:
			a.Value = &pulsev1.Answer_Text{Text: v}
		}
		out = append(out, a)
	}
	return out, nil
}

func (s *Service) answer(ctx context.Context, cmd command, lang, seg string, sv *pulsev1.PendingSurvey, text string, body []byte) reply {
	answers, err := parseAnswers(sv.Questions, text)
	if err != nil {
		msg := err.Error()
		if ae, ok := err.(answerError); ok {
			msg = ae.text(lang)
		}
		return ephemeral(pulseTr(lang, "notsent"), msg)
	}
	key := sha256.Sum256(body)
	resp, err := s.pulse.SubmitResponse(ctx, &pulsev1.SubmitResponseRequest{
		SurveyId: sv.SurveyId, Wave: sv.Wave, Segment: seg, SubmitterRef: submitterRef(cmd),
		IdempotencyKey: "slack-" + hex.EncodeToString(key[:20]), Answers: answers,
	})
	if err != nil {
		return s.pulseFailed(lang, "answer", err)
	}
	return ephemeral("%s%s", fmt.Sprintf(pulseTr(lang, "thanks"), sv.Title), surveyEnd(lang, seg, resp)) // loop.go
}

func (s *Service) pulseFailed(lang, action string, err error) reply {
	st := status.Convert(err)
	s.cfg.Log.Warn("pulse call failed", "action", action, "code", st.Code().String(), "message", redactCodes(st.Message()))
	tr := func(key string) string { return pulseTr(lang, key) }
	switch st.Code() {
	case codes.AlreadyExists:
		return ephemeral("%s", tr("already"))
	case codes.FailedPrecondition:
		return ephemeral("%s", tr("closed"))
	case codes.InvalidArgument:
		return ephemeral(tr("invalid"), st.Message(), tr("usage"))
	case codes.PermissionDenied:
		return ephemeral("%s", tr("permission"))
	}
	return ephemeral("%s", tr("failed"))
}
