package pulse

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

// The templates of the moments of truth beyond onboarding and exit (lifecycle.go): one per
// lifecycle event, in French and English, answered in a 14-day window from the day the HR
// system reports the moment (plus the delay below).
const (
	templateCandidate       = "candidate"
	templateInternalMove    = "internal-move"
	templateManagerChange   = "manager-change"
	templateReturnFromLeave = "return-from-leave"
	templateAnniversary     = "anniversary"
)

func momentTemplates() []template {
	moment := func(kind pulsev1.SurveyKind, delayDays int, en, fr string, qs ...*pulsev1.Question) *pulsev1.Survey {
		return &pulsev1.Survey{
			Kind: kind, Cadence: pulsev1.Cadence_CADENCE_MONTHLY, Title: both(en, fr), Questions: qs,
			DefaultLanguage: templateDefaultLang,
			Schedule:        &pulsev1.Schedule{ResponseWindow: durationpb.New(14 * 24 * time.Hour)},
			LifecycleDelay:  durationpb.New(time.Duration(delayDays) * 24 * time.Hour),
		}
	}
	candidate := moment(pulsev1.SurveyKind_SURVEY_KIND_CANDIDATE, 0, "Your recruitment experience", "Votre expérience de recrutement",
		scaleQ("informed", connections, "I was kept informed at each step of the process.", "J'ai été tenu ou tenue informé à chaque étape du processus."),
		scaleQ("respected", image, "I was treated with respect throughout the process.", "J'ai été traité ou traitée avec respect tout au long du processus."),
		scaleQ("role-described", meaning, "The role was described clearly and honestly.", "Le poste m'a été décrit clairement et honnêtement."),
		scaleQ("pace", ecosystem, "The process moved at a reasonable pace.", "Le processus a avancé à un rythme raisonnable."),
		textQ("improve", image, "What should we improve in how we recruit?", "Que devrions-nous améliorer dans notre façon de recruter ?"),
	)
	move := moment(pulsev1.SurveyKind_SURVEY_KIND_INTERNAL_MOVE, 30, "Your move to a new team", "Votre arrivée dans une nouvelle équipe",
		scaleQ("move-welcome", connections, "My new team made me feel welcome.", "Ma nouvelle équipe m'a bien accueilli ou accueillie."),
		scaleQ("move-handover", ecosystem, "The handover from my previous role went well.", "La passation de mon ancien poste s'est bien passée."),
		scaleQ("move-clear", meaning, "I understand what is expected of me in my new role.", "Je comprends ce qu'on attend de moi dans mon nouveau poste."),
		scaleQ("move-growth", growth, "This move helps me grow.", "Ce changement m'aide à évoluer."),
		textQ("move-easier", growth, "What would have made the move easier?", "Qu'est-ce qui aurait facilité ce changement ?"),
	)
	manager := moment(pulsev1.SurveyKind_SURVEY_KIND_MANAGER_CHANGE, 45, "Working with your new manager", "Le travail avec votre nouveau manager",
		scaleQ("manager-met", connections, "My new manager and I have discussed my goals.", "Mon nouveau manager et moi avons parlé de mes objectifs."),
		scaleQ("manager-support", connections, "I get the support I need from my new manager.", "Mon nouveau manager m'apporte le soutien dont j'ai besoin."),
		scaleQ("manager-recognition", recognition, "My work is recognised by my new manager.", "Mon travail est reconnu par mon nouveau manager."),
		scaleQ("manager-workload", workload, "My workload has stayed manageable through the change.", "Ma charge de travail est restée gérable pendant ce changement."),
		textQ("manager-help", connections, "What would help you work well with your new manager?", "Qu'est-ce qui vous aiderait à bien travailler avec votre nouveau manager ?"),
	)
	back := moment(pulsev1.SurveyKind_SURVEY_KIND_RETURN_FROM_LEAVE, 14, "Your return from leave", "Votre retour de congé",
		scaleQ("back-welcome", connections, "I was welcomed back well.", "J'ai été bien accueilli ou accueillie à mon retour."),
		scaleQ("back-informed", connections, "I was told what changed while I was away.", "On m'a informé ou informée de ce qui avait changé pendant mon absence."),
		scaleQ("back-pace", workload, "My workload was adapted to my return.", "Ma charge de travail a été adaptée à mon retour."),
		scaleQ("back-balance", workload, "I can balance my work and my personal life.", "J'arrive à concilier travail et vie personnelle."),
		textQ("back-better", connections, "What would have made your return easier?", "Qu'est-ce qui aurait facilité votre retour ?"),
	)
	anniversary := moment(pulsev1.SurveyKind_SURVEY_KIND_ANNIVERSARY, 0, "Your work anniversary", "Votre anniversaire dans l'entreprise",
		scaleQ("year-growth", growth, "I grew professionally this past year.", "J'ai progressé professionnellement cette année."),
		scaleQ("year-recognition", recognition, "My contributions this year were recognised.", "Mes contributions de cette année ont été reconnues."),
		scaleQ("year-meaning", meaning, "My work still feels meaningful to me.", "Mon travail a toujours du sens pour moi."),
		enpsQ("enps", "How likely are you to recommend this company as a place to work?",
			"Quelle est la probabilité que vous recommandiez cette entreprise comme lieu de travail ?"),
		textQ("year-next", growth, "What would make your next year here better?", "Qu'est-ce qui rendrait votre prochaine année ici meilleure ?"),
	)
	return []template{
		{templateCandidate, [2]string{
			"Asked when the HR system reports a candidate, before day one: how the recruitment went.",
			"Posé quand le SIRH signale une candidature, avant l'arrivée : comment s'est passé le recrutement."}, candidate},
		{templateInternalMove, [2]string{
			"Asked 30 days after a move to another team: welcome, handover, clarity, growth.",
			"Posé 30 jours après un changement d'équipe : accueil, passation, clarté, évolution."}, move},
		{templateManagerChange, [2]string{
			"Asked 45 days after a change of manager: goals, support, recognition, workload.",
			"Posé 45 jours après un changement de manager : objectifs, soutien, reconnaissance, charge."}, manager},
		{templateReturnFromLeave, [2]string{
			"Asked 14 days after a return from a long leave: welcome, information, workload, balance.",
			"Posé 14 jours après un retour de congé long : accueil, information, charge, équilibre."}, back},
		{templateAnniversary, [2]string{
			"Asked on each work anniversary: growth, recognition, meaning and eNPS.",
			"Posé à chaque anniversaire dans l'entreprise : évolution, reconnaissance, sens et eNPS."}, anniversary},
	}
}
