package pulse

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

// Built-in template ids.
const (
	templateWeekly      = "weekly-pulse"
	templateQuarterly   = "quarterly-enps"
	templateOnboarding  = "onboarding-" // + 30, 60, 90
	templateExit        = "exit"
	templateDiagnostic  = "ex-maturity"
	diagnosticPerDim    = 5
	templateDefaultLang = "en"
)

// template is a built-in survey with its description. The texts were written for voix, in
// French and English.
type template struct {
	id          string
	description [2]string // en, fr
	survey      *pulsev1.Survey
}

func both(en, fr string) *commonv1.LocalizedText {
	return &commonv1.LocalizedText{Translations: map[string]string{"en": en, "fr": fr}}
}

func scaleQ(id string, dim commonv1.Dimension, en, fr string) *pulsev1.Question {
	return &pulsev1.Question{Id: id, Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: dim, Text: both(en, fr)}
}

func enpsQ(id, en, fr string) *pulsev1.Question {
	return &pulsev1.Question{Id: id, Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Text: both(en, fr)}
}

func textQ(id string, dim commonv1.Dimension, en, fr string) *pulsev1.Question {
	return &pulsev1.Question{Id: id, Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT, Dimension: dim, Text: both(en, fr)}
}

func always(q *pulsev1.Question, nth uint32) *pulsev1.Question {
	q.Always, q.EveryNthWave = true, nth
	return q
}

const (
	meaning     = commonv1.Dimension_DIMENSION_MEANING
	growth      = commonv1.Dimension_DIMENSION_GROWTH
	connections = commonv1.Dimension_DIMENSION_CONNECTIONS
	image       = commonv1.Dimension_DIMENSION_IMAGE
	ecosystem   = commonv1.Dimension_DIMENSION_ECOSYSTEM
	recognition = commonv1.Dimension_DIMENSION_RECOGNITION
	workload    = commonv1.Dimension_DIMENSION_WORKLOAD
	engagement  = commonv1.Dimension_DIMENSION_ENGAGEMENT
)

