package analyzer

import "testing"

// TestRiskDeniedOrPraised: praise that names a risk only to deny it raises no flag.
// The flags' thresholds are set for recall, so before the gate (riskGateNegative)
// "No harassment here, great team." was flagged harassment.
func TestRiskDeniedOrPraised(t *testing.T) {
	for _, def := range []string{"en", "fr"} {
		a := New(def)
		for _, text := range []string{
			"No harassment here, great team.",
			"Aucun harcèlement ici, super équipe.",
			"Never been bullied here, people are kind.",
			"Je ne pars pas, je suis très bien ici !",
		} {
			if r := a.Analyze(text); r.Risks != 0 {
				t.Errorf("New(%q).Analyze(%q) flags %v (P(negative) %.2f); want no flag", def, text, r.Risks, r.Probabilities.Negative)
			}
		}
		// The gate keeps what HR must see.
		for text, want := range map[string]Risk{
			"My manager harasses me every day.":      Harassment,
			"Mon manager me rabaisse et me harcèle.": Harassment,
			"I'm burned out and can't sleep.":        Distress,
			"I'm quitting next month.":               Quit,
			"The fire exit is blocked by pallets.":   Safety,
		} {
			if r := a.Analyze(text); !r.Risks.Has(want) {
				t.Errorf("New(%q).Analyze(%q) flags %v; want %v", def, text, r.Risks, want)
			}
		}
	}
}

// TestGateRisks checks the gate's rule on its own.
func TestGateRisks(t *testing.T) {
	all := Harassment | Quit | Distress | Safety
	if got := gateRisks(all, riskGateNegative, 0, riskGateNegative); got != all {
		t.Errorf("a comment negative enough keeps every flag: got %v", got)
	}
	if got := gateRisks(all, riskGateNegative/2, Quit|Safety, riskGateNegative); got != Quit|Safety {
		t.Errorf("a comment that is not negative keeps only the flags it names: got %v", got)
	}
	if got := gateRisks(0, 1, all, riskGateNegative); got != 0 {
		t.Errorf("no flag from the model, none from the gate: got %v", got)
	}
}

// TestRiskCues reads keywords outside negation scopes only.
func TestRiskCues(t *testing.T) {
	a := newRules("en")
	for text, want := range map[string]Risk{
		"No harassment here, great team.":      0,
		"I was harassed, no one helped.":       Harassment,
		"I'm not going to quit.":               0,
		"I'm quitting, no doubt about it.":     Quit,
		"Je ne suis pas épuisée.":              0,
		"Je suis épuisée.":                     Distress,
		"The meeting was fine.":                0,
		"Not harassed, but I'm quitting soon.": Quit,
	} {
		if got := a.textRiskCues(text); got != want {
			t.Errorf("textRiskCues(%q) = %v; want %v", text, got, want)
		}
	}
}
