package analyzer

import (
	"bufio"
	"embed"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// The word lists live in TSV files rather than Go literals so that people who tune
// vocabulary can review a diff of words and numbers without reading code.
//
//go:embed lexicon_en.tsv lexicon_fr.tsv vader_en.tsv emoji.tsv dimensions.tsv emotions.tsv model.bin.gz
var dataFiles embed.FS

// table maps normalised words and phrases to a value. Keys are normalised exactly like
// the text (lowercase, no diacritics, elisions dropped) so a lookup never needs a
// second spelling; phrases ("burn-out", "ras le bol") are keyed by their tokens joined
// with one space.
type table[V any] struct {
	m      map[string]V
	heads  map[string]int // first token of each phrase, to try phrases only where one can start: the most tokens of those phrases
	maxLen int            // tokens in the longest key
	french bool           // inflections to try: French plural s/x and feminine e, else English plural s
}

func newTable[V any](lang string) table[V] {
	return table[V]{m: map[string]V{}, heads: map[string]int{}, maxLen: 1, french: lang == "fr"}
}

func (tb *table[V]) put(key string, v V) {
	tb.m[key] = v
	if parts := strings.Count(key, " ") + 1; parts > 1 {
		head := key[:strings.IndexByte(key, ' ')]
		tb.heads[head] = max(tb.heads[head], parts)
		tb.maxLen = max(tb.maxLen, parts)
	}
}

// word looks a single token up, then without a plural "s" (French "x" too) and, in
// French, a feminine "e", because the files list base forms and French inflects most
// adjectives four ways. English keeps its "e": "made" is not "mad".
func (tb *table[V]) word(w string) (V, bool) {
	if v, ok := tb.m[w]; ok {
		return v, true
	}
	var zero V
	if len(w) < 4 {
		return zero, false
	}
	if w[len(w)-1] == 's' || (tb.french && w[len(w)-1] == 'x') {
		w = w[:len(w)-1]
		if v, ok := tb.m[w]; ok {
			return v, true
		}
	}
	if tb.french && w[len(w)-1] == 'e' {
		if v, ok := tb.m[w[:len(w)-1]]; ok {
			return v, true
		}
	}
	return zero, false
}

// exact looks a token up without inflections: for borrowing from the other language,
// where "faire" minus its "e" would be English "fair".
func (tb *table[V]) exact(tk token) (V, bool) {
	if v, ok := tb.m[tk.w]; ok {
		return v, true
	}
	v, ok := tb.m[tk.alt]
	return v, ok && tk.alt != ""
}

// token looks a token up under its squeezed spelling, then with stretched letters kept
// doubled ("goooood" → "good").
func (tb *table[V]) token(tk token) (V, bool) {
	if v, ok := tb.word(tk.w); ok {
		return v, true
	}
	if tk.alt != "" {
		return tb.word(tk.alt)
	}
	var zero V
	return zero, false
}

// phrase matches the longest key of two words or more at the start of toks, not
// crossing a boundary, and returns its value and length in tokens, or 0.
func (tb *table[V]) phrase(toks []token) (V, int) {
	var zero V
	n := tb.heads[toks[0].w]
	if n == 0 {
		return zero, 0
	}
	return tb.phraseFrom(toks, n)
}

// phraseAt is tb.phrase for the table whose bit in the heads of l's word info is
// head: a token with info says whether a phrase can start at it, and how long the
// longest is, without the heads map.
func phraseAt[V any](l *language, tb *table[V], head uint8, toks []token) (V, int) {
	if info := toks[0].info; info != nil {
		if info.heads[l.idx]&head == 0 {
			var zero V
			return zero, 0
		}
		return tb.phraseFrom(toks, int(info.headLen[l.idx][bits.TrailingZeros8(head)]))
	}
	return tb.phrase(toks)
}

// phraseFrom is phrase once toks[0] is known to start keys of two to maxLen words: a
// longer match cannot start there.
func (tb *table[V]) phraseFrom(toks []token, maxLen int) (V, int) {
	var zero V
	var buf [64]byte
	for n := min(maxLen, len(toks)); n >= 2; n-- {
		key, ok := appendKey(buf[:0], toks[:n])
		if !ok {
			continue
		}
		if v, ok := tb.m[string(key)]; ok { // string(key) in an index expression does not allocate
			return v, n
		}
		// A plural last word: "performance reviews", "entretiens annuels" keep the
		// first word's "s" too, which the singular key does not have.
		if k := len(key) - 1; key[k] == 's' {
			if v, ok := tb.m[string(key[:k])]; ok {
				return v, n
			}
		}
	}
	return zero, 0
}

// appendKey appends the key of toks (joinWords without allocating), or reports that
// one of them is not a word.
func appendKey(dst []byte, toks []token) ([]byte, bool) {
	for i, t := range toks {
		if t.boundary || t.emoji {
			return dst, false
		}
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, t.w...)
	}
	return dst, true
}

// joinWords returns the key of toks, or "" if one of them is not a word.
func joinWords(toks []token) string {
	n := len(toks) - 1
	for _, t := range toks {
		if t.boundary || t.emoji {
			return ""
		}
		n += len(t.w)
	}
	var b strings.Builder
	b.Grow(n)
	for i, t := range toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.w)
	}
	return b.String()
}

// lexicon is one language's valences on the VADER scale.
type lexicon = table[float64]

// record is one parsed data line: its key and remaining fields.
type record struct {
	line   int
	key    string
	fields []string
}

