package analyzer

import (
	"testing"

	"github.com/jonreiter/govader"
)

// TestAgreementWithVADER compares the English labels with those of VADER itself
// (govader, a faithful port) on the English comments of both sets. Agreement is
// reported rather than maximised: where the two disagree, the analyzer is meant to be
// the one that reads workplace English right ("ok" is lukewarm, "honestly" is no praise,
// "no worries" is fine), so the floor is loose and only catches a scoring that went
// astray altogether.
func TestAgreementWithVADER(t *testing.T) {
	var set []example
	set = append(set, loadSet(t, "devset_en.tsv", "en")...)
	set = append(set, loadSet(t, "heldout.tsv", "en")...)
	a := New("en")
	v := govader.NewSentimentIntensityAnalyzer()
	agree, vaderRight, oursRight := 0, 0, 0
	for _, ex := range set {
		ours := a.Analyze(ex.text).Label
		theirs := labelOf(v.PolarityScores(ex.text).Compound)
		if ours == theirs {
			agree++
		} else if testing.Verbose() {
			t.Logf("line %d: ours %v, VADER %v, gold %v: %s", ex.line, ours, theirs, ex.label, ex.text)
		}
		if theirs == ex.label {
			vaderRight++
		}
		if ours == ex.label {
			oursRight++
		}
	}
	n := float64(len(set))
	t.Logf("English, n=%d: agreement with VADER %.3f; accuracy VADER %.3f, analyzer %.3f", len(set), float64(agree)/n, float64(vaderRight)/n, float64(oursRight)/n)
	if float64(agree)/n < 0.5 {
		t.Errorf("agreement with VADER %.3f, want at least 0.5", float64(agree)/n)
	}
}
