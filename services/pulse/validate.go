package pulse

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/scrub"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Limits of the API (pulse.proto comments).
const (
	maxLocalizedRunes   = 1000
	maxTextAnswerRunes  = 2000
	maxQuestions        = 100
	minOptions          = 2
	maxOptions          = 20
	defaultWindow       = 5 * 24 * time.Hour
	minWindow           = time.Hour
	maxWindow           = 31 * 24 * time.Hour
	minGroupSizeFloor   = 3
	defaultCommentLimit = 10
	maxKeyBytes         = 128
	maxRefBytes         = 256
	maxIDBytes          = 128
	maxHeadcount        = 10_000_000
	maxPageSize         = 200
	defaultPageSize     = 50
)

// languages are the languages voix reads and writes.
var languages = map[string]bool{"fr": true, "en": true}

// validBankID reports whether s matches [a-z0-9][a-z0-9_-]{0,62}, the shape of the ids of a
// survey's questions and of their options. It is their own rule, not a segment's: segments are
// parsed by segment.Parse (parseSegment), never checked with this.
func validBankID(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// idRule is validBankID as quoted in error messages.
const idRule = "must match [a-z0-9][a-z0-9_-]{0,62}"

// checkLocalized checks a LocalizedText: at least one language, only "fr" and "en", each text
// valid UTF-8 of 1..1000 runes (not only spaces), and a text in the survey's default language
// so that the fallback of ListPendingSurveys always has something to show.
func checkLocalized(field string, lt *commonv1.LocalizedText, defaultLang string) error {
	if len(lt.GetTranslations()) == 0 {
		return rpcerr.InvalidArgument(field, `must have a text in at least one language ("fr", "en")`)
	}
	for _, lang := range slices.Sorted(maps.Keys(lt.Translations)) {
		text := lt.Translations[lang]
		f := fmt.Sprintf("%s.translations[%q]", field, lang)
		if !languages[lang] {
			return rpcerr.InvalidArgument(f, `language must be "fr" or "en"`)
		}
		if err := checkText(f, text, maxLocalizedRunes); err != nil {
			return err
		}
	}
	if _, ok := lt.Translations[defaultLang]; !ok {
		return rpcerr.InvalidArgument(field, fmt.Sprintf("must have a text in the default language %q", defaultLang))
	}
	return nil
}

// checkText checks a free text: valid UTF-8, 1..max runes, not only white space.
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return rpcerr.InvalidArgument(field, "must be valid UTF-8")
	}
	if strings.TrimSpace(s) == "" {
		return rpcerr.InvalidArgument(field, "must not be empty")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return rpcerr.InvalidArgument(field, fmt.Sprintf("must be at most %d characters, got %d", max, n))
	}
	return nil
}

func checkKey(field, key string) error {
	if len(key) > maxKeyBytes {
		return rpcerr.InvalidArgument(field, fmt.Sprintf("must be at most %d bytes", maxKeyBytes))
	}
	return nil
}

func checkRef(field, ref string) error {
	if ref == "" || len(ref) > maxRefBytes {
		return rpcerr.InvalidArgument(field, fmt.Sprintf("is required, 1..%d bytes", maxRefBytes))
	}
	return nil
}

func checkSurveyID(field, id string) error {
	if id == "" || len(id) > maxIDBytes {
		return rpcerr.InvalidArgument(field, fmt.Sprintf("is required, 1..%d bytes", maxIDBytes))
	}
	return nil
}

func parseSegment(field, s string) (segment.Path, error) {
	var zero segment.Path
	if s == "" {
		return zero, rpcerr.InvalidArgument(field, "is required (e.g. acme/engineering)")
	}
	p, err := segment.Parse(s)
	if err != nil {
		return zero, rpcerr.InvalidArgument(field, err.Error())
	}
	return p, nil
}

