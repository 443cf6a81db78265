package pulse

import (
	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

// The maturity diagnostic scores the five dimensions of employee experience. Fulfilment is
// the GROWTH dimension of docs/design.md.

// Mean scores (1..5) at which a level starts: below developingFrom is emerging, from
// matureFrom mature. A mean of 3 is "neither agree nor disagree": practices exist but do not
// convince; 4 is "agree" on average.
const (
	developingFrom = 3.0
	matureFrom     = 4.0
)

type diagnosticDimension struct {
	dim        commonv1.Dimension
	prefix     string
	statements [diagnosticPerDim][2]string // en, fr
	// actions by level (emerging, developing, mature), each in en and fr.
	actions [3][][2]string
}

func diagnosticStatements() []diagnosticDimension {
	return []diagnosticDimension{
		{meaning, "meaning", [5][2]string{
			{"Our company's purpose is clear and I can explain it in my own words.", "La raison d'être de l'entreprise est claire et je peux l'expliquer avec mes mots."},
			{"Leaders regularly explain how decisions serve our purpose.", "La direction explique régulièrement en quoi les décisions servent notre raison d'être."},
			{"I can see the impact of my work on customers or society.", "Je vois l'impact de mon travail sur les clients ou la société."},
			{"Our values guide everyday decisions, not only our documents.", "Nos valeurs guident les décisions du quotidien, pas seulement nos documents."},
			{"My team's objectives are linked to the company's priorities.", "Les objectifs de mon équipe sont reliés aux priorités de l'entreprise."},
		}, [3][][2]string{
			{{"Write the company's purpose with a group of employees and share it in every team meeting.", "Rédiger la raison d'être avec un groupe de salariés et la partager dans chaque réunion d'équipe."},
				{"Ask each manager to explain how their team's goals serve it.", "Demander à chaque manager d'expliquer en quoi les objectifs de son équipe y contribuent."}},
			{{"Link every quarterly objective explicitly to the purpose.", "Relier explicitement chaque objectif trimestriel à la raison d'être."},
				{"Share customer stories that show the impact of the work.", "Partager des retours clients qui montrent l'impact du travail."}},
			{{"Involve employees in revisiting the purpose every year.", "Associer les salariés à la révision annuelle de la raison d'être."},
				{"Make the purpose an explicit criterion of major decisions.", "Faire de la raison d'être un critère explicite des grandes décisions."}},
		}},
		{growth, "fulfilment", [5][2]string{
			{"I have regular conversations about my development.", "J'ai régulièrement des échanges sur mon développement."},
			{"I can take on new responsibilities when I am ready.", "Je peux prendre de nouvelles responsabilités quand je suis prêt ou prête."},
			{"I have time and resources to learn.", "J'ai du temps et des moyens pour apprendre."},
			{"I have autonomy in how I organise my work.", "J'ai de l'autonomie dans l'organisation de mon travail."},
			{"Internal moves and promotions are open and fair.", "Les mobilités internes et les promotions sont ouvertes et équitables."},
		}, [3][][2]string{
			{{"Hold a development conversation with every employee this quarter.", "Tenir un entretien de développement avec chaque salarié ce trimestre."},
				{"Set aside learning time and budget for every team.", "Réserver du temps et un budget de formation pour chaque équipe."}},
			{{"Publish internal openings before hiring from outside.", "Publier les postes en interne avant de recruter à l'extérieur."},
				{"Train managers to delegate and to coach.", "Former les managers à déléguer et à accompagner."}},
			{{"Offer mentoring and rotations between teams.", "Proposer du mentorat et des rotations entre équipes."},
				{"Measure and publish internal mobility.", "Mesurer et publier la mobilité interne."}},
		}},
		{connections, "connections", [5][2]string{
			{"My manager listens to me and acts on what I say.", "Mon manager m'écoute et agit sur ce que je dis."},
			{"Collaboration between teams works well.", "La collaboration entre équipes fonctionne bien."},
			{"Information reaches me in time and in a form I can use.", "L'information m'arrive à temps et sous une forme utilisable."},
			{"I can raise a problem without fear of consequences.", "Je peux signaler un problème sans crainte des conséquences."},
			{"We take time to know each other beyond the work itself.", "Nous prenons le temps de nous connaître au-delà du travail lui-même."},
		}, [3][][2]string{
			{{"Set up regular one-to-ones between managers and their people.", "Mettre en place des entretiens individuels réguliers entre managers et collaborateurs."},
				{"Open a safe channel to raise problems, and answer every message.", "Ouvrir un canal sûr pour signaler les problèmes, et répondre à chaque message."}},
			{{"Hold rituals across teams: demos, shared retrospectives.", "Instaurer des rituels entre équipes : démonstrations, rétrospectives communes."},
				{"Map how information flows and remove the bottlenecks.", "Cartographier la circulation de l'information et supprimer les goulets d'étranglement."}},
			{{"Let teams shape their own ways of working together.", "Laisser les équipes définir leurs propres façons de collaborer."},
				{"Recognise managers for the quality of their listening.", "Valoriser les managers pour la qualité de leur écoute."}},
		}},
		{image, "image", [5][2]string{
			{"I am proud to work for this company.", "Je suis fier ou fière de travailler pour cette entreprise."},
			{"What we say outside matches what we live inside.", "Ce que nous disons à l'extérieur correspond à ce que nous vivons à l'intérieur."},
			{"I would recommend our products or services to people close to me.", "Je recommanderais nos produits ou services à mes proches."},
			{"The company acts responsibly towards society and the environment.", "L'entreprise agit de façon responsable envers la société et l'environnement."},
			{"I feel I belong here.", "Je ressens un sentiment d'appartenance ici."},
		}, [3][][2]string{
			{{"Ask employees what would make them proud and act visibly on one point.", "Demander aux salariés ce qui les rendrait fiers et agir visiblement sur un point."},
				{"Check that external messages match the reality inside.", "Vérifier que les messages externes correspondent à la réalité interne."}},
			{{"Involve employees in the company's social and environmental commitments.", "Associer les salariés aux engagements sociaux et environnementaux de l'entreprise."},
				{"Celebrate team achievements inside and outside.", "Célébrer les réussites des équipes en interne et en externe."}},
			{{"Support employees who wish to act as ambassadors.", "Accompagner les salariés volontaires qui souhaitent être ambassadeurs."},
				{"Report every year on commitments kept and missed.", "Rendre compte chaque année des engagements tenus et manqués."}},
		}},
		{ecosystem, "ecosystem", [5][2]string{
			{"My tools are reliable and suited to my work.", "Mes outils sont fiables et adaptés à mon travail."},
			{"My workplace, on site or remote, lets me concentrate and collaborate.", "Mon lieu de travail, sur site ou à distance, me permet de me concentrer et de collaborer."},
			{"Our processes are simple, and we change them when they get in the way.", "Nos processus sont simples, et nous les changeons quand ils gênent."},
			{"Support functions (IT, HR, facilities) answer quickly.", "Les fonctions support (informatique, RH, services généraux) répondent rapidement."},
			{"Flexible working arrangements fit my needs.", "Les modalités de travail flexible correspondent à mes besoins."},
		}, [3][][2]string{
			{{"List the tools and processes that slow people down and fix the top three.", "Recenser les outils et processus qui ralentissent et corriger les trois premiers."},
				{"Set response-time targets for support functions.", "Fixer des délais de réponse aux fonctions support."}},
			{{"Let each team remove or simplify one process a quarter.", "Permettre à chaque équipe de supprimer ou simplifier un processus par trimestre."},
				{"Agree flexible-work rules with each team.", "Convenir des règles de travail flexible avec chaque équipe."}},
			{{"Measure the experience of internal tools as you would a product's.", "Mesurer l'expérience des outils internes comme celle d'un produit."},
				{"Involve employees in choosing tools and workplaces.", "Associer les salariés au choix des outils et des lieux de travail."}},
		}},
	}
}

// overallActions are the suggestions for the overall level.
func overallActions() [3][][2]string {
	return [3][][2]string{
		{{"Start with the weakest dimension: one visible action within a month, then measure again.", "Commencer par la dimension la plus faible : une action visible sous un mois, puis mesurer à nouveau."}},
		{{"Share these results with every team and agree actions together; review them every quarter.", "Partager ces résultats avec chaque équipe et décider des actions ensemble ; les revoir chaque trimestre."}},
		{{"Keep measuring with a weekly pulse and spread the practices of the strongest teams.", "Continuer à mesurer avec un pulse hebdomadaire et diffuser les pratiques des équipes les plus avancées."}},
	}
}

func levelOf(score float64) pulsev1.MaturityLevel {
	switch {
	case score >= matureFrom:
		return pulsev1.MaturityLevel_MATURITY_LEVEL_MATURE
	case score >= developingFrom:
		return pulsev1.MaturityLevel_MATURITY_LEVEL_DEVELOPING
	}
	return pulsev1.MaturityLevel_MATURITY_LEVEL_EMERGING
}

func pickLang(texts [][2]string, lang string) []string {
	var out []string
	for _, t := range texts {
		if lang == "fr" {
			out = append(out, t[1])
		} else {
			out = append(out, t[0])
		}
	}
	return out
}

// maturity scores a visible group of a DIAGNOSTIC survey from the SCALE questions it shows:
// each dimension's level from the mean of its answers, the overall level from the mean of the
// dimension scores (each dimension weighs the same, however many answers it has). It uses
// only numbers the group already shows, so it reveals nothing more.
func maturity(g *pulsev1.GroupResult, lang string) []*pulsev1.Maturity {
	sums := map[commonv1.Dimension][2]float64{} // sum of answers, answers
	for _, q := range g.Questions {
		if q.Hidden || q.Kind != commonv1.QuestionKind_QUESTION_KIND_SCALE || q.Responses == 0 {
			continue
		}
		s := sums[q.Dimension]
		s[0] += q.Mean * float64(q.Responses)
		s[1] += float64(q.Responses)
		sums[q.Dimension] = s
	}
	var out []*pulsev1.Maturity
	total, dims := 0.0, 0
	for _, d := range diagnosticStatements() {
		s, ok := sums[d.dim]
		if !ok {
			continue
		}
		score := s[0] / s[1]
		level := levelOf(score)
		out = append(out, &pulsev1.Maturity{Dimension: d.dim, Level: level, Score: score, Actions: pickLang(d.actions[level-1], lang)})
		total += score
		dims++
	}
	if dims == 0 {
		return nil
	}
	score := total / float64(dims)
	level := levelOf(score)
	overall := &pulsev1.Maturity{Level: level, Score: score, Actions: pickLang(overallActions()[level-1], lang)}
	return append([]*pulsev1.Maturity{overall}, out...)
}
