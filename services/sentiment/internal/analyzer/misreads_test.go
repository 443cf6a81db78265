package analyzer

import "testing"

// TestMisreads holds the comments the rule engine alone got wrong in use: the learned
// model must read them right. Labels are what the writer means; "not positive" is
// used where a reader could defend neutral as well as negative.
func TestMisreads(t *testing.T) {
	const notPositive Label = 99
	tests := []struct {
		defaultLang, text string
		want              Label
		lang              string // "" to leave unchecked
		risk              Risk   // flags that must be raised
	}{
		{"en", "we value people, yet three colleagues were let go without notice", Negative, "en", 0},
		{"en", "I would not recommend this company to a friend", Negative, "en", 0},
		{"en", "I want to quit", Negative, "en", Quit},
		{"en", "Why do we keep having meetings that could have been an email?", Negative, "en", 0},
		{"en", "Love how the VPN dies every afternoon. Really great.", Negative, "en", 0},
		{"en", "Comment number 3 about the slow build servers", notPositive, "en", 0},
		{"fr", "Le salaire est correct mais aucune perspective d'évolution", Negative, "fr", 0},
		{"fr", "Rien ne marche et tout le monde s'en fiche", Negative, "fr", 0},
		{"fr", "pourtant trois collègues ont été licenciés sans préavis", Negative, "fr", 0},
		{"fr", "Mon manager me harcèle", Negative, "fr", Harassment},
		// Short French, in an English-speaking organisation.
		{"en", "Trop de réunions", Negative, "fr", 0},
		{"en", "Débordée.", Negative, "fr", 0},
		{"en", "J'en peux plus", Negative, "fr", 0},
		{"en", "C'est nul", Negative, "fr", 0},
		{"en", "Équipe géniale", Positive, "fr", 0},
		{"en", "Merci à tous", Positive, "fr", 0},
	}
	analyzers := map[string]*Analyzer{"fr": New("fr"), "en": New("en")}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got := analyzers[tt.defaultLang].Analyze(tt.text)
			checkResult(t, tt.text, got)
			if tt.want == notPositive {
				if got.Label == Positive {
					t.Errorf("Analyze(%q) = %v %+v, want not positive", tt.text, got.Label, got.Probabilities)
				}
			} else if got.Label != tt.want {
				t.Errorf("Analyze(%q) = %v %+v, want %v", tt.text, got.Label, got.Probabilities, tt.want)
			}
			if tt.lang != "" && got.Language != tt.lang {
				t.Errorf("Analyze(%q).Language = %q, want %q", tt.text, got.Language, tt.lang)
			}
			if !got.Risks.Has(tt.risk) {
				t.Errorf("Analyze(%q).Risks = %v, want %v among them", tt.text, got.Risks, tt.risk)
			}
		})
	}
}
