package analyzer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The corpus (corpus/, CC0) has a training split, written by two writers, and a test
// split written by a third who saw neither the training split nor the code. The model
// is trained on the first only; the test split is read here and nowhere else, and no
// choice (features, hyperparameters, thresholds) was made by looking at it. The floors
// sit just under the figures measured when the model was trained: they catch a change
// that makes the analyzer worse, and the figures themselves are logged.

func loadTestSplit(t testing.TB) []Example {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("corpus", "test_*.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out []Example
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		exs, err := ReadCorpus(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, exs...)
	}
	if len(out) == 0 {
		t.Skip("no test split in corpus/")
	}
	return out
}

// orgLanguage is the default language of the organisation a comment comes from: its
// own language, and French for the code-switching comments, which English-speaking
// staff of French companies write.
func orgLanguage(ex *Example) string {
	if ex.Lang == "en" {
		return "en"
	}
	return "fr"
}

func analyzeAll(exs []Example) []Result {
	analyzers := map[string]*Analyzer{"fr": New("fr"), "en": New("en")}
	out := make([]Result, len(exs))
	for i := range exs {
		out[i] = analyzers[orgLanguage(&exs[i])].Analyze(exs[i].Text)
	}
	return out
}

// testSplitFloors are the floors on the test split, by language and tag, just under the
// figures of the model trained on writers A, B and D to T (English 0.902, French 0.917).
var testSplitFloors = map[Group]Quality{
	{Lang: "fr"}:              {Accuracy: 0.91, MacroF1: 0.91},
	{Lang: "en"}:              {Accuracy: 0.89, MacroF1: 0.89},
	{Lang: "mixed"}:           {Accuracy: 0.94, MacroF1: 0.94},
	{Tag: "negation"}:         {Accuracy: 0.89},
	{Tag: "contrast"}:         {Accuracy: 0.91},
	{Tag: "question"}:         {Accuracy: 0.84},
	{Tag: "long"}:             {Accuracy: 0.90},
	{Tag: "sarcasm_marked"}:   {Accuracy: 0.91},
	{Tag: "sarcasm_unmarked"}: {Accuracy: 0.81},
}

// riskFloors are the floors of recall and precision per flag on the test split, under
// the figures measured. Writers H to T raised precision (0.24-0.43 to 0.49-0.59) and the
// recall of three flags (0.87-0.89 to 0.91-0.92); distress recall fell from 0.87 to 0.837
// (77 of 92) while it stayed 0.915 on the training writers (-xw): its floor is 0.83, under
// the 0.85 the gate was chosen to keep, and the closing note of issue 11 says so. The
// thresholds were not moved to win it back: that would be tuning on this split.
var riskFloors = map[Risk][2]float64{
	Harassment: {0.90, 0.55},
	Quit:       {0.90, 0.48},
	Distress:   {0.83, 0.47},
	Safety:     {0.90, 0.46},
}