// templates returns the built-in templates, freshly built so that callers may change them.
func templates() []template {
	recommend := func() *pulsev1.Question {
		return enpsQ("enps", "How likely are you to recommend this company as a place to work?",
			"Quelle est la probabilité que vous recommandiez cette entreprise comme lieu de travail ?")
	}
	base := func(kind pulsev1.SurveyKind, cadence pulsev1.Cadence, en, fr string, qs ...*pulsev1.Question) *pulsev1.Survey {
		return &pulsev1.Survey{Kind: kind, Cadence: cadence, Title: both(en, fr), Questions: qs, DefaultLanguage: templateDefaultLang}
	}
	lifecycle := func(kind pulsev1.SurveyKind, delayDays int, en, fr string, qs ...*pulsev1.Question) *pulsev1.Survey {
		sv := base(kind, pulsev1.Cadence_CADENCE_MONTHLY, en, fr, qs...)
		sv.Schedule = &pulsev1.Schedule{ResponseWindow: durationpb.New(14 * 24 * time.Hour)}
		sv.LifecycleDelay = durationpb.New(time.Duration(delayDays) * 24 * time.Hour)
		return sv
	}

	weekly := base(pulsev1.SurveyKind_SURVEY_KIND_PULSE, pulsev1.Cadence_CADENCE_WEEKLY, "Weekly pulse", "Pulse hebdomadaire",
		scaleQ("meaning-mission", meaning, "I understand how my work contributes to our mission.", "Je comprends comment mon travail contribue à notre mission."),
		scaleQ("meaning-worthwhile", meaning, "The work I did this week felt worthwhile.", "Le travail que j'ai fait cette semaine avait du sens."),
		scaleQ("growth-learning", growth, "I learned something useful in my work recently.", "J'ai appris quelque chose d'utile dans mon travail récemment."),
		scaleQ("growth-autonomy", growth, "I have enough freedom to decide how I do my work.", "J'ai assez de liberté pour décider comment je fais mon travail."),
		scaleQ("connections-manager", connections, "My manager gives me the support I need.", "Mon manager m'apporte le soutien dont j'ai besoin."),
		scaleQ("connections-information", connections, "I get the information I need to do my job well.", "Je reçois les informations dont j'ai besoin pour bien faire mon travail."),
		scaleQ("image-pride", image, "I am proud to tell people where I work.", "Je suis fier ou fière de dire où je travaille."),
		scaleQ("image-belonging", image, "I feel I belong in this company.", "Je me sens à ma place dans cette entreprise."),
		scaleQ("ecosystem-tools", ecosystem, "My tools and equipment let me work efficiently.", "Mes outils et mon équipement me permettent de travailler efficacement."),
		scaleQ("ecosystem-processes", ecosystem, "Our processes help me rather than slow me down.", "Nos processus m'aident plutôt qu'ils ne me ralentissent."),
		scaleQ("recognition-recent", recognition, "I received recognition for good work recently.", "Mon travail a été reconnu récemment quand il était bon."),
		scaleQ("recognition-fair", recognition, "Contributions are recognised fairly in my team.", "Les contributions sont reconnues équitablement dans mon équipe."),
		scaleQ("workload-manageable", workload, "My workload was manageable this week.", "Ma charge de travail était gérable cette semaine."),
		scaleQ("workload-balance", workload, "I can balance my work and my personal life.", "J'arrive à concilier travail et vie personnelle."),
		scaleQ("engagement-energy", engagement, "I feel motivated to go beyond the minimum.", "Je me sens motivé ou motivée à m'investir au-delà du minimum."),
		scaleQ("engagement-stay", engagement, "I see myself still working here in two years.", "Je me vois encore travailler ici dans deux ans."),
		always(recommend(), 4),
		always(textQ("comment", engagement, "Anything you would like to share this week?", "Souhaitez-vous partager quelque chose cette semaine ?"), 0),
	)
	weekly.QuestionsPerWave = 4

	quarterly := base(pulsev1.SurveyKind_SURVEY_KIND_PULSE, pulsev1.Cadence_CADENCE_QUARTERLY, "Quarterly eNPS", "eNPS trimestriel",
		recommend(),
		textQ("reason", engagement, "What is the main reason for your score?", "Quelle est la principale raison de votre note ?"),
		textQ("one-change", engagement, "What one change would make this a better place to work?", "Quel changement ferait de l'entreprise un meilleur lieu de travail ?"),
	)
	quarterly.Schedule = &pulsev1.Schedule{ResponseWindow: durationpb.New(14 * 24 * time.Hour)}

	onb30 := lifecycle(pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING, 30, "Onboarding: 30 days", "Intégration : 30 jours",
		scaleQ("welcome", connections, "I felt welcome from my first day.", "Je me suis senti ou sentie bien accueilli dès mon premier jour."),
		scaleQ("equipment-ready", ecosystem, "My equipment and accesses were ready when I needed them.", "Mon équipement et mes accès étaient prêts quand j'en ai eu besoin."),
		scaleQ("role-clear", meaning, "I understand what is expected of me in my role.", "Je comprends ce qu'on attend de moi dans mon poste."),
		scaleQ("who-to-ask", connections, "I know who to ask when I am stuck.", "Je sais à qui m'adresser quand je suis bloqué."),
		textQ("easier", growth, "What would have made your first month easier?", "Qu'est-ce qui aurait facilité votre premier mois ?"),
	)
	onb60 := lifecycle(pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING, 60, "Onboarding: 60 days", "Intégration : 60 jours",
		scaleQ("contributing", meaning, "I have been able to contribute to real work.", "J'ai pu contribuer à de vrais sujets."),
		scaleQ("feedback", growth, "I have received useful feedback on my work.", "J'ai reçu des retours utiles sur mon travail."),
		scaleQ("team-fit", connections, "I feel part of my team.", "Je me sens membre à part entière de mon équipe."),
		scaleQ("promise-kept", image, "The job matches what was described when I was hired.", "Le poste correspond à ce qui m'a été présenté lors du recrutement."),
		textQ("unclear", connections, "What is still unclear to you?", "Qu'est-ce qui reste flou pour vous ?"),
	)
	onb90 := lifecycle(pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING, 90, "Onboarding: 90 days", "Intégration : 90 jours",
		scaleQ("confident", growth, "I feel confident doing my job on my own.", "Je me sens capable de faire mon travail en autonomie."),
		scaleQ("growth-path", growth, "I can see how I could grow here.", "Je vois comment je pourrais évoluer ici."),
		scaleQ("sustainable", workload, "My workload is sustainable.", "Ma charge de travail est soutenable."),
		recommend(),
		textQ("welcome-change", connections, "What should we change in how we welcome newcomers?", "Que devrions-nous changer dans l'accueil des nouveaux arrivants ?"),
	)
	reasons := []struct{ id, en, fr string }{
		{"growth", "Career prospects", "Perspectives d'évolution"},
		{"pay", "Pay and benefits", "Rémunération et avantages"},
		{"manager", "Relationship with my manager", "Relation avec mon manager"},
		{"workload", "Workload or stress", "Charge de travail ou stress"},
		{"meaning", "Lack of meaning in my work", "Manque de sens dans mon travail"},
		{"personal", "Personal reasons", "Raisons personnelles"},
		{"other", "Other", "Autre"},
	}
	reason := &pulsev1.Question{Id: "reasons", Kind: commonv1.QuestionKind_QUESTION_KIND_CHOICE, Dimension: engagement, Multiple: true,
		Text: both("What are the main reasons you are leaving?", "Quelles sont les principales raisons de votre départ ?")}
	for _, r := range reasons {
		reason.Options = append(reason.Options, &pulsev1.ChoiceOption{Id: r.id, Label: both(r.en, r.fr)})
	}
	exit := lifecycle(pulsev1.SurveyKind_SURVEY_KIND_EXIT, 0, "Exit survey", "Questionnaire de départ",
		reason,
		scaleQ("manager-support", connections, "My manager supported me well.", "Mon manager m'a bien accompagné."),
		scaleQ("growth", growth, "I had opportunities to learn and grow.", "J'ai eu des occasions d'apprendre et d'évoluer."),
		scaleQ("recognised", recognition, "My work was recognised.", "Mon travail était reconnu."),
		recommend(),
		textQ("stay", engagement, "What could have made you stay?", "Qu'est-ce qui aurait pu vous faire rester ?"),
	)

	diagnostic := base(pulsev1.SurveyKind_SURVEY_KIND_DIAGNOSTIC, pulsev1.Cadence_CADENCE_ONCE,
		"Employee-experience maturity diagnostic", "Diagnostic de maturité de l'expérience collaborateur")
	diagnostic.Schedule = &pulsev1.Schedule{ResponseWindow: durationpb.New(14 * 24 * time.Hour)}
	for _, d := range diagnosticStatements() {
		for i, st := range d.statements {
			diagnostic.Questions = append(diagnostic.Questions, scaleQ(d.prefix+"-"+string(rune('1'+i)), d.dim, st[0], st[1]))
		}
	}

	return append([]template{
		{templateWeekly, [2]string{
			"A short weekly pulse over the eight dimensions: four rotating statements a week, so each comes back every four weeks, the eNPS every fourth week and an open comment.",
			"Un pulse court chaque semaine sur les huit dimensions : quatre affirmations tournantes par semaine, chacune revient toutes les quatre semaines, l'eNPS une semaine sur quatre et un commentaire libre."}, weekly},
		{templateQuarterly, [2]string{
			"The employee Net Promoter Score every quarter, with the reason behind the score.",
			"L'employee Net Promoter Score chaque trimestre, avec la raison de la note."}, quarterly},
		{templateOnboarding + "30", [2]string{
			"Asked 30 days after a person starts: welcome, equipment, clarity of the role.",
			"Posé 30 jours après l'arrivée : accueil, équipement, clarté du poste."}, onb30},
		{templateOnboarding + "60", [2]string{
			"Asked 60 days after a person starts: first contributions, feedback, fit with the team.",
			"Posé 60 jours après l'arrivée : premières contributions, retours, intégration dans l'équipe."}, onb60},
		{templateOnboarding + "90", [2]string{
			"Asked 90 days after a person starts: autonomy, prospects, workload and eNPS.",
			"Posé 90 jours après l'arrivée : autonomie, perspectives, charge de travail et eNPS."}, onb90},
		{templateExit, [2]string{
			"Asked when a person is leaving: why, and what could have made them stay.",
			"Posé au départ d'une personne : pourquoi, et ce qui aurait pu la faire rester."}, exit},
		{templateDiagnostic, [2]string{
			"25 statements over the five dimensions of employee experience (meaning, fulfilment, connections, image, ecosystem), scored into a maturity level per dimension and overall, with suggested actions.",
			"25 affirmations sur les cinq dimensions de l'expérience collaborateur (sens, épanouissement, relations, image, écosystème), notées en niveau de maturité par dimension et au global, avec des actions suggérées."}, diagnostic},
	}, momentTemplates()...) // moments.go
}