// normalizeSurvey checks a CreateSurvey input and returns the survey to store, with defaults
// applied (k is defaultK, the service's Config.MinGroupSize, when the input leaves it 0) and
// question ids generated, but no id, waves or times yet. The audience's authorisation is the
// caller's business.
func normalizeSurvey(in *pulsev1.Survey, now time.Time, defaultK uint32) (*pulsev1.Survey, segment.Path, error) {
	var audience segment.Path
	if in == nil {
		return nil, audience, rpcerr.InvalidArgument("survey", "is required")
	}
	if in.TemplateId != "" {
		tpl := templateByID(in.TemplateId)
		if tpl == nil {
			return nil, audience, rpcerr.InvalidArgument("survey.template_id", "is not a built-in template: ListTemplates lists them")
		}
		in = fromTemplate(in, tpl)
	}
	out := &pulsev1.Survey{LiveResults: in.LiveResults, TemplateId: in.TemplateId}

	switch in.Kind {
	case pulsev1.SurveyKind_SURVEY_KIND_UNSPECIFIED, pulsev1.SurveyKind_SURVEY_KIND_PULSE:
		out.Kind = pulsev1.SurveyKind_SURVEY_KIND_PULSE
	case pulsev1.SurveyKind_SURVEY_KIND_DIAGNOSTIC:
		out.Kind = in.Kind
	case pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING, pulsev1.SurveyKind_SURVEY_KIND_EXIT:
		out.Kind = in.Kind
	default:
		if lifecycleKind(in.Kind) { // the moments of truth of lifecycle.go
			out.Kind = in.Kind
			break
		}
		return nil, audience, rpcerr.InvalidArgument("survey.kind", "must be a known SurveyKind")
	}

	if !languages[in.DefaultLanguage] {
		return nil, audience, rpcerr.InvalidArgument("survey.default_language", `is required: "fr" or "en"`)
	}
	out.DefaultLanguage = in.DefaultLanguage
	if err := checkLocalized("survey.title", in.Title, in.DefaultLanguage); err != nil {
		return nil, audience, err
	}
	out.Title = in.Title

	audience, err := parseSegment("survey.audience", in.Audience)
	if err != nil {
		return nil, audience, err
	}
	out.Audience = audience.String()

	lifecycle := lifecycleKind(out.Kind)
	if lifecycle {
		// Answered person by person; responses are counted in monthly cohorts.
		if in.Cadence != pulsev1.Cadence_CADENCE_UNSPECIFIED && in.Cadence != pulsev1.Cadence_CADENCE_MONTHLY {
			return nil, audience, rpcerr.InvalidArgument("survey.cadence", "lifecycle surveys are counted in monthly cohorts: leave it empty or MONTHLY")
		}
		in.Cadence = pulsev1.Cadence_CADENCE_MONTHLY
		sched := &pulsev1.Schedule{}
		if in.Schedule != nil {
			sched = proto.CloneOf(in.Schedule)
		}
		if sched.FirstOpensAt == nil {
			sched.FirstOpensAt = timestamppb.New(now) // the first cohort starts now
		}
		in.Schedule = sched
		if in.QuestionsPerWave != 0 {
			return nil, audience, rpcerr.InvalidArgument("survey.questions_per_wave", "must be 0 for lifecycle surveys: everyone answers the same questions")
		}
	}
	if in.LifecycleDelay != nil {
		if err := in.LifecycleDelay.CheckValid(); err != nil {
			return nil, audience, rpcerr.InvalidArgument("survey.lifecycle_delay", "must be a valid duration")
		}
		d := in.LifecycleDelay.AsDuration()
		switch {
		case d != 0 && !lifecycle:
			return nil, audience, rpcerr.InvalidArgument("survey.lifecycle_delay", "applies only to lifecycle surveys (ONBOARDING, EXIT, CANDIDATE, INTERNAL_MOVE, MANAGER_CHANGE, RETURN_FROM_LEAVE, ANNIVERSARY)")
		case d < 0 || d > maxLifecycleDelay:
			return nil, audience, rpcerr.InvalidArgument("survey.lifecycle_delay", "must be 0..366 days")
		}
		if lifecycle {
			out.LifecycleDelay = durationpb.New(d)
		}
	}
	if _, ok := pulsev1.Cadence_name[int32(in.Cadence)]; !ok || in.Cadence == pulsev1.Cadence_CADENCE_UNSPECIFIED {
		return nil, audience, rpcerr.InvalidArgument("survey.cadence", "is required: ONCE, WEEKLY, BIWEEKLY, MONTHLY or QUARTERLY")
	}
	out.Cadence = in.Cadence

	if out.Schedule, err = normalizeSchedule(in.Schedule, now); err != nil {
		return nil, audience, err
	}
	if p := period(out.Cadence); !lifecycle && out.Schedule.ResponseWindow.AsDuration() > p {
		return nil, audience, rpcerr.InvalidArgument("survey.schedule.response_window",
			fmt.Sprintf("must be at most %v with cadence %s, so that waves do not overlap", p, strings.TrimPrefix(out.Cadence.String(), "CADENCE_")))
	}
	if out.Questions, err = normalizeQuestions(in.Questions, in.DefaultLanguage); err != nil {
		return nil, audience, err
	}
	if int(in.QuestionsPerWave) > len(out.Questions) {
		return nil, audience, rpcerr.InvalidArgument("survey.questions_per_wave",
			fmt.Sprintf("must be at most the number of questions (%d); 0 means all", len(out.Questions)))
	}
	out.QuestionsPerWave = in.QuestionsPerWave

	switch k := in.MinGroupSize; {
	case k == 0:
		out.MinGroupSize = defaultK
	case k < minGroupSizeFloor:
		return nil, audience, rpcerr.InvalidArgument("survey.min_group_size",
			fmt.Sprintf("must be at least %d (0 means %d)", minGroupSizeFloor, defaultK))
	default:
		out.MinGroupSize = k
	}
	switch c := in.CommentThreshold; {
	case c == 0:
		// The default may not undercut k: a comment shown under a segment smaller than k
		// would point at fewer people than the numbers may.
		out.CommentThreshold = max(defaultCommentLimit, out.MinGroupSize)
	case c < out.MinGroupSize:
		return nil, audience, rpcerr.InvalidArgument("survey.comment_threshold",
			fmt.Sprintf("must be at least min_group_size (%d)", out.MinGroupSize))
	default:
		out.CommentThreshold = c
	}
	return out, audience, nil
}

