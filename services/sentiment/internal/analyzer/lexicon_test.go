package analyzer

import (
	"strings"
	"testing"
)

func TestLexiconKeysAreNormalised(t *testing.T) {
	a := New("fr")
	for key, want := range map[string]float64{"genial": 3.0, "epuise": -2.2, "burn out": -2.8, "ras le bol": -2.4, "ne importe quoi": -1.7} {
		if got, ok := a.fr.lex.m[key]; !ok || got != want {
			t.Errorf("fr[%q] = %v, %v; want %v", key, got, ok, want)
		}
	}
	for _, w := range []string{"epuisees", "contente", "motives", "fieres"} {
		if _, ok := a.fr.lex.word(w); !ok {
			t.Errorf("inflected %q not found", w)
		}
	}
}

func TestParseLexicon(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
		want                map[string]float64
	}{
		{"ok", "# comment\n\nGénial\t3\tvoix\r\nburn-out\t-2.5\tvoix\n", "", map[string]float64{"genial": 3, "burn out": -2.5}},
		{"two fields", "# header\nbon\t1.5\n", "line 2: want 3 tab-separated fields", nil},
		{"spaces not tabs", "bon 1.5 voix\n", "line 1: want 3", nil},
		{"bad valence", "bon\tgood\tvoix\n", `line 1: valence "good"`, nil},
		{"out of range", "bon\t5\tvoix\n", "line 1: valence", nil},
		{"nan", "bon\tNaN\tvoix\n", "line 1: valence", nil},
		{"no source", "bon\t1\t \n", "line 1: empty source", nil},
		{"no letters", "--\t1\tvoix\n", "line 1: word", nil},
		{"punctuation", "bon!\t1\tvoix\n", "line 1: word", nil},
		{"duplicate after folding", "épuisé\t-2\tvoix\nEPUISE\t-2\tvoix\n", "line 2: \"EPUISE\" is the same entry as line 1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLexicon(strings.NewReader(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("got[%q] = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// TestEveryCueIsReachable analyses each emotion and dimension entry on its own: an entry
// the tokenizer or the phrase matching cannot reach would sit in the file doing nothing.
func TestEveryCueIsReachable(t *testing.T) {
	analyzers := map[string]*Analyzer{"fr": New("fr"), "en": New("en")}
	read := func(name string) []record {
		f, err := dataFiles.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := readTSV(f, 4, 1, true, func(f []string) string { return f[0] })
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	for _, rec := range read("emotions.tsv") {
		lang, word, want := rec.fields[0], rec.fields[1], Emotion(rec.fields[2])
		if got := analyzers[lang].Analyze(word).Emotion; got != want {
			t.Errorf("emotions.tsv:%d: %s %q gives emotion %q, want %q", rec.line, lang, word, got, want)
		}
	}
	for _, rec := range read("dimensions.tsv") {
		lang, word := rec.fields[0], rec.fields[1]
		want, _ := dimensionByName(rec.fields[2])
		found := false
		for _, h := range analyzers[lang].Analyze(word).Dimensions {
			found = found || h.Dimension == want
		}
		if !found {
			t.Errorf("dimensions.tsv:%d: %s %q does not give %v", rec.line, lang, word, want)
		}
	}
}

func TestEmbeddedDataParses(t *testing.T) {
	New("fr") // panics on a bad line
	for _, name := range []string{"lexicon_en.tsv", "lexicon_fr.tsv", "vader_en.tsv"} {
		f, err := dataFiles.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		words, err := parseLexicon(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(words) < 150 {
			t.Errorf("%s: %d entries, want at least 150", name, len(words))
		}
	}
}

func TestParseEmojiAndKeyed(t *testing.T) {
	emoji := []struct{ name, data, wantErr string }{
		{"ok", "👍\t1.5\t-\tvoix\n:tada:\t2\tjoy\tvoix\n🙃\t-0.5\tirony\tvoix\n", ""},
		{"not an emoji", "ok\t1\t-\tvoix\n", `line 1: "ok" is not one emoji`},
		{"two emoji", "👍👍\t1\t-\tvoix\n", "line 1:"},
		{"bad emotion", "👍\t1\tglee\tvoix\n", `line 1: emotion "glee"`},
		{"bad valence", "👍\tx\t-\tvoix\n", "line 1: valence"},
		{"duplicate", "👍\t1\t-\tvoix\n👍\t1\t-\tvoix\n", "line 2:"},
	}
	for _, tt := range emoji {
		t.Run("emoji/"+tt.name, func(t *testing.T) {
			_, err := parseEmoji(strings.NewReader(tt.data))
			checkErr(t, err, tt.wantErr)
		})
	}
	keyed := []struct{ name, data, wantErr string }{
		{"ok", "fr\tcharge de travail\tworkload\tvoix\nen\tworkload\tworkload\tvoix\n", ""},
		{"same word, two languages", "fr\ttop\timage\tvoix\nen\ttop\timage\tvoix\n", ""},
		{"bad language", "de\tarbeit\tworkload\tvoix\n", `line 1: language "de"`},
		{"bad dimension", "fr\tpaie\tpay\tvoix\n", `line 1: dimension "pay"`},
		{"duplicate", "fr\tÉquipe\tconnections\tvoix\nfr\tequipe\tconnections\tvoix\n", "line 2:"},
		{"three fields", "fr\tequipe\tvoix\n", "line 1: want 4"},
	}
	for _, tt := range keyed {
		t.Run("keyed/"+tt.name, func(t *testing.T) {
			_, err := parseKeyed(strings.NewReader(tt.data), parseDimension)
			checkErr(t, err, tt.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}
