package analyzer

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The plain reference implementation of what Analyze computes, as it was written
// before its fast paths (phtable.go, the unrolled and pre-scaled feature blocks, the
// ASCII shortcuts): a Go map from feature key to weights, features added one at a time
// and scaled after, text statistics and folding rune by rune. TestFastPathMatchesReference
// wants Analyze to give exactly what it gives, bit for bit, on every training comment.
// Only the parts the fast paths replaced are here; the rule engine, tokenizer and
// phase 2 are shared.

// refModel is the model file as a map: key -> its eight weights.
type refModel struct {
	m    *model // thresholds, scales, prior
	rows map[uint64][nCols]int8
}

func newRefModel(f *modelFile) *refModel {
	r := &refModel{m: f.build(), rows: make(map[uint64][nCols]int8, len(f.keys))}
	for i, k := range f.keys {
		var w [nCols]int8
		copy(w[:], f.w[i*nCols:(i+1)*nCols])
		r.rows[k] = w
	}
	return r
}

// accumulate sums, for each run of at most 256 consecutive features with the same
// value, the integer weights of each column, then adds the sum times the value to z:
// the arithmetic model.accumulate defines.
func (r *refModel) accumulate(keys []uint64, vals []float32, z *[nCols]float32) {
	var sum [nCols]int64
	n := 0
	var v float32
	flush := func() {
		for c := range nCols {
			if n > 0 {
				z[c] += float32(sum[c]) * v
			}
			sum[c] = 0
		}
		n = 0
	}
	for i, k := range keys {
		if vals[i] != v || n == 256 {
			flush()
			v = vals[i]
		}
		w := r.rows[k] // zeros when absent
		for c := range nCols {
			sum[c] += int64(w[c])
		}
		n++
	}
	flush()
}

// refAnalyze is Analyze with the reference parts.
func (a *Analyzer) refAnalyze(r *refModel, text string) Result {
	stripped := stripMarkup(text)
	b := new(fbuf)
	t := tokenizeWith(stripped, a.words)
	a.lookup(t.toks)
	m := r.m

	var z [nCols]float32
	a.refPhase1(b, m.cfg, stripped, &t)
	r.accumulate(b.keys[:b.phase], b.vals[:b.phase], &z)
	lang := a.language(&t, z[colLang]*m.scale[colLang])

	primary, secondary := &a.en, &a.fr
	if lang == "fr" {
		primary, secondary = &a.fr, &a.en
	}
	s := a.score(t, primary, secondary)
	res := Result{Language: lang, Emotion: a.emotion(t.toks, s, primary, secondary)}
	res.Dimensions = dimensions(t.toks, s, primary, secondary)
	if !hasContent(&t) {
		res.Probabilities = Probabilities{Neutral: 1}
		return res
	}
	a.phase2(b, m.cfg, &t, &s, strings.IndexByte(stripped, '?') >= 0)
	r.accumulate(b.keys[b.phase:], b.vals[b.phase:], &z)

	var zs [nClasses]float64
	for c := range zs {
		zs[c] = float64(z[c] * m.scale[c])
	}
	mx := max(zs[0], zs[1], zs[2])
	e0, e1, e2 := math.Exp(zs[0]-mx), math.Exp(zs[1]-mx), math.Exp(zs[2]-mx)
	sum := e0 + e1 + e2
	res.Probabilities = Probabilities{Negative: e0 / sum, Neutral: e1 / sum, Positive: e2 / sum}
	res.Label = res.Probabilities.label()
	res.Score = max(-1, min(1, res.Probabilities.Positive-res.Probabilities.Negative))
	var raw Risk
	for i, f := range riskFlags {
		if z[colRisk+i]*m.scale[colRisk+i] >= m.thresholds[i] {
			raw |= f
		}
	}
	if raw != 0 && res.Probabilities.Negative < riskGateNegative {
		raw = gateRisks(raw, res.Probabilities.Negative, riskCues(t.toks, b.scope), riskGateNegative)
	}
	res.Risks = raw
	return res
}