func normalizeSchedule(in *pulsev1.Schedule, now time.Time) (*pulsev1.Schedule, error) {
	if in == nil {
		return nil, rpcerr.InvalidArgument("survey.schedule", "is required (first_opens_at at least)")
	}
	if in.FirstOpensAt == nil {
		return nil, rpcerr.InvalidArgument("survey.schedule.first_opens_at", "is required")
	}
	if err := in.FirstOpensAt.CheckValid(); err != nil {
		return nil, rpcerr.InvalidArgument("survey.schedule.first_opens_at", "must be a valid timestamp")
	}
	if in.TimeZone != "" {
		if _, err := time.LoadLocation(in.TimeZone); err != nil || strings.EqualFold(in.TimeZone, "local") {
			return nil, rpcerr.InvalidArgument("survey.schedule.time_zone", `must be an IANA time zone such as "Europe/Paris", or empty for UTC`)
		}
	}
	window := defaultWindow
	if in.ResponseWindow != nil {
		if err := in.ResponseWindow.CheckValid(); err != nil {
			return nil, rpcerr.InvalidArgument("survey.schedule.response_window", "must be a valid duration")
		}
		if d := in.ResponseWindow.AsDuration(); d != 0 {
			if d < minWindow || d > maxWindow {
				return nil, rpcerr.InvalidArgument("survey.schedule.response_window", "must be 1h..744h (31 days); 0 means 5 days")
			}
			window = d
		}
	}
	opens := in.FirstOpensAt.AsTime()
	if !opens.Add(window).After(now) {
		return nil, rpcerr.InvalidArgument("survey.schedule.first_opens_at", "is so far in the past that the first wave would already be closed")
	}
	return &pulsev1.Schedule{
		FirstOpensAt:   timestamppb.New(opens),
		TimeZone:       in.TimeZone,
		ResponseWindow: durationpb.New(window),
	}, nil
}

