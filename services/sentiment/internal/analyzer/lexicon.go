package analyzer

import (
	"bufio"
	"embed"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The word lists live in TSV files rather than Go literals so that people who tune
// vocabulary can review a diff of words and numbers without reading code.
//
//go:embed lexicon_en.tsv lexicon_fr.tsv
var lexiconFiles embed.FS

// lexicon is one language's valences. Keys are normalised exactly like the text
// (lowercase, no diacritics, elisions dropped) so a lookup never needs a second
// spelling; multi-word entries ("burn-out", "ras le bol") are keyed by their tokens
// joined with one space.
type lexicon struct {
	words  map[string]float64
	heads  map[string]bool // first token of each multi-word entry, to try phrases only where one can start
	maxLen int             // tokens in the longest entry
}

func loadLexicon(name string) lexicon {
	f, err := lexiconFiles.Open(name)
	if err != nil {
		panic(fmt.Sprintf("analyzer: embedded %s: %v", name, err))
	}
	defer f.Close()
	words, err := parseLexicon(f)
	if err != nil {
		// The data is compiled in, so a bad line is a programming error, caught by the tests.
		panic(fmt.Sprintf("analyzer: embedded %s: %v", name, err))
	}
	l := lexicon{words: words, heads: map[string]bool{}, maxLen: 1}
	for k := range words {
		parts := strings.Split(k, " ")
		if len(parts) > 1 {
			l.heads[parts[0]] = true
		}
		l.maxLen = max(l.maxLen, len(parts))
	}
	return l
}

// parseLexicon reads "word<TAB>valence<TAB>source" lines. Errors name the line because
// the files are edited by hand; two spellings that normalise to the same key are
// rejected so the file never silently holds two opinions about one word.
func parseLexicon(r io.Reader) (map[string]float64, error) {
	words := map[string]float64{}
	firstSeen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want 3 tab-separated fields (word, valence, source), got %d", n, len(f))
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
		if err != nil || math.IsNaN(v) || v < -4 || v > 4 {
			return nil, fmt.Errorf("line %d: valence %q is not a number in [-4, 4]", n, f[1])
		}
		if strings.TrimSpace(f[2]) == "" {
			return nil, fmt.Errorf("line %d: empty source", n)
		}
		toks := tokenize(f[0]).toks
		key := make([]string, 0, len(toks))
		for _, t := range toks {
			if t.boundary {
				return nil, fmt.Errorf("line %d: word %q contains punctuation", n, f[0])
			}
			key = append(key, t.w)
		}
		if len(key) == 0 {
			return nil, fmt.Errorf("line %d: word %q has no letters", n, f[0])
		}
		k := strings.Join(key, " ")
		if prev, dup := firstSeen[k]; dup {
			return nil, fmt.Errorf("line %d: %q is the same word as line %d once lowercased and without accents", n, f[0], prev)
		}
		firstSeen[k] = n
		words[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return words, nil
}

// word looks a single token up, then without a plural "s" and a feminine "e",
// because the files list base forms and French inflects most adjectives four ways.
func (l *lexicon) word(w string) (float64, bool) {
	if v, ok := l.words[w]; ok {
		return v, true
	}
	if len(w) < 4 {
		return 0, false
	}
	if w[len(w)-1] == 's' {
		w = w[:len(w)-1]
		if v, ok := l.words[w]; ok {
			return v, true
		}
	}
	if w[len(w)-1] == 'e' {
		if v, ok := l.words[w[:len(w)-1]]; ok {
			return v, true
		}
	}
	return 0, false
}