// refPhase1 is phase1 as it was: it what the text alone says. text is the comment with markup stripped,
// t its tokens.
func (a *Analyzer) refPhase1(b *fbuf, cfg featConfig, text string, t *tokenized) {
	b.reset()
	set := cfg.Set
	toks := t.toks
	b.th = b.th[:0]
	for _, tk := range toks {
		switch {
		case tk.boundary && tk.strong:
			b.th = append(b.th, tokPeriod)
		case tk.boundary:
			b.th = append(b.th, tokComma)
		default:
			b.th = append(b.th, hashString(tk.w))
		}
	}
	b.add(flagKey(flagBias), 1)

	// Word n-grams.
	start := len(b.keys)
	if set&fWords != 0 {
		for i := range toks {
			b.add(mix(nsWord1, b.th[i]), 1)
		}
	}
	if set&fBigrams != 0 && len(toks) > 0 {
		prev := tokBOS
		for i := range toks {
			b.add(mix(mix(nsWord2, prev), b.th[i]), 1)
			prev = b.th[i]
		}
		b.add(mix(mix(nsWord2, prev), tokEOS), 1)
	}
	if set&fTrigrams != 0 && len(toks) > 1 {
		p2, p1 := tokBOS, b.th[0]
		for i := 1; i < len(toks); i++ {
			b.add(mix(mix(mix(nsWord3, p2), p1), b.th[i]), 1)
			p2, p1 = p1, b.th[i]
		}
		b.add(mix(mix(mix(nsWord3, p2), p1), tokEOS), 1)
	}
	b.scaleFrom(start)

	// Character n-grams of the folded text.
	if set&fChars != 0 && set&fWordChars == 0 {
		start = len(b.keys)
		b.chars = refFoldedBytes(b.chars[:0], text)
		c := b.chars
		for i := range c {
			h := mix(nsChar, 0)
			for n := 1; n <= cfg.CharMax && i+n <= len(c); n++ {
				h = mix(h, uint64(c[i+n-1]))
				if n >= cfg.CharMin {
					b.add(h, 1)
				}
			}
		}
		b.scaleFrom(start)
	}
	// Or character n-grams of each word, padded with a space either side.
	if set&fWordChars != 0 {
		start = len(b.keys)
		for _, tk := range toks {
			if tk.boundary || tk.emoji {
				continue
			}
			b.wordGrams(tk.w, cfg)
		}
		b.scaleFrom(start)
	}

	// Scopes, question, intensifiers, emoji, shape and keywords share one block.
	start = len(b.keys)
	b.scope = markScopes(b.scope[:0], toks)
	if set&fNegation != 0 {
		negs := 0
		for i, tk := range toks {
			if b.scope[i]&scopeNeg == 0 || tk.boundary {
				continue
			}
			negs++
			b.add(mix(nsNeg, b.th[i]), 1)
			if i+1 < len(toks) && b.scope[i+1]&scopeNeg != 0 && !toks[i+1].boundary {
				b.add(mix(mix(nsNegBi, b.th[i]), b.th[i+1]), 1)
			}
		}
		if negs > 0 {
			b.add(flagKey(flagNegCount), countValue(negs))
		}
	}
	if set&fContrast != 0 {
		after, conc := false, false
		for i, tk := range toks {
			if tk.boundary {
				continue
			}
			if b.scope[i]&scopeAfter != 0 {
				b.add(mix(nsAfter, b.th[i]), 1)
				after = true
			}
			if b.scope[i]&scopeConc != 0 {
				b.add(mix(nsConc, b.th[i]), 1)
				conc = true
			}
		}
		if after {
			b.add(flagKey(flagContrastSeen), 1)
		}
		if conc {
			b.add(flagKey(flagConcession), 1)
		}
	}
	if set&fIrrealis != 0 {
		irr := false
		for i, tk := range toks {
			if !tk.boundary && b.scope[i]&scopeIrr != 0 {
				b.add(mix(nsIrr, b.th[i]), 1)
				irr = true
			}
		}
		if irr {
			b.add(flagKey(flagIrrealis), 1)
		}
	}
	if set&fQScope != 0 {
		for i, tk := range toks {
			if !tk.boundary && b.scope[i]&scopeQ != 0 {
				b.add(mix(nsQWord, b.th[i]), 1)
			}
		}
	}
	if set&fLast != 0 {
		lo, hi := lastSentence(toks)
		for i := lo; i < hi; i++ {
			if !toks[i].boundary {
				b.add(mix(nsLast, b.th[i]), 1)
			}
		}
	}
	st := refStatsOf(text)
	if set&fQuestion != 0 && st.questions > 0 {
		b.add(flagKey(flagQuestion), 1)
		if st.endsWithQuestion {
			b.add(flagKey(flagQuestionEnd), 1)
		}
		if first := firstWord(toks); first >= 0 {
			b.add(mix(nsQStart, b.th[first]), 1)
		}
		// The word before the question mark: "…un mail ?", "…an email?".
		for i := len(toks) - 1; i >= 0; i-- {
			if !toks[i].boundary {
				b.add(mix(nsQEndWord, b.th[i]), 1)
				break
			}
		}
	}
	if set&fIntens != 0 {
		n := 0
		for i, tk := range toks {
			if tk.boundary || tk.emoji || boost(prevWord(toks, i), tk.w) <= 0 {
				continue
			}
			n++
			if i+1 < len(toks) && !toks[i+1].boundary {
				b.add(mix(nsIntNext, b.th[i+1]), 1)
			}
		}
		if n > 0 {
			b.add(flagKey(flagIntens), countValue(n))
		}
	}
	if set&fEmoji != 0 {
		for _, tk := range toks {
			if !tk.emoji {
				continue
			}
			e, ok := a.emoji[tk.w]
			switch {
			case !ok:
			case e.irony:
				b.add(flagKey(flagEmojiIrony), 1)
			case e.val > 0:
				b.add(flagKey(flagEmojiPos), 1)
			case e.val < 0:
				b.add(flagKey(flagEmojiNeg), 1)
			}
		}
	}
	if set&fShape != 0 {
		switch {
		case t.bangs >= 3:
			b.add(flagKey(flagBangs3), 1)
		case t.bangs > 0:
			b.add(flagKey(flagBangs1), 1)
		}
		if t.allCaps() {
			b.add(flagKey(flagAllCaps), 1)
		} else if t.caps > 0 {
			b.add(flagKey(flagCapsWord), 1)
		}
		if st.quote {
			b.add(flagKey(flagQuote), 1)
		}
		if st.ellipsis {
			b.add(flagKey(flagEllipsis), 1)
		}
		if st.digits {
			b.add(flagKey(flagDigits), 1)
		}
		b.add(flagKey(flagLenBucket+lenBucket(t.words)), 1)
		if t.words == 0 {
			b.add(flagKey(flagNoWords), 1)
		}
	}
	if set&fKeywords != 0 {
		for i, tk := range toks {
			if tk.boundary || tk.emoji {
				continue
			}
			if fam := keywordFamily(tk.w, nextWord(toks, i)); fam != "" {
				b.add(mix(nsKeyword, hashString(fam)), 1)
			}
		}
	}
	b.scaleFrom(start)

	// Language cues: accents, words as typed with them, elisions, English contractions.
	start = len(b.keys)
	accents := 0
	if set&fAccents != 0 {
		accents = refAccentedWords(text, func(w []byte) { b.add(mix(nsAccent, hashBytes(w)), 1) })
	}
	if accents > 0 {
		b.add(flagKey(flagAccentCount), countValue(accents))
	}
	if t.fr > 0 {
		b.add(flagKey(flagElision), countValue(t.fr))
	}
	if set&fAccents != 0 {
		fw, ew := 0, 0
		for _, tk := range toks {
			if tk.boundary || tk.emoji {
				continue
			}
			if frenchWord(tk.w) {
				fw++
			}
			if englishWord(tk.w) {
				ew++
			}
		}
		if fw > 0 {
			b.add(flagKey(flagFrenchWords), countValue(fw))
		}
		if ew > 0 {
			b.add(flagKey(flagEnglishWords), countValue(ew))
		}
	}
	if t.en > 0 {
		b.add(flagKey(flagContraction), countValue(t.en))
	}
	b.scaleFrom(start)
	b.phase = len(b.keys)
}