func normalizeQuestions(in []*pulsev1.Question, defaultLang string) ([]*pulsev1.Question, error) {
	if len(in) == 0 || len(in) > maxQuestions {
		return nil, rpcerr.InvalidArgument("survey.questions", fmt.Sprintf("must have 1..%d questions, got %d", maxQuestions, len(in)))
	}
	// Explicit ids first, so that generated ones avoid them.
	used := map[string]bool{}
	for i, q := range in {
		if q == nil || q.Id == "" {
			continue
		}
		f := fmt.Sprintf("survey.questions[%d].id", i)
		if !validBankID(q.Id) {
			return nil, rpcerr.InvalidArgument(f, idRule)
		}
		if used[q.Id] {
			return nil, rpcerr.InvalidArgument(f, fmt.Sprintf("%q is used by another question", q.Id))
		}
		used[q.Id] = true
	}
	out := make([]*pulsev1.Question, len(in))
	for i, q := range in {
		f := fmt.Sprintf("survey.questions[%d]", i)
		if q == nil {
			return nil, rpcerr.InvalidArgument(f, "is required")
		}
		id := q.Id
		for n := i + 1; id == ""; n++ {
			if c := "q" + strconv.Itoa(n); !used[c] {
				id, used[c] = c, true
			}
		}
		if _, ok := commonv1.QuestionKind_name[int32(q.Kind)]; !ok || q.Kind == commonv1.QuestionKind_QUESTION_KIND_UNSPECIFIED {
			return nil, rpcerr.InvalidArgument(f+".kind", "is required: SCALE, ENPS, CHOICE or TEXT")
		}
		if _, ok := commonv1.Dimension_name[int32(q.Dimension)]; !ok || q.Dimension == commonv1.Dimension_DIMENSION_UNSPECIFIED {
			return nil, rpcerr.InvalidArgument(f+".dimension", "is required: a known Dimension")
		}
		if err := checkLocalized(f+".text", q.Text, defaultLang); err != nil {
			return nil, err
		}
		choice := q.Kind == commonv1.QuestionKind_QUESTION_KIND_CHOICE
		switch {
		case choice && (len(q.Options) < minOptions || len(q.Options) > maxOptions):
			return nil, rpcerr.InvalidArgument(f+".options", fmt.Sprintf("a CHOICE question needs %d..%d options, got %d", minOptions, maxOptions, len(q.Options)))
		case !choice && len(q.Options) > 0:
			return nil, rpcerr.InvalidArgument(f+".options", "only CHOICE questions have options")
		case !choice && q.Multiple:
			return nil, rpcerr.InvalidArgument(f+".multiple", "only CHOICE questions can be multiple")
		case q.EveryNthWave > 1 && !q.Always:
			return nil, rpcerr.InvalidArgument(f+".every_nth_wave", "applies only to questions marked always")
		}
		optIDs := map[string]bool{}
		for j, o := range q.Options {
			of := fmt.Sprintf("%s.options[%d]", f, j)
			if o == nil {
				return nil, rpcerr.InvalidArgument(of, "is required")
			}
			if !validBankID(o.Id) {
				return nil, rpcerr.InvalidArgument(of+".id", idRule)
			}
			if optIDs[o.Id] {
				return nil, rpcerr.InvalidArgument(of+".id", fmt.Sprintf("%q is used by another option of the question", o.Id))
			}
			optIDs[o.Id] = true
			if err := checkLocalized(of+".label", o.Label, defaultLang); err != nil {
				return nil, err
			}
		}
		out[i] = &pulsev1.Question{
			Id: id, Kind: q.Kind, Dimension: q.Dimension, Text: q.Text, Options: q.Options,
			Multiple: q.Multiple, Always: q.Always, EveryNthWave: q.EveryNthWave,
		}
	}
	return out, nil
}

