package analyzer

import (
	"math"
	"testing"
)

func TestEmojiAndReactions(t *testing.T) {
	tests := []struct {
		text string
		want Label
	}{
		{"👍", Positive},
		{"👎", Negative},
		{"👍🏽", Positive},     // skin tone ignored
		{"❤️", Positive},     // variation selector ignored
		{"🦄", Neutral},       // not in the table: no opinion
		{":tada:", Positive}, // Slack reaction
		{":+1::skin-tone-3:", Positive},
		{":rage: le wifi", Negative},
		{":not_a_reaction:", Neutral},
		{"réunion à 10:30:00", Neutral}, // a time is not a reaction
		{"réunion à 10:30", Neutral},
		{"c'est super 😡", Negative}, // one word and one reaction: the angrier wins
	}
	a := New("fr")
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got := a.Analyze(tt.text)
			if got.Label != tt.want {
				t.Errorf("Analyze(%q) = %+v, want %v", tt.text, got, tt.want)
			}
			checkResult(t, tt.text, got)
		})
	}
}

func TestSlackMarkupIsStripped(t *testing.T) {
	a := New("en")
	same := []struct{ marked, plain string }{
		{"<@U024BE7LH> thanks for the help", "thanks for the help"},
		{"<#C0123|horrible-channel> the release went well", "the release went well"},
		{"<https://wiki.acme.io/x|the doc> is outdated", "the doc is outdated"},
		{"see <https://example.com/terrible-awful-page> for the agenda", "see for the agenda"},
		{"see https://example.com/terrible-awful-page for the agenda", "see for the agenda"},
		{"*great* _team_ ~awful~", "great team awful"},
		{"we &lt;3 the team &amp; the product", "we <3 the team & the product"},
	}
	for _, tt := range same {
		got, want := a.Analyze(tt.marked), a.Analyze(tt.plain)
		if got.Score != want.Score || got.Language != want.Language {
			t.Errorf("Analyze(%q) = %+v, want the same as %q = %+v", tt.marked, got, tt.plain, want)
		}
	}
	for in, want := range map[string]string{
		"<@U1> hi":       "  hi",
		"a < b > c":      "a  b   c",
		"unclosed <tag":  "unclosed <tag",
		"<mailto:x@y.z>": " ",
	} {
		if got := stripMarkup(in); got != want {
			t.Errorf("stripMarkup(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCapitalsAndBangs(t *testing.T) {
	a := New("en")
	stronger := []struct{ base, emphatic string }{
		{"the team is great", "the team is GREAT"},
		{"the deadlines are terrible", "the deadlines are TERRIBLE"},
		{"trop de réunions", "TROP DE RÉUNIONS"},
		// A bare "bravo!!!" is left out: in the training corpus most comments that open on
		// "Bravo" are sarcastic, and the model reads the bare word that way.
		{"bravo à toute l'équipe", "BRAVO à toute l'équipe!!!"},
	}
	for _, tt := range stronger {
		b, e := ruleScore(a, tt.base), ruleScore(a, tt.emphatic)
		if labelOf(b) == Neutral || labelOf(b) != labelOf(e) || math.Abs(e) <= math.Abs(b) {
			t.Errorf("rules: %q = %v, %q = %v: want the same sign, stronger", tt.base, b, tt.emphatic, e)
		}
		if got := a.Analyze(tt.emphatic).Label; got != labelOf(b) {
			t.Errorf("Analyze(%q) = %v, want %v", tt.emphatic, got, labelOf(b))
		}
	}
}

func TestIrony(t *testing.T) {
	a := New("fr")
	tests := []struct {
		text string
		want Label
	}{
		{"Génial, encore une réunion à 18h", Negative},
		{"Super, une réorganisation de plus...", Negative},
		{"Great, another reorg", Negative},
		{"Oh wonderful, one more meeting", Negative},
		{"Quelle belle organisation 🙃", Negative},
		{"love the transparency 🙄", Negative},
		{"Génial, encore une victoire de l'équipe", Positive}, // more praise: sincere
		{"Génial, merci", Positive},
		{"Super, de plus en plus de clients contents", Positive},
	}
	for _, tt := range tests {
		if got := a.Analyze(tt.text); got.Label != tt.want {
			t.Errorf("Analyze(%q) = %+v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestLessIsMildOpposite(t *testing.T) {
	a := New("fr")
	tests := []struct {
		text string
		want Label
	}{
		{"je suis beaucoup moins stressé", Positive},
		{"je suis de moins en moins motivé", Negative},
		{"I'm less stressed since the reorg", Positive},
		{"at least the team is great", Positive},
		{"au moins l'équipe est sympa", Positive},
	}
	for _, tt := range tests {
		if got := a.Analyze(tt.text); got.Label != tt.want {
			t.Errorf("Analyze(%q) = %+v, want %v", tt.text, got, tt.want)
		}
	}
	if less, opposite := ruleScore(a, "je suis moins stressé"), ruleScore(a, "je suis détendu"); less >= opposite {
		t.Errorf("rules: moins stressé = %v should be milder than détendu = %v", less, opposite)
	}
}

// TestWorkplaceVocabulary is the list: these words must score right on their
// own, in either language, and the topics that are not opinions must stay neutral.
func TestWorkplaceVocabulary(t *testing.T) {
	tests := []struct {
		text string
		want Label
	}{
		{"je suis débordé", Negative},
		{"on est épuisés", Negative},
		{"je me sens valorisée", Positive},
		{"l'équipe est démotivée", Negative},
		{"c'est la galère", Negative},
		{"encore une charrette", Negative},
		{"merci pour la reconnaissance", Positive},
		{"une vraie écoute", Positive},
		{"trop de micromanagement", Negative},
		{"risque de burn-out", Negative},
		{"manque de reconnaissance", Negative},
		{"pas d'écoute", Negative},
		{"l'onboarding commence lundi", Neutral},
		{"le télétravail est le mardi", Neutral},
		{"I'm swamped", Negative},
		{"we are exhausted", Negative},
		{"I feel valued", Positive},
		{"the team is demotivated", Negative},
		{"it's a struggle every day", Negative},
		{"another crunch", Negative},
		{"thanks for the recognition", Positive},
		{"I feel listened to", Positive},
		{"the micromanagement", Negative},
		{"close to burnout", Negative},
		{"lack of recognition", Negative},
		{"onboarding starts on Monday", Neutral},
		{"remote work is on Tuesdays", Neutral},
	}
	for _, lang := range []string{"fr", "en"} {
		a := New(lang)
		for _, tt := range tests {
			if got := a.Analyze(tt.text); got.Label != tt.want {
				t.Errorf("New(%q).Analyze(%q) = %+v, want %v", lang, tt.text, got, tt.want)
			}
		}
	}
}

func TestDimensions(t *testing.T) {
	a := New("fr")
	type hit struct {
		d Dimension
		l Label
	}
	tests := []struct {
		text string
		want []hit
	}{
		{"Mon manager est top mais la charge de travail est insupportable",
			[]hit{{Connections, Positive}, {Workload, Negative}}},
		{"La charge de travail est insupportable, heureusement mon manager est top",
			[]hit{{Connections, Positive}, {Workload, Negative}}},
		{"manager, manager, manager : génial", []hit{{Connections, Positive}}}, // sentence, not clause, carries the opinion
		{"Great training, but the VPN is awful", []hit{{Growth, Positive}, {Ecosystem, Negative}}},
		{"le télétravail passe à trois jours", []hit{{Ecosystem, Neutral}}},
		{"Remote work has been great", []hit{{Ecosystem, Positive}}}, // a phrase keyword
		{"la charge de travail est lourde", []hit{{Workload, Negative}}},
		{"il fait beau", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got := a.Analyze(tt.text).Dimensions
			if len(got) != len(tt.want) {
				t.Fatalf("dimensions = %+v, want %+v", got, tt.want)
			}
			for i, h := range got {
				if h.Dimension != tt.want[i].d || h.Label != tt.want[i].l {
					t.Errorf("dimension %d = %+v, want %+v", i, h, tt.want[i])
				}
				if h.Label != labelOf(h.Score) || h.Score < -1 || h.Score > 1 {
					t.Errorf("dimension %+v: score and label disagree", h)
				}
				if i > 0 && got[i-1].Dimension >= h.Dimension {
					t.Errorf("dimensions out of order or duplicated: %+v", got)
				}
			}
		})
	}
}

func TestDimensionNumbers(t *testing.T) {
	// The numbering is voix.common.v1.Dimension's: the service converts with a cast.
	want := map[Dimension]string{1: "meaning", 2: "growth", 3: "connections", 4: "image", 5: "ecosystem", 6: "recognition", 7: "workload", 8: "engagement", 0: "Dimension(0)", 9: "Dimension(9)"}
	for d, name := range want {
		if d.String() != name {
			t.Errorf("Dimension(%d).String() = %q, want %q", int(d), d.String(), name)
		}
	}
}

func TestEmotion(t *testing.T) {
	a := New("fr")
	tests := []struct {
		text string
		want Emotion
	}{
		{"je suis épuisé, complètement crevé", Fatigue},
		{"merci beaucoup 🙏", Gratitude},
		{"super fière de l'équipe", Pride},
		{"je suis stressée, la pression est énorme", Stress},
		{"😡 encore un bug", Frustration},
		{"je suis triste et déçu", Sadness},
		{"trop contente de cette journée 🎉", Joy},
		{"I'm so tired and drained", Fatigue},
		{"thanks a lot, really grateful", Gratitude},
		{"je ne suis pas stressé", NoEmotion}, // negated cue
		{"stressed but grateful", NoEmotion},  // tie: nothing dominates
		{"la réunion est à 10h", NoEmotion},
		{"", NoEmotion},
	}
	for _, tt := range tests {
		if got := a.Analyze(tt.text).Emotion; got != tt.want {
			t.Errorf("Analyze(%q).Emotion = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// TestDimensionQuality measures dimension tagging against the dimensions noted in the
// development set: precision and recall over (comment, dimension) pairs. The set notes
// each comment's main dimension only ("equipe geniale, manager a l'ecoute" is noted
// with none), so precision is a lower bound. The floors sit under the measurement.
func TestDimensionQuality(t *testing.T) {
	for _, lang := range []string{"fr", "en"} {
		set := loadSet(t, "devset_"+lang+".tsv", lang)
		a := New(lang)
		tp, fp, fn := 0, 0, 0
		for _, ex := range set {
			want := map[Dimension]bool{}
			for _, d := range ex.dims {
				want[d] = true
			}
			for _, h := range a.Analyze(ex.text).Dimensions {
				if want[h.Dimension] {
					tp++
					delete(want, h.Dimension)
				} else {
					fp++
				}
			}
			fn += len(want)
		}
		p, r := float64(tp)/float64(tp+fp), float64(tp)/float64(tp+fn)
		t.Logf("%s dimensions: precision %.3f recall %.3f (tp=%d fp=%d fn=%d)", lang, p, r, tp, fp, fn)
		if p < 0.65 || r < 0.9 {
			t.Errorf("%s dimensions: precision %.3f, recall %.3f, want at least 0.65 and 0.9", lang, p, r)
		}
	}
}

func TestNegationScope(t *testing.T) {
	a := New("fr")
	tests := []struct {
		text string
		want Label
	}{
		{"on n'est jamais informés", Negative},            // never, alone: a reproach
		{"my manager never replies", Negative},            //
		{"jamais eu de problème avec l'équipe", Positive}, // never + a negative word: plain negation
		{"never had a problem with the team", Positive},
		{"je ne me suis jamais senti aussi bien", Positive}, // never so: emphasis
		{"I have never been so happy here", Positive},
		{"mieux que jamais", Positive},
		{"je n'ai pas pris de vraies vacances", Negative}, // four words back
		{"I haven't taken a real vacation", Negative},
		{"difficile de rester motivé", Negative}, // what is hard to get is missing
		{"hard to stay motivated", Negative},
		{"non. je suis content", Positive}, // negation stops at the sentence
	}
	for _, tt := range tests {
		if got := a.Analyze(tt.text); got.Label != tt.want {
			t.Errorf("Analyze(%q) = %+v, want %v", tt.text, got, tt.want)
		}
	}
}
