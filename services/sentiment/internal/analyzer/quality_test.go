package analyzer

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// example is one labelled comment of the development set.
type example struct {
	lang  string
	label Label
	dims  []Dimension
	text  string
	line  int
}

// loadSet reads the examples of one language from a testdata file of lang, label,
// dimensions, text lines.
func loadSet(t testing.TB, file, lang string) []example {
	t.Helper()
	name := filepath.Join("testdata", file)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []example
	sc := bufio.NewScanner(f)
	header := true
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if header {
			header = false
			continue
		}
		fs := strings.Split(line, "\t")
		if len(fs) != 4 {
			t.Fatalf("%s:%d: want 4 fields, got %d", name, n, len(fs))
		}
		ex := example{lang: fs[0], text: fs[3], line: n}
		if ex.lang != "fr" && ex.lang != "en" {
			t.Fatalf("%s:%d: lang %q", name, n, ex.lang)
		}
		if ex.lang != lang {
			continue
		}
		switch fs[1] {
		case "positive":
			ex.label = Positive
		case "neutral":
			ex.label = Neutral
		case "negative":
			ex.label = Negative
		default:
			t.Fatalf("%s:%d: label %q", name, n, fs[1])
		}
		if fs[2] != "-" {
			for _, d := range strings.Split(fs[2], ",") {
				dim, ok := dimensionByName(d)
				if !ok {
					t.Fatalf("%s:%d: dimension %q", name, n, d)
				}
				ex.dims = append(ex.dims, dim)
			}
		}
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// scores holds three-class results.
type scores struct {
	accuracy, macroF1 float64
}

func evaluate(gold, got []Label) scores {
	var correct int
	classes := []Label{Negative, Neutral, Positive}
	tp := map[Label]int{}
	fp := map[Label]int{}
	fn := map[Label]int{}
	for i := range gold {
		if gold[i] == got[i] {
			correct++
			tp[gold[i]]++
			continue
		}
		fp[got[i]]++
		fn[gold[i]]++
	}
	var f1sum float64
	for _, c := range classes {
		if 2*tp[c]+fp[c]+fn[c] > 0 {
			f1sum += 2 * float64(tp[c]) / float64(2*tp[c]+fp[c]+fn[c])
		}
	}
	return scores{accuracy: float64(correct) / float64(len(gold)), macroF1: f1sum / float64(len(classes))}
}

// TestQuality measures the analyzer on the development set, which the lexicons and
// rules were tuned on, and on the held-out set, which they were not: the second is the
// honest estimate. The floors sit a little under the figures measured when they were
// set, so a change that makes the analyzer worse fails here, while the figures
// themselves are reported, not asserted.
func TestQuality(t *testing.T) {
	tests := []struct {
		set, file, lang string
		floor           scores
	}{
		{"dev", "devset_fr.tsv", "fr", scores{accuracy: 0.91, macroF1: 0.88}},
		{"dev", "devset_en.tsv", "en", scores{accuracy: 0.90, macroF1: 0.87}},
		{"heldout", "heldout.tsv", "fr", scores{accuracy: 0.83, macroF1: 0.80}},
		{"heldout", "heldout.tsv", "en", scores{accuracy: 0.78, macroF1: 0.74}},
	}
	for _, tt := range tests {
		t.Run(tt.set+"/"+tt.lang, func(t *testing.T) {
			set := loadSet(t, tt.file, tt.lang)
			a := New(tt.lang)
			gold := make([]Label, len(set))
			got := make([]Label, len(set))
			langOK := 0
			for i, ex := range set {
				r := a.Analyze(ex.text)
				gold[i], got[i] = ex.label, r.Label
				if r.Language == tt.lang {
					langOK++
				}
				if r.Label != ex.label && testing.Verbose() {
					t.Logf("%s:%d: want %v, got %v (%.3f): %s", tt.file, ex.line, ex.label, r.Label, r.Score, ex.text)
				}
			}
			s := evaluate(gold, got)
			t.Logf("%s %s: n=%d accuracy=%.3f macro-F1=%.3f language=%.3f", tt.set, tt.lang, len(set), s.accuracy, s.macroF1, float64(langOK)/float64(len(set)))
			if s.accuracy < tt.floor.accuracy || s.macroF1 < tt.floor.macroF1 {
				t.Errorf("accuracy %.3f, macro-F1 %.3f: below the floor %.3f, %.3f", s.accuracy, s.macroF1, tt.floor.accuracy, tt.floor.macroF1)
			}
		})
	}
}