// scoreAnswers checks answers against the questions asked in a wave and returns them as the
// event carries them, TEXT scrubbed.
func scoreAnswers(answers []*pulsev1.Answer, asked map[string]*pulsev1.Question) ([]*eventsv1.ScoredAnswer, error) {
	if len(answers) == 0 {
		return nil, rpcerr.InvalidArgument("answers", "must have at least one answer")
	}
	if len(answers) > len(asked) {
		return nil, rpcerr.InvalidArgument("answers", fmt.Sprintf("at most one answer per question: the wave asks %d", len(asked)))
	}
	seen := map[string]bool{}
	out := make([]*eventsv1.ScoredAnswer, 0, len(answers))
	for i, a := range answers {
		f := fmt.Sprintf("answers[%d]", i)
		if a == nil {
			return nil, rpcerr.InvalidArgument(f, "is required")
		}
		q, ok := asked[a.QuestionId]
		if !ok {
			return nil, rpcerr.InvalidArgument(f+".question_id", fmt.Sprintf("no question %q is asked in this wave", a.QuestionId))
		}
		if seen[a.QuestionId] {
			return nil, rpcerr.InvalidArgument(f+".question_id", fmt.Sprintf("question %q is answered twice", a.QuestionId))
		}
		seen[a.QuestionId] = true
		sa := &eventsv1.ScoredAnswer{QuestionId: q.Id, Kind: q.Kind, Dimension: q.Dimension}
		mismatch := rpcerr.InvalidArgument(f, fmt.Sprintf("question %q is %s: answer with %s", q.Id, kindName(q.Kind), valueField(q.Kind)))
		switch v := a.Value.(type) {
		case *pulsev1.Answer_Scale:
			if q.Kind != commonv1.QuestionKind_QUESTION_KIND_SCALE {
				return nil, mismatch
			}
			if v.Scale < 1 || v.Scale > 5 {
				return nil, rpcerr.InvalidArgument(f+".scale", fmt.Sprintf("must be 1..5, got %d", v.Scale))
			}
			sa.Value = v.Scale
		case *pulsev1.Answer_Enps:
			if q.Kind != commonv1.QuestionKind_QUESTION_KIND_ENPS {
				return nil, mismatch
			}
			if v.Enps < 0 || v.Enps > 10 {
				return nil, rpcerr.InvalidArgument(f+".enps", fmt.Sprintf("must be 0..10, got %d", v.Enps))
			}
			sa.Value = v.Enps
		case *pulsev1.Answer_Choice:
			if q.Kind != commonv1.QuestionKind_QUESTION_KIND_CHOICE {
				return nil, mismatch
			}
			ids, err := checkChoice(f+".choice.option_ids", v.Choice.GetOptionIds(), q)
			if err != nil {
				return nil, err
			}
			sa.OptionIds = ids
		case *pulsev1.Answer_Text:
			if q.Kind != commonv1.QuestionKind_QUESTION_KIND_TEXT {
				return nil, mismatch
			}
			if err := checkText(f+".text", v.Text, maxTextAnswerRunes); err != nil {
				return nil, err
			}
			sa.Text, _ = scrub.Text(v.Text)
		default:
			return nil, rpcerr.InvalidArgument(f, fmt.Sprintf("has no value: question %q is %s, answer with %s", q.Id, kindName(q.Kind), valueField(q.Kind)))
		}
		out = append(out, sa)
	}
	return out, nil
}

func checkChoice(field string, ids []string, q *pulsev1.Question) ([]string, error) {
	switch {
	case len(ids) == 0:
		return nil, rpcerr.InvalidArgument(field, "must name at least one option")
	case len(ids) > 1 && !q.Multiple:
		return nil, rpcerr.InvalidArgument(field, fmt.Sprintf("must name exactly one option: question %q is not multiple", q.Id))
	}
	known := make(map[string]bool, len(q.Options))
	for _, o := range q.Options {
		known[o.Id] = true
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !known[id] {
			return nil, rpcerr.InvalidArgument(field, fmt.Sprintf("question %q has no option %q", q.Id, id))
		}
		if seen[id] {
			return nil, rpcerr.InvalidArgument(field, fmt.Sprintf("option %q is chosen twice", id))
		}
		seen[id] = true
	}
	return slices.Clone(ids), nil
}

func kindName(k commonv1.QuestionKind) string {
	return strings.TrimPrefix(k.String(), "QUESTION_KIND_")
}

func valueField(k commonv1.QuestionKind) string {
	switch k {
	case commonv1.QuestionKind_QUESTION_KIND_SCALE:
		return "scale"
	case commonv1.QuestionKind_QUESTION_KIND_ENPS:
		return "enps"
	case commonv1.QuestionKind_QUESTION_KIND_CHOICE:
		return "choice"
	default:
		return "text"
	}
}