func refStatsOf(text string) textStats {
	var st textStats
	last := byte(0) // last byte that is not space, closing punctuation or "!"/"."
	dots := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '?':
			st.questions++
		case c == '"':
			st.quote = true
		case c >= '0' && c <= '9':
			st.digits = true
		case c == 0xC2 && i+1 < len(text) && text[i+1] == 0xAB: // «
			st.quote = true
		case c == 0xE2 && i+2 < len(text) && text[i+1] == 0x80 && (text[i+2] == 0x9C || text[i+2] == 0xA6): // “ …
			if text[i+2] == 0x9C {
				st.quote = true
			} else {
				st.ellipsis = true
			}
		}
		if c == '.' {
			dots++
			if dots >= 3 {
				st.ellipsis = true
			}
		} else {
			dots = 0
		}
		switch c {
		case ' ', '\t', '\n', '\r', '.', '!', ')', '"', '\'':
		default:
			if !(c == 0xBB && i > 0 && text[i-1] == 0xC2) && c != 0xC2 { // »
				last = c
			}
		}
	}
	st.endsWithQuestion = last == '?'
	return st
}

func refFoldedBytes(dst []byte, text string) []byte {
	dst = append(dst, ' ')
	space := true
	for _, r := range text {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9'):
			dst = append(dst, byte(r))
			space = false
		case r >= 'A' && r <= 'Z':
			dst = append(dst, byte(r+('a'-'A')))
			space = false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			x, y := fold(unicode.ToLower(r))
			dst = utf8.AppendRune(dst, x)
			if y != 0 {
				dst = utf8.AppendRune(dst, y)
			}
			space = false
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '*' || r == '_' || r == '~' || r == '`':
			// Slack's bold, italic, strike and code markers read as nothing.
			if !space {
				dst = append(dst, ' ')
				space = true
			}
		case r == '’' || r == 'ʼ':
			dst = append(dst, '\'')
			space = false
		case r < utf8.RuneSelf:
			dst = append(dst, byte(r))
			space = false
		}
	}
	if !space {
		dst = append(dst, ' ')
	}
	return dst
}