// templateByID returns a copy of a built-in template's survey, or nil.
func templateByID(id string) *pulsev1.Survey {
	for _, t := range templates() {
		if t.id == id {
			sv := t.survey
			sv.TemplateId = id
			return sv
		}
	}
	return nil
}

// fromTemplate merges a CreateSurvey input over its template: every field the caller set
// wins, every empty one comes from the template.
func fromTemplate(in *pulsev1.Survey, tpl *pulsev1.Survey) *pulsev1.Survey {
	out := proto.CloneOf(tpl)
	if in.Title != nil {
		out.Title = in.Title
	}
	if in.Kind != pulsev1.SurveyKind_SURVEY_KIND_UNSPECIFIED {
		out.Kind = in.Kind
	}
	out.Audience = in.Audience
	if in.Cadence != pulsev1.Cadence_CADENCE_UNSPECIFIED {
		out.Cadence = in.Cadence
	}
	if in.Schedule != nil {
		s := proto.CloneOf(in.Schedule)
		if s.ResponseWindow == nil && out.Schedule != nil {
			s.ResponseWindow = out.Schedule.ResponseWindow
		}
		out.Schedule = s
	}
	if len(in.Questions) > 0 {
		out.Questions = in.Questions
	}
	if in.QuestionsPerWave != 0 {
		out.QuestionsPerWave = in.QuestionsPerWave
	}
	if in.MinGroupSize != 0 {
		out.MinGroupSize = in.MinGroupSize
	}
	if in.CommentThreshold != 0 {
		out.CommentThreshold = in.CommentThreshold
	}
	if in.DefaultLanguage != "" {
		out.DefaultLanguage = in.DefaultLanguage
	}
	if in.LifecycleDelay != nil {
		out.LifecycleDelay = in.LifecycleDelay
	}
	out.LiveResults = out.LiveResults || in.LiveResults
	return out
}

// templateView is a template as ListTemplates shows it, descriptions in lang.
func templateView(t template, lang string) *pulsev1.Template {
	sv := t.survey
	sv.TemplateId = t.id
	desc := t.description[0]
	if lang == "fr" {
		desc = t.description[1]
	}
	return &pulsev1.Template{Id: t.id, Survey: sv, Description: desc}
}
