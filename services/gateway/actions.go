package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
)

// "You said, we did": /feedback actions lists the action plans of the person's segment and
// of each of its ancestors (ListActionPlans with for_segment), in the person's language. The
// feedback service shows employees no owner group and no links, so neither can reach Slack.

// maxActionsShown is how many plans one answer lists; more are counted as "and more".
const maxActionsShown = 20

// actionText is the bot's text of /feedback actions, per language; English is the default.
var actionText = map[string]map[string]string{
	"en": {
		"head":        "What is being done about what people said, for %s and above:",
		"none":        "No action plan for %s or above yet. What you share with `/feedback <text>` is what plans start from.",
		"due":         "due %s",
		"more":        "…and more: ask HR for the full list.",
		"failed":      "Sorry, I could not fetch the action plans. Please try again in a minute.",
		"PLANNED":     "planned",
		"IN_PROGRESS": "in progress",
		"DONE":        "done",
		"DROPPED":     "dropped",
		"latest":      "latest",
	},
	"fr": {
		"head":        "Ce qui est fait suite à ce que vous avez dit, pour %s et au-dessus :",
		"none":        "Aucun plan d'action pour %s ou au-dessus pour l'instant. Ce que vous partagez avec `/feedback <texte>` est le point de départ des plans.",
		"due":         "échéance le %s",
		"more":        "…et d'autres : demandez la liste complète aux RH.",
		"failed":      "Désolé, je n'ai pas pu récupérer les plans d'action. Réessayez dans une minute.",
		"PLANNED":     "prévu",
		"IN_PROGRESS": "en cours",
		"DONE":        "fait",
		"DROPPED":     "abandonné",
		"latest":      "dernier point",
	},
}

// planStatusText names an action plan's status in lang ("en" or "fr"), for the bot and the
// dashboard alike.
func planStatusText(lang string, st feedbackv1.ActionPlanStatus) string {
	name := strings.TrimPrefix(st.String(), "ACTION_PLAN_STATUS_")
	if t := actionText[lang][name]; t != "" {
		return t
	}
	return strings.ToLower(name)
}

// dimensionText names a dimension in French; English uses the enum's name in lower case.
var dimensionText = map[commonv1.Dimension]string{
	commonv1.Dimension_DIMENSION_MEANING:     "sens",
	commonv1.Dimension_DIMENSION_GROWTH:      "épanouissement",
	commonv1.Dimension_DIMENSION_CONNECTIONS: "relations",
	commonv1.Dimension_DIMENSION_IMAGE:       "image",
	commonv1.Dimension_DIMENSION_ECOSYSTEM:   "écosystème",
	commonv1.Dimension_DIMENSION_RECOGNITION: "reconnaissance",
	commonv1.Dimension_DIMENSION_WORKLOAD:    "charge de travail",
	commonv1.Dimension_DIMENSION_ENGAGEMENT:  "engagement",
}

// frMonths are the months of a French date.
var frMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// botLang is the language of the bot's answers to a person: what they chose or HR set, else
// English.
func botLang(m member) string {
	if m.rec.Language == "fr" {
		return "fr"
	}
	return "en"
}

// actions runs /feedback actions.
func (s *Service) actions(ctx context.Context, cmd command) reply {
	m, r := s.lookup(cmd)
	if r != nil {
		return *r
	}
	lang := botLang(m)
	tr := func(key string) string { return actionText[lang][key] }
	// The team prompt of segmentOf is in English, like the rest of the team subcommand.
	seg, r := s.segmentOf(ctx, m, "I can't show the action plans of your team yet.")
	if r != nil {
		return *r
	}
	resp, err := s.feedback.ListActionPlans(ctx, &feedbackv1.ListActionPlansRequest{ForSegment: seg.String(), PageSize: maxActionsShown})
	if err != nil {
		s.failed("actions", err) // logs the call's status, without the person
		return ephemeral("%s", tr("failed"))
	}
	if len(resp.Plans) == 0 {
		return ephemeral(tr("none"), "`"+seg.String()+"`")
	}
	var b strings.Builder
	fmt.Fprintf(&b, tr("head"), "`"+seg.String()+"`")
	for _, p := range resp.Plans {
		st := planStatusText(lang, p.Status)
		fmt.Fprintf(&b, "\n• *%s* (%s", p.Title, p.Segment)
		if d := p.Dimension; d != commonv1.Dimension_DIMENSION_UNSPECIFIED {
			name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(d.String(), "DIMENSION_"), "_", " "))
			if lang == "fr" && dimensionText[d] != "" {
				name = dimensionText[d]
			}
			fmt.Fprintf(&b, ", %s", name)
		}
		fmt.Fprintf(&b, "): %s, "+tr("due"), st, dayIn(lang, p.DueTime.AsTime()))
		if p.Description != "" {
			fmt.Fprintf(&b, "\n  %s", p.Description)
		}
		if n := len(p.Notes); n > 0 && p.Notes[n-1].Text != "" {
			fmt.Fprintf(&b, "\n  %s (%s): %s", tr("latest"), dayIn(lang, p.Notes[n-1].CreateDay.AsTime()), p.Notes[n-1].Text)
		}
	}
	if resp.NextPageToken != "" {
		fmt.Fprintf(&b, "\n%s", tr("more"))
	}
	return ephemeral("%s", b.String())
}

// dayIn writes a day as people of lang write it: "2 Mar 2026", "2 mars 2026".
func dayIn(lang string, t time.Time) string {
	t = t.UTC()
	if lang == "fr" {
		return fmt.Sprintf("%d %s %d", t.Day(), frMonths[t.Month()-1], t.Year())
	}
	return t.Format("2 Jan 2006")
}