func refAccentedWords(text string, f func([]byte)) int {
	n := 0
	start, accented := -1, false
	var lower [64]byte
	emit := func(end int) {
		if start >= 0 && accented && end-start <= len(lower) {
			w := lower[:0]
			for _, r := range text[start:end] {
				w = utf8.AppendRune(w, unicode.ToLower(r))
			}
			f(w)
		}
		start, accented = -1, false
	}
	for i, r := range text {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			if start < 0 {
				start = i
			}
			continue
		}
		if unicode.IsLetter(r) {
			if start < 0 {
				start = i
			}
			if r >= 0xC0 {
				if x, _ := fold(unicode.ToLower(r)); x != unicode.ToLower(r) {
					accented = true
					n++
				}
			}
			continue
		}
		emit(i)
	}
	emit(len(text))
	return n
}

// refStretched is how makeToken found a letter three times in a row, rune by rune.
func refStretched(w []byte) bool {
	var r1, r2 rune = -1, -2
	for i := 0; i < len(w); {
		r, size := utf8.DecodeRune(w[i:])
		i += size
		if r == r1 && r == r2 && unicode.IsLetter(r) {
			return true
		}
		r1, r2 = r, r1
	}
	return false
}

// referenceTexts is every comment the model is trained on and a few texts made to
// reach the edges of the fast paths: empty, a NUL byte, invalid UTF-8, Slack markers,
// stretched letters, capitals, curly quotes, emoji, decomposed accents, a long text.
func referenceTexts(t *testing.T) []string {
	t.Helper()
	exs, err := ReadTrainingData(".")
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"", " ", "a", "ok", "\x00", "a\x00b", "\xff\xfe bad \xc3", "é\xc3(", "*gras* _it_ ~barré~ `code`",
		"suuuuper contente !!!", "GOOOOD JOB", "ÉNORME GALÈRE", "l’équipe “top” … «vraiment» »", "cafe\u0301 ou café",
		"👍👍 :tada: 🔥", "12:30:00 réunion ?", "Œuvre Æsir ßtraße", "aaa", "Ça va ? Non.", "?", "...", "«»"}
	texts = append(texts, strings.Repeat("Les réunions sont trop longues mais l'équipe est top. ", 40))
	for _, ex := range exs {
		texts = append(texts, ex.Text)
	}
	return texts
}

