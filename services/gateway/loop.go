package gateway

import (
	"fmt"
	"strings"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

// Closing the loop at the end of a survey (/pulse answer): a TEXT answer also opened a thread
// of its own, whose follow-up code only the person gets (like /feedback's); and "you said, we
// did", the action plans of the person's segment and its ancestors changed since the previous
// wave, as pulse returns them. Like /feedback actions, the bot shows no owner group.

// planStatusKey names voix.feedback.v1.ActionPlanStatus numbers as actionText's keys.
var planStatusKey = map[int32]string{1: "PLANNED", 2: "IN_PROGRESS", 3: "DONE", 4: "DROPPED"}

// loopText is the bot's text of the end of a survey, per language; English is the default.
var loopText = map[string]map[string]string{
	"en": {
		"thread": "Your comment is also a thread of its own, anonymous like the rest. Its follow-up code is `%s`: keep it, it is the only way to see answers (`/feedback status %s`). Nobody else has it, us included. It shows up for the people who answer it from tomorrow.",
		"news":   "You said, we did: what changed since the last survey, for %s and above:",
	},
	"fr": {
		"thread": "Votre commentaire ouvre aussi un fil à lui, anonyme comme le reste. Son code de suivi est `%s` : gardez-le, c'est le seul moyen de voir les réponses (`/feedback status %s`). Personne d'autre ne l'a, nous compris. Il apparaît pour celles et ceux qui y répondent à partir de demain.",
		"news":   "Vous avez dit, nous avons fait : ce qui a bougé depuis le dernier questionnaire, pour %s et au-dessus :",
	},
}

// surveyEnd is what follows the thanks of /pulse answer.
func surveyEnd(lang, seg string, resp *pulsev1.SubmitResponseResponse) string {
	if lang != "fr" {
		lang = "en"
	}
	var b strings.Builder
	for _, th := range resp.GetThreads() {
		fmt.Fprintf(&b, "\n"+loopText[lang]["thread"], th.FollowUpToken, th.FollowUpToken)
	}
	if news := resp.GetPlanNews(); len(news) > 0 {
		fmt.Fprintf(&b, "\n"+loopText[lang]["news"], "`"+seg+"`")
		for _, p := range news {
			st := actionText[lang][planStatusKey[p.Status]]
			if st == "" {
				st = "?"
			}
			fmt.Fprintf(&b, "\n• *%s* (%s", p.Title, p.Segment)
			if d := p.Dimension; d != commonv1.Dimension_DIMENSION_UNSPECIFIED {
				name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(d.String(), "DIMENSION_"), "_", " "))
				if lang == "fr" && dimensionText[d] != "" {
					name = dimensionText[d]
				}
				fmt.Fprintf(&b, ", %s", name)
			}
			fmt.Fprintf(&b, "): %s, %s", st, dayIn(lang, p.ChangedDay.AsTime()))
		}
	}
	return b.String()
}