func TestTestSplit(t *testing.T) {
	exs := loadTestSplit(t)
	res := analyzeAll(exs)
	got := make([]Label, len(res))
	for i, r := range res {
		got[i] = r.Label
		if err := resultInvariants(r); err != "" {
			t.Errorf("%s: %s", exs[i].ID, err) // ids only: the test split's texts stay unread
		}
	}
	m := MeasureGroups(exs, got)
	var b strings.Builder
	WriteReport(&b, m)
	t.Logf("test split, %d comments, sentiment by language/tag:\n%s", len(exs), b.String())
	if unseen, unseenGot := unseenInTraining(t, exs, got); len(unseen) < len(exs) {
		// A few short texts ("bof", "No comment.") were written by a training writer too.
		var u strings.Builder
		WriteReport(&u, MeasureGroups(unseen, unseenGot))
		t.Logf("test split without the %d comments whose text is also in the training data:\n%s",
			len(exs)-len(unseen), u.String())
	}
	for g, floor := range testSplitFloors {
		q, ok := m[g]
		if !ok {
			continue
		}
		if q.Accuracy < floor.Accuracy || q.MacroF1 < floor.MacroF1 {
			t.Errorf("%v: %v, below the floor accuracy %.3f macro-F1 %.3f", g, q, floor.Accuracy, floor.MacroF1)
		}
	}

	gold := make([]Risk, len(exs))
	flags := make([]Risk, len(exs))
	for i := range exs {
		gold[i], flags[i] = exs[i].Risks, res[i].Risks
	}
	for _, f := range riskFlags {
		q := MeasureRisk(f, gold, flags)
		t.Logf("test split risk %v", q)
		if fl := riskFloors[f]; q.Recall < fl[0] || q.Precision < fl[1] {
			t.Errorf("risk %v: recall %.3f precision %.3f, below the floors %.3f, %.3f", f, q.Recall, q.Precision, fl[0], fl[1])
		}
	}
	if testing.Verbose() {
		for i, ex := range exs {
			if res[i].Label != ex.Label {
				t.Logf("miss %s: want %v, got %v %.2f/%.2f/%.2f", ex.ID, ex.Label, res[i].Label,
					res[i].Probabilities.Negative, res[i].Probabilities.Neutral, res[i].Probabilities.Positive)
			}
		}
	}
}

// TestTestSplitLanguage measures language detection on the test split's comments of
// one to six words, with the organisation's language either way: the prior may only
// decide texts with no cue.
func TestTestSplitLanguage(t *testing.T) {
	exs := loadTestSplit(t)
	floors := map[string]float64{"same": 0.90, "other": 0.89, "full": 0.98}
	for _, def := range []string{"same", "other"} {
		analyzers := map[string]*Analyzer{"fr": New("fr"), "en": New("en")}
		n, ok := 0, 0
		for _, ex := range exs {
			if ex.Lang == "mixed" || len(strings.Fields(ex.Text)) > 6 {
				continue
			}
			lang := ex.Lang
			if def == "other" {
				lang = map[string]string{"fr": "en", "en": "fr"}[lang]
			}
			n++
			if analyzers[lang].Analyze(ex.Text).Language == ex.Lang {
				ok++
			}
		}
		acc := float64(ok) / float64(max(n, 1))
		t.Logf("test split, comments of 1-6 words, organisation language %s as the comment's: n=%d accuracy=%.3f", def, n, acc)
		if acc < floors[def] {
			t.Errorf("short-text language accuracy %.3f below the floor %.3f", acc, floors[def])
		}
	}
	n, ok := 0, 0
	a := map[string]*Analyzer{"fr": New("en"), "en": New("fr")} // the other language as default
	for _, ex := range exs {
		if ex.Lang == "mixed" {
			continue
		}
		n++
		if a[ex.Lang].Analyze(ex.Text).Language == ex.Lang {
			ok++
		}
	}
	acc := float64(ok) / float64(max(n, 1))
	t.Logf("test split, all fr and en comments, the other language as default: n=%d accuracy=%.3f", n, acc)
	if acc < floors["full"] {
		t.Errorf("language accuracy %.3f below the floor %.3f", acc, floors["full"])
	}
}

// unseenInTraining returns the test comments, and their predicted labels, whose text
// (case and surrounding space aside) no training comment has.
func unseenInTraining(t testing.TB, exs []Example, got []Label) ([]Example, []Label) {
	t.Helper()
	train, err := ReadTrainingData(".")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool, len(train))
	for i := range train {
		seen[strings.ToLower(strings.TrimSpace(train[i].Text))] = true
	}
	var outEx []Example
	var outGot []Label
	for i := range exs {
		if !seen[strings.ToLower(strings.TrimSpace(exs[i].Text))] {
			outEx = append(outEx, exs[i])
			outGot = append(outGot, got[i])
		}
	}
	return outEx, outGot
}
