package demo

import (
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
)

// What people write, and what HR answers, in French and English. Written for the demo; no
// name, address or number that scrubbing would take out.

type polarity int

const (
	positive polarity = iota
	negative
	suggestion
)

// said holds, per dimension, the sentences of each polarity: en then fr.
type said struct {
	pos, neg, sug [2][]string
}

var sentences = map[commonv1.Dimension]said{
	commonv1.Dimension_DIMENSION_MEANING: {
		pos: [2][]string{{
			"I finally see how our project helps customers, and it makes the work feel worth it.",
			"The session on our mission was clear and motivating: I know why my work matters.",
			"Working on the accessibility release gave real meaning to my week.",
		}, {
			"Je vois enfin à quoi sert notre projet pour les clients, et ça donne du sens à mon travail.",
			"La réunion sur la mission était claire et motivante, je sais pourquoi ce que je fais compte.",
			"Travailler sur la version accessible m'a vraiment donné le sentiment d'être utile cette semaine.",
		}},
		neg: [2][]string{{
			"I no longer understand what our priorities are for; we change direction every month.",
			"Half of what we build gets thrown away, and it is hard to feel it is useful.",
			"I don't see the link between my daily tasks and the company strategy anymore.",
		}, {
			"Je ne comprends plus à quoi servent nos priorités, on change de cap tous les mois.",
			"La moitié de ce qu'on développe part à la poubelle, difficile de trouver du sens.",
			"Je ne vois plus le lien entre mes tâches quotidiennes et la stratégie de l'entreprise.",
		}},
		sug: [2][]string{{
			"It would help to hear from customers directly once a quarter, to see the impact of our work.",
			"Could managers explain why a project is stopped, not just that it is?",
		}, {
			"Ce serait bien d'entendre directement des clients une fois par trimestre pour voir l'impact de notre travail.",
			"Quand un projet est arrêté, pourrait-on nous expliquer pourquoi, et pas seulement l'annoncer ?",
		}},
	},
	commonv1.Dimension_DIMENSION_GROWTH: {
		pos: [2][]string{{
			"My manager gave me time to learn the new stack, and I feel I am progressing.",
			"The mentoring programme is great: I learn something new at every session.",
			"I was trusted to lead the migration on my own, which is a real step up for me.",
		}, {
			"Mon manager m'a laissé du temps pour apprendre la nouvelle techno, je sens que je progresse.",
			"Le programme de mentorat est top, j'apprends quelque chose à chaque séance.",
			"On m'a fait confiance pour piloter la migration seul, c'est une vraie évolution pour moi.",
		}},
		neg: [2][]string{{
			"There is no training budget left and I feel I am not learning anything anymore.",
			"I have been asking about a career path for a year and nobody can tell me what comes next.",
			"Every decision has to be approved three times, I have no autonomy at all.",
		}, {
			"Plus de budget formation et j'ai l'impression de ne plus rien apprendre.",
			"Je demande depuis un an quelles sont mes perspectives d'évolution, personne ne sait me répondre.",
			"Chaque décision doit être validée trois fois, je n'ai aucune autonomie.",
		}},
		sug: [2][]string{{
			"Could we get a few hours a month for training, protected from delivery deadlines?",
			"A clear description of the levels and of what it takes to move up would really help.",
		}, {
			"Pourrait-on avoir quelques heures de formation par mois, protégées des échéances de livraison ?",
			"Une grille claire des niveaux et de ce qu'il faut pour évoluer aiderait beaucoup.",
		}},
	},
	commonv1.Dimension_DIMENSION_CONNECTIONS: {
		pos: [2][]string{{
			"Great atmosphere in the team, people help each other without being asked.",
			"My manager listens and makes time for our one-to-ones, even in busy weeks.",
			"The new weekly team sync keeps everyone informed without wasting time.",
		}, {
			"Super ambiance dans l'équipe, on s'entraide sans même avoir à demander.",
			"Ma manager est à l'écoute et prend le temps de nos points individuels, même quand c'est chargé.",
			"Le nouveau point hebdo d'équipe nous tient informés sans perdre de temps.",
		}},
		neg: [2][]string{{
			"We learn about important decisions by chance, information does not flow at all.",
			"My one-to-ones get cancelled every other week and I feel left on my own.",
			"There is tension between our team and the one next to us, and nobody addresses it.",
		}, {
			"On apprend les décisions importantes par hasard, l'information ne circule pas du tout.",
			"Mes points individuels sont annulés une semaine sur deux et je me sens livré à moi-même.",
			"Il y a des tensions avec l'équipe voisine et personne ne s'en occupe.",
		}},
		sug: [2][]string{{
			"A short written summary after leadership meetings would help everyone stay informed.",
			"Could we have a team day once a quarter to actually meet each other?",
		}, {
			"Un court compte rendu écrit après les comités de direction aiderait tout le monde à suivre.",
			"Pourrait-on organiser une journée d'équipe par trimestre pour vraiment se rencontrer ?",
		}},
	},
	commonv1.Dimension_DIMENSION_IMAGE: {
		pos: [2][]string{{
			"Proud of the product launch, even my family noticed it.",
			"I liked how the company handled the last crisis: transparent and respectful.",
			"I recommend the company to my friends, it is a good place to work.",
		}, {
			"Fier du lancement du produit, même ma famille en a entendu parler.",
			"J'ai apprécié la façon dont la direction a géré la dernière crise : transparente et respectueuse.",
			"Je recommande l'entreprise à mes amis, il fait bon y travailler.",
		}},
		neg: [2][]string{{
			"The bad reviews about our support hurt, and I am not comfortable saying where I work.",
			"What we say outside does not match what we live inside, it feels like marketing.",
			"I don't feel I belong here anymore since the reorganisation.",
		}, {
			"Les mauvais avis sur notre support me touchent, je n'ose plus dire où je travaille.",
			"Le discours à l'extérieur ne correspond pas à ce qu'on vit en interne, ça sonne comme du marketing.",
			"Depuis la réorganisation, je ne me sens plus à ma place ici.",
		}},
		sug: [2][]string{{
			"We could share more of our customer successes internally, people would be prouder.",
			"It would be good to welcome newcomers with a proper introduction to our history and values.",
		}, {
			"On pourrait partager davantage nos réussites clients en interne, les gens seraient plus fiers.",
			"Ce serait bien d'accueillir les nouveaux avec une vraie présentation de notre histoire et de nos valeurs.",
		}},
	},
	commonv1.Dimension_DIMENSION_ECOSYSTEM: {
		pos: [2][]string{{
			"The new laptops are a huge improvement, builds are twice as fast.",
			"Moving approvals online saved me hours every week.",
			"The refurbished office is great, the quiet rooms make a real difference.",
		}, {
			"Les nouveaux ordinateurs changent tout, les compilations vont deux fois plus vite.",
			"Le passage des validations en ligne me fait gagner des heures chaque semaine.",
			"Les locaux rénovés sont très agréables, les salles calmes font une vraie différence.",
		}},
		neg: [2][]string{{
			"The VPN drops several times a day and we lose a lot of time.",
			"Our expense tool is so slow and complicated that people give up on claiming.",
			"The build pipeline takes forty minutes, it kills our productivity.",
		}, {
			"Le VPN coupe plusieurs fois par jour et on perd énormément de temps.",
			"L'outil de notes de frais est tellement lent et compliqué que certains renoncent à se faire rembourser.",
			"La chaîne d'intégration prend quarante minutes, ça tue notre productivité.",
		}},
		sug: [2][]string{{
			"Could we get a second screen for people who work from home?",
			"Please simplify buying small tools, the approvals take weeks.",
		}, {
			"Pourrait-on avoir un deuxième écran pour le télétravail ?",
			"Merci de simplifier les achats de petits outils, les validations prennent des semaines.",
		}},
	},
	commonv1.Dimension_DIMENSION_RECOGNITION: {
		pos: [2][]string{{
			"My manager thanked the whole team in front of everyone for the release, it felt good.",
			"The new peer recognition channel is a great idea, another team thanked us for our help.",
			"For once our extra effort during the peak was recognised, with a real bonus.",
		}, {
			"Mon manager a remercié toute l'équipe devant tout le monde pour la livraison, ça fait du bien.",
			"Le nouveau canal de remerciements entre collègues est une super idée, une autre équipe nous a remerciés.",
			"Pour une fois, notre effort pendant le pic d'activité a été reconnu, avec une vraie prime.",
		}},
		neg: [2][]string{{
			"We worked evenings for the release and nobody even said thank you.",
			"Only the big sales wins get celebrated, the work behind them is invisible.",
			"My promotion was postponed again without explanation, I feel my work is not valued.",
		}, {
			"On a travaillé le soir pour la livraison et personne ne nous a même dit merci.",
			"Seules les grosses victoires commerciales sont célébrées, le travail derrière reste invisible.",
			"Ma promotion a encore été repoussée sans explication, j'ai l'impression que mon travail n'est pas reconnu.",
		}},
		sug: [2][]string{{
			"A simple thank-you at the monthly meeting for the teams behind the scenes would mean a lot.",
			"Recognition should not only come from the top: colleagues know best who helped them.",
		}, {
			"Un simple merci en réunion mensuelle pour les équipes de l'ombre compterait beaucoup.",
			"La reconnaissance ne devrait pas venir que d'en haut : les collègues savent qui les a aidés.",
		}},
	},
	commonv1.Dimension_DIMENSION_WORKLOAD: {
		pos: [2][]string{{
			"Workload is reasonable this month, I can leave on time and recharge.",
			"Thanks for the two new hires, the pressure on the team has really dropped.",
			"The meeting-free Wednesday gives me time to focus, I feel much less stressed.",
		}, {
			"La charge est raisonnable ce mois-ci, je peux partir à l'heure et souffler.",
			"Merci pour les deux recrutements, la pression sur l'équipe a vraiment baissé.",
			"Le mercredi sans réunion me permet de me concentrer, je suis beaucoup moins stressé.",
		}},
		neg: [2][]string{{
			"We are drowning: three people left and nobody replaced them, I work every evening.",
			"Too many meetings and urgent requests, I cannot get my real work done.",
			"I am exhausted by the on-call rota, it has been every other week for two months.",
		}, {
			"On est débordés : trois départs non remplacés, je travaille tous les soirs.",
			"Trop de réunions et de demandes urgentes, je n'arrive plus à faire mon vrai travail.",
			"Je suis épuisé par les astreintes, c'est une semaine sur deux depuis deux mois.",
		}},
		sug: [2][]string{{
			"Could we stop taking on new projects until the backlog is under control?",
			"Please keep meetings to the mornings so that afternoons are for work.",
		}, {
			"Pourrait-on arrêter d'accepter de nouveaux projets tant que le retard n'est pas résorbé ?",
			"Merci de limiter les réunions aux matinées pour garder les après-midis pour travailler.",
		}},
	},
	commonv1.Dimension_DIMENSION_ENGAGEMENT: {
		pos: [2][]string{{
			"I am really motivated by the new roadmap, I want to give my best.",
			"Good week overall, I enjoy coming to work.",
			"I see myself staying here for a long time, the team is great.",
		}, {
			"Je suis vraiment motivé par la nouvelle feuille de route, j'ai envie de donner le meilleur.",
			"Bonne semaine dans l'ensemble, j'aime venir travailler.",
			"Je me vois rester ici longtemps, l'équipe est géniale.",
		}},
		neg: [2][]string{{
			"I am losing motivation, I do the minimum now and I am not the only one.",
			"Several of us are looking elsewhere, the mood has really dropped.",
			"Nothing changes whatever we say in these surveys, so why bother.",
		}, {
			"Je perds ma motivation, je fais le minimum maintenant et je ne suis pas le seul.",
			"Plusieurs collègues regardent ailleurs, le moral a vraiment baissé.",
			"Rien ne change quoi qu'on dise dans ces questionnaires, alors à quoi bon.",
		}},
		sug: [2][]string{{
			"Tell us what you do with these survey results, it would make people want to answer.",
			"An honest meeting about the difficulties would do more good than another celebration.",
		}, {
			"Dites-nous ce que vous faites des résultats de ces enquêtes, ça donnerait envie de répondre.",
			"Une réunion honnête sur les difficultés ferait plus de bien qu'une énième célébration.",
		}},
	},
}