// TestFastPathMatchesReference compares Analyze with refAnalyze on every training
// comment, under both organisation languages: the same features in the same order
// with the same values, and the same result to the last bit of every probability.
func TestFastPathMatchesReference(t *testing.T) {
	data, err := dataFiles.ReadFile("model.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	f, err := decodeModelFile(data)
	if err != nil {
		t.Fatal(err)
	}
	ref := newRefModel(f)
	texts := referenceTexts(t)
	bad := 0
	for _, lang := range []string{"fr", "en"} {
		a := New(lang)
		for _, text := range texts {
			// Phase 1's features, then the whole result.
			stripped := stripMarkup(text)
			tk := tokenizeWith(stripped, a.words)
			a.lookup(tk.toks)
			var fast, plain fbuf
			a.phase1(&fast, a.model.cfg, stripped, &tk)
			a.refPhase1(&plain, a.model.cfg, stripped, &tk)
			if !slicesEqual(fast.keys, plain.keys) || !bitsEqual(fast.vals, plain.vals) {
				bad++
				if bad <= 5 {
					t.Errorf("%s %q: phase 1 features differ: %d keys, want %d", lang, text, len(fast.keys), len(plain.keys))
				}
				continue
			}
			got, want := a.Analyze(text), a.refAnalyze(ref, text)
			if !sameResult(got, want) {
				bad++
				if bad <= 5 {
					t.Errorf("%s %q:\n got %+v\nwant %+v", lang, text, got, want)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d analyses differ", bad, 2*len(texts))
	}
	t.Logf("%d texts, both organisation languages: identical", len(texts))

	// Other recipes the trainer can be asked for, on every fifth text: other character
	// n-gram lengths take the general path, and the optional groups
	// (train -features +irrealis,+qscope,+last) their own code.
	a := newRules("fr")
	samePhase1 := func(name string, cfg featConfig) {
		t.Helper()
		for i, text := range texts {
			if i%5 != 0 {
				continue
			}
			stripped := stripMarkup(text)
			tk := tokenizeWith(stripped, a.words)
			a.lookup(tk.toks)
			var fast, plain fbuf
			a.phase1(&fast, cfg, stripped, &tk)
			a.refPhase1(&plain, cfg, stripped, &tk)
			if !slicesEqual(fast.keys, plain.keys) || !bitsEqual(fast.vals, plain.vals) {
				t.Fatalf("%s %q: phase 1 features differ", name, text)
			}
		}
	}
	for _, span := range [][2]int{{1, 3}, {2, 4}, {3, 4}, {4, 6}, {5, 5}, {0, 2}, {3, 2}} {
		cfg := defaultFeatures
		cfg.CharMin, cfg.CharMax = span[0], span[1]
		samePhase1(fmt.Sprintf("chars=%d-%d", span[0], span[1]), cfg)
	}
	cfg := defaultFeatures
	cfg.Set |= fIrrealis | fQScope | fLast
	samePhase1("+irrealis,+qscope,+last", cfg)
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func sameResult(a, b Result) bool {
	f := math.Float64bits
	if f(a.Score) != f(b.Score) || f(a.Probabilities.Negative) != f(b.Probabilities.Negative) ||
		f(a.Probabilities.Neutral) != f(b.Probabilities.Neutral) || f(a.Probabilities.Positive) != f(b.Probabilities.Positive) {
		return false
	}
	if a.Label != b.Label || a.Language != b.Language || a.Emotion != b.Emotion || a.Risks != b.Risks || len(a.Dimensions) != len(b.Dimensions) {
		return false
	}
	for i := range a.Dimensions {
		if a.Dimensions[i] != b.Dimensions[i] {
			return false
		}
	}
	return true
}

// TestTextFastPaths compares the byte-level shortcuts with the rune-by-rune versions
// they replace on every training comment and the edge texts, and the search for
// stretched letters on every word of them.
func TestTextFastPaths(t *testing.T) {
	words := 0
	for _, text := range referenceTexts(t) {
		if got, want := string(foldedBytes(nil, text)), string(refFoldedBytes(nil, text)); got != want {
			t.Errorf("foldedBytes(%q) = %q, want %q", text, got, want)
		}
		var gotW, wantW []string
		var lower [64]byte
		gotN := accentedWords(text, &lower, func(w []byte) { gotW = append(gotW, string(w)) })
		wantN := refAccentedWords(text, func(w []byte) { wantW = append(wantW, string(w)) })
		if gotN != wantN || strings.Join(gotW, "|") != strings.Join(wantW, "|") {
			t.Errorf("accentedWords(%q) = %d %q, want %d %q", text, gotN, gotW, wantN, wantW)
		}
		if got, want := statsOf(text), refStatsOf(text); got != want {
			t.Errorf("statsOf(%q) = %+v, want %+v", text, got, want)
		}
		for _, w := range strings.Fields(text + " aaa bbbc AAA ééé éée xxÿÿÿ 111 " + strings.ToLower(text)) {
			words++
			if got, want := stretched([]byte(w)), refStretched([]byte(w)); got != want {
				t.Errorf("stretched(%q) = %v, want %v", w, got, want)
			}
		}
	}
	t.Logf("%d words", words)
}
