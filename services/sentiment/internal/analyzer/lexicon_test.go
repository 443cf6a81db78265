package analyzer

import (
	"strings"
	"testing"
)

func TestEmbeddedLexiconsParse(t *testing.T) {
	for _, name := range []string{"lexicon_en.tsv", "lexicon_fr.tsv"} {
		t.Run(name, func(t *testing.T) {
			f, err := dataFiles.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			words, err := parseLexicon(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(words) < 150 {
				t.Errorf("%d entries, want at least 150", len(words))
			}
		})
	}
}

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