// Openers and closers vary the comments, by polarity: en then fr.
var (
	openers = map[polarity][2][]string{
		positive:   {{"", "", "", "Just wanted to say: ", "Good news: "}, {"", "", "", "Je voulais le dire : ", "Bonne nouvelle : "}},
		negative:   {{"", "", "", "Honestly, ", "To be frank, ", "Again this week: "}, {"", "", "", "Honnêtement, ", "Pour être franc, ", "Encore cette semaine : "}},
		suggestion: {{"", "", "", "An idea: ", "A suggestion: "}, {"", "", "", "Une idée : ", "Une suggestion : "}},
	}
	closers = map[polarity][2][]string{
		positive:   {{"", "", "", " Thanks to everyone involved!", " Keep it up."}, {"", "", "", " Merci à tous ceux qui y ont contribué !", " Continuons comme ça."}},
		negative:   {{"", "", "", " It has been like this for weeks.", " Something has to change.", " Thanks for listening."}, {"", "", "", " Ça dure depuis des semaines.", " Il faut que ça change.", " Merci de nous écouter."}},
		suggestion: {{"", "", "", " Happy to help if needed.", " Just an idea."}, {"", "", "", " Je peux aider si besoin.", " Ce n'est qu'une idée."}},
	}
)

func langIndex(lang string) int {
	if lang == "fr" {
		return 1
	}
	return 0
}