// readTSV reads the data files' common shape: "#" comments, blank lines, then lines of
// exactly nfields TAB-separated fields, the last one the entry's source. keyField is
// normalised like text (when normalise is set) and must be unique. Errors name the
// line because the files are edited by hand; two spellings that normalise to the same
// key are rejected so a file never silently holds two opinions about one word.
func readTSV(r io.Reader, nfields, keyField int, normalise bool, scope func([]string) string) ([]record, error) {
	var out []record
	firstSeen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != nfields {
			return nil, fmt.Errorf("line %d: want %d tab-separated fields, got %d", n, nfields, len(f))
		}
		if strings.TrimSpace(f[nfields-1]) == "" {
			return nil, fmt.Errorf("line %d: empty source", n)
		}
		key := strings.TrimSpace(f[keyField])
		if normalise {
			k, err := normaliseKey(f[keyField])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			key = k
		} else if key == "" {
			return nil, fmt.Errorf("line %d: empty key", n)
		}
		seen := key
		if scope != nil {
			seen = scope(f) + "\x00" + key
		}
		if prev, dup := firstSeen[seen]; dup {
			return nil, fmt.Errorf("line %d: %q is the same entry as line %d once lowercased and without accents", n, f[keyField], prev)
		}
		firstSeen[seen] = n
		out = append(out, record{line: n, key: key, fields: f})
	}
	return out, sc.Err()
}

// normaliseKey turns a word or phrase as written in a data file into its lookup key.
func normaliseKey(s string) (string, error) {
	toks := tokenize(s).toks
	if len(toks) == 0 {
		return "", fmt.Errorf("word %q has no letters", s)
	}
	for _, t := range toks {
		if t.boundary || t.emoji {
			return "", fmt.Errorf("word %q contains punctuation", s)
		}
	}
	return joinWords(toks), nil
}

func parseValence(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || v < -4 || v > 4 {
		return 0, fmt.Errorf("valence %q is not a number in [-4, 4]", s)
	}
	return v, nil
}

// parseLexicon reads "word<TAB>valence<TAB>source" lines.
func parseLexicon(r io.Reader) (map[string]float64, error) {
	recs, err := readTSV(r, 3, 0, true, nil)
	if err != nil {
		return nil, err
	}
	words := make(map[string]float64, len(recs))
	for _, rec := range recs {
		v, err := parseValence(rec.fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", rec.line, err)
		}
		words[rec.key] = v
	}
	return words, nil
}

// emojiEntry is what an emoji or Slack reaction says.
type emojiEntry struct {
	val     float64
	emotion Emotion
	irony   bool // 🙃 🙄: the writer means the opposite of the praise around it
}

// parseEmoji reads "emoji-or-:shortcode:<TAB>valence<TAB>emotion<TAB>source" lines;
// the emotion is one of the Emotion values, "-" for none or "irony".
func parseEmoji(r io.Reader) (map[string]emojiEntry, error) {
	recs, err := readTSV(r, 4, 0, false, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]emojiEntry, len(recs))
	for _, rec := range recs {
		k := rec.key
		if t := tokenize(k).toks; len(t) != 1 || !t[0].emoji || t[0].w != strings.ToLower(k) {
			return nil, fmt.Errorf("line %d: %q is not one emoji or :shortcode:", rec.line, k)
		}
		v, err := parseValence(rec.fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", rec.line, err)
		}
		e := emojiEntry{val: v}
		switch em := strings.TrimSpace(rec.fields[2]); em {
		case "-":
		case "irony":
			e.irony = true
		default:
			if e.emotion, err = parseEmotion(em); err != nil {
				return nil, fmt.Errorf("line %d: %w", rec.line, err)
			}
		}
		out[strings.ToLower(k)] = e
	}
	return out, nil
}

// parseKeyed reads "lang<TAB>word<TAB>value<TAB>source" lines into one table per
// language, with value parsed by parse.
func parseKeyed[V any](r io.Reader, parse func(string) (V, error)) (map[string]table[V], error) {
	recs, err := readTSV(r, 4, 1, true, func(f []string) string { return f[0] })
	if err != nil {
		return nil, err
	}
	out := map[string]table[V]{"fr": newTable[V]("fr"), "en": newTable[V]("en")}
	for _, rec := range recs {
		tb, ok := out[rec.fields[0]]
		if !ok {
			return nil, fmt.Errorf("line %d: language %q is not fr or en", rec.line, rec.fields[0])
		}
		v, err := parse(strings.TrimSpace(rec.fields[2]))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", rec.line, err)
		}
		tb.put(rec.key, v)
		out[rec.fields[0]] = tb // put may lengthen maxLen, a field of this copy
	}
	return out, nil
}

// mustParse opens an embedded file and parses it. The data is compiled in, so a bad
// line is a programming error, caught by the tests: panicking in New is the honest
// answer.
func mustParse[T any](name string, parse func(io.Reader) (T, error)) T {
	f, err := dataFiles.Open(name)
	if err != nil {
		panic(fmt.Sprintf("analyzer: embedded %s: %v", name, err))
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		panic(fmt.Sprintf("analyzer: embedded %s: %v", name, err))
	}
	return v
}

// loadLexicon builds a language's lexicon from its files, later files overriding
// earlier ones: our own entries win over VADER's where workplace usage differs.
func loadLexicon(lang string, names ...string) lexicon {
	l := newTable[float64](lang)
	for _, name := range names {
		for k, v := range mustParse(name, parseLexicon) {
			l.put(k, v)
		}
	}
	return l
}