func (s said) of(p polarity) [2][]string {
	switch p {
	case positive:
		return s.pos
	case negative:
		return s.neg
	}
	return s.sug
}

func pick(rng *rand.Rand, xs []string) string { return xs[rng.IntN(len(xs))] }

// sentence is one sentence about d of polarity pol in lang.
func sentence(rng *rand.Rand, d commonv1.Dimension, pol polarity, lang string) string {
	return pick(rng, sentences[d].of(pol)[langIndex(lang)])
}

// comment is a comment about d of polarity pol in lang: a sentence, sometimes with an opener
// and a closer.
func comment(rng *rand.Rand, d commonv1.Dimension, pol polarity, lang string) string {
	l := langIndex(lang)
	core := sentence(rng, d, pol, lang)
	if o := pick(rng, openers[pol][l]); o != "" {
		core = o + lowerFirst(core)
	}
	return core + pick(rng, closers[pol][l])
}

// lowerFirst lowers the first letter of s, unless it is the English "I".
func lowerFirst(s string) string {
	if s == "I" || strings.HasPrefix(s, "I ") || strings.HasPrefix(s, "I'") {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}

// What HR writes: status notes and replies, en then fr.
var (
	ackNotes = [2][]string{{
		"Thanks for sharing this, we have read it and will come back to you.",
		"Received, thank you. We are looking into it with the team's manager.",
	}, {
		"Merci pour ce retour, nous l'avons bien lu et revenons vers vous.",
		"Bien reçu, merci. Nous regardons le sujet avec le manager de l'équipe.",
	}}
	progressNotes = [2][]string{{
		"We have started working on it: a first step is planned this month.",
		"This is now on the leadership team's agenda, with an owner and a date.",
	}, {
		"Nous avons commencé à travailler dessus : une première étape est prévue ce mois-ci.",
		"Le sujet est maintenant à l'ordre du jour du comité de direction, avec un responsable et une date.",
	}}
	resolvedNotes = [2][]string{{
		"Done: the change is in place. Tell us if it is not enough.",
		"This is solved on our side; thanks again for raising it.",
	}, {
		"C'est fait : le changement est en place. Dites-nous si ce n'est pas suffisant.",
		"C'est réglé de notre côté ; merci encore de l'avoir signalé.",
	}}
	declinedNotes = [2][]string{{
		"We cannot do this now, and want to be honest about it: the budget is frozen until next year.",
	}, {
		"Nous ne pouvons pas le faire maintenant, et préférons être honnêtes : le budget est gelé jusqu'à l'an prochain.",
	}}
	replies = map[polarity][2][]string{
		positive: {{
			"Thanks a lot for this, we will pass it on to the team!",
			"Great to read, thank you. We will share it at the next all-hands.",
		}, {
			"Merci beaucoup, nous transmettons à l'équipe !",
			"Ça fait plaisir à lire, merci. Nous le partagerons à la prochaine réunion générale.",
		}},
		negative: {{
			"Thank you for raising this. Could you tell us more about when it happens, so we act on the right thing?",
			"We hear you. We are discussing it with the management team this week.",
		}, {
			"Merci de le signaler. Pouvez-vous nous en dire plus sur les moments où ça arrive, pour agir au bon endroit ?",
			"Nous vous entendons. Nous en parlons avec l'équipe de direction cette semaine.",
		}},
		suggestion: {{
			"Good idea, thank you. We will look at what it would take and come back to you.",
		}, {
			"Bonne idée, merci. Nous regardons ce que cela demanderait et revenons vers vous.",
		}},
	}
	followUps = [2][]string{{
		"Thanks for the answer. It mostly happens at the end of the month.",
		"Thank you, good to know someone reads these.",
		"Any news on this? It is still the case.",
		"Thanks, that would already help a lot.",
	}, {
		"Merci pour la réponse. Ça arrive surtout en fin de mois.",
		"Merci, ça fait du bien de savoir que c'est lu.",
		"Des nouvelles ? C'est toujours le cas.",
		"Merci, ce serait déjà une grande aide.",
	}}
)
