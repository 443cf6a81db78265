package analyzer

import (
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The learned model (model.go) reads a comment as a sparse vector of hashed features.
// Every feature is a 64-bit key: a namespace hashed with the parts it is made of (the
// words of an n-gram, the bytes of a character n-gram…), so extraction allocates no
// strings and the trainer and the service share this one function, which is what
// keeps the two in step.
//
// Features come in two phases. The first reads the text alone and is what the
// language column of the model scores; the second adds what the rule engine makes of
// the text in the language found, which needs the language first.

// featureSet selects feature groups. The model file records the set it was trained
// with, and extraction at run time follows the file.
type featureSet uint32

const (
	fWords     featureSet = 1 << iota // word 1-grams, with the beginning and end of the text
	fBigrams                          // word 2-grams
	fTrigrams                         // word 3-grams
	fChars                            // character n-grams of the text without accents
	fAccents                          // words as typed with their accents, an extra view, and function-word counts
	fNegation                         // NEG_ words: in the scope of a negator
	fContrast                         // AFTER_ words: after the last contrast word; CONC_ words: in a concession
	fQuestion                         // question form
	fIntens                           // intensifier and the word it modifies
	fEmoji                            // emoji polarity from the emoji table
	fShape                            // length, "!", capitals, quotes
	fKeywords                         // risk keyword families
	fRules                            // the rule engine's score and lexicon hits (phase 2)
	fLexWords                         // lexicon words with the sign the rules gave them (phase 2)
	fWordChars                        // character n-grams within words rather than across the text
	fCues                             // sarcasm and mixed-feeling cues from the order of the rule engine's hits (phase 2)
	fIrrealis                         // IRR_ words: after "would", "should", "wish", "devrait"…, to the end of the clause
	fQScope                           // Q_ words: in a sentence that ends with "?"
	fLast                             // LAST_ words: in the last sentence of a text of several
)

// featConfig is the extraction recipe stored in the model file.
type featConfig struct {
	Set              featureSet
	CharMin, CharMax int // character n-gram lengths, when fChars is set
	RuleGain         int // phase-2 features are multiplied by this: a larger value regularises them less
	HashBits         int // when > 0, features share 2^HashBits weight rows by hash (slotOf); 0: one row per feature key
}

// slotOf is the weight row of feature key k in a hashed model: the top bits of k times
// the golden ratio (Fibonacci hashing), so the model is a plain array indexed by slot,
// one load per feature. Features that meet in a slot share its weights, in training
// as in scoring.
func slotOf(k uint64, bits int) uint64 { return (k * 0x9E3779B97F4A7C15) >> (64 - bits) }

// defaultFeatures is the recipe the trainer uses. Cross-writer validation (train -xw:
// each writer's comments predicted by a model trained on the others') chose it: adding
// fCues raised the selection score from 0.838 to 0.840, while character 3-4-grams with
// min-df 3 (0.831) and rule gain 3 (0.830) did worse. Character 3-4-grams within words
// (+wordchars,chars=3-4) hashed into 2^19 rows (hash=19) halve the work per comment and
// scored 0.8508 against 0.8494 on cross-writer validation, but 5-fold cross-validation
// fell (French 0.843 to 0.832, English 0.852 to 0.848) and so did the test split
// (README.md), so they are not the default; irrealis and question-sentence words
// (+irrealis,+qscope) gave 0.8507 and are left out too.
var defaultFeatures = featConfig{
	Set:     fWords | fBigrams | fTrigrams | fChars | fAccents | fNegation | fContrast | fQuestion | fIntens | fEmoji | fShape | fKeywords | fRules | fLexWords | fCues,
	CharMin: 3, CharMax: 5, RuleGain: 1,
}

const (
	hashOffset = 14695981039346656037
	hashPrime  = 1099511628211
)

// hashString is FNV-1a.
func hashString(s string) uint64 {
	h := uint64(hashOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= hashPrime
	}
	return h
}

// hashBytes is hashString of string(b), without making the string.
func hashBytes(b []byte) uint64 {
	h := uint64(hashOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= hashPrime
	}
	return h
}

// mix adds one part to a running key; the order of parts matters.
func mix(h, x uint64) uint64 {
	h ^= x
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	h ^= h >> 29
	return h
}

// Namespaces.
var (
	nsWord1    = hashString("w1")
	nsWord2    = hashString("w2")
	nsWord3    = hashString("w3")
	nsChar     = hashString("c")
	nsAccent   = hashString("acc")
	nsNeg      = hashString("neg")
	nsNegBi    = hashString("neg2")
	nsAfter    = hashString("after")
	nsConc     = hashString("conc")
	nsIrr      = hashString("irr")
	nsQWord    = hashString("qword")
	nsLast     = hashString("last")
	nsQStart   = hashString("qstart")
	nsQEndWord = hashString("qend")
	nsIntNext  = hashString("int")
	nsKeyword  = hashString("kw")
	nsLexWord  = hashString("lexw")
	nsLexHit   = hashString("lexhit")
	nsFlag     = hashString("flag")
	nsRuleBin  = hashString("rbin")
	nsRuleQ    = hashString("rq")

	tokBOS    = hashString("<s>")
	tokEOS    = hashString("</s>")
	tokComma  = hashString("<,>")
	tokPeriod = hashString("<.>")
)

// Flags: features that fire once or carry a value.
const (
	flagQuestion = iota + 1
	flagQuestionEnd
	flagBangs1
	flagBangs3
	flagCapsWord
	flagAllCaps
	flagQuote
	flagEllipsis
	flagLen
	flagEmojiPos
	flagEmojiNeg
	flagEmojiIrony
	flagAccentCount
	flagElision
	flagContraction
	flagIntens
	flagNegCount
	flagContrastSeen
	flagConcession
	flagBias
	flagRuleC
	flagRulePos
	flagRuleNeg
	flagRuleIrony
	flagRuleAfter
	flagRuleBefore
	flagRuleLast
	flagRuleNPos
	flagRuleNNeg
	flagRuleNNegated
	flagRuleFirst
	flagNoWords
	flagDigits
	flagFrenchWords
	flagEnglishWords
	flagMixed      // positive and negative hits in one text
	flagPosThenNeg // the first hit is praise, a later one a complaint: "Love how the VPN dies…"
	flagNegThenPos
	flagPosOpener       // the text opens on praise (first unit, or first of its clause)
	flagIrrealis        // an irrealis scope: "it would be nice if…", "il faudrait…"
	flagLenBucket = 100 // + bucket
)

// flagKey is the key of flag f: mix(nsFlag, f), from a table for the flags there are.
func flagKey(f int) uint64 {
	if uint(f) < uint(len(flagKeys)) {
		return flagKeys[f]
	}
	return mix(nsFlag, uint64(f))
}

var flagKeys = func() (k [flagLenBucket + 8]uint64) {
	for f := range k {
		k[f] = mix(nsFlag, uint64(f))
	}
	return k
}()

// fbuf collects the features of one text. Blocks of sparse features are scaled by
// 1/sqrt(size) so long comments do not get more confident for being long.
type fbuf struct {
	keys  []uint64
	vals  []float32
	th    []uint64 // hash of each token
	scope []uint8  // per token: scope bits
	chars []byte
	lower [64]byte // a word accentedWords lowercases
	phase int      // len(keys) at the end of phase 1
	// Stretches of vals written with one value (appendUniform) and not changed since:
	// model.accumulateSpans need not compare their values one by one.
	uniform []span

	// Buffers Analyze reuses from one comment to the next.
	tok    tokScratch
	scored scored
}

const (
	scopeNeg uint8 = 1 << iota
	scopeAfter
	scopeConc
	scopeIrr // after a modal or a wish: what is wished for is missing
	scopeQ   // in a sentence that ends with "?"
)

// span is vals[start:end].
type span struct{ start, end int }

func (b *fbuf) reset() {
	b.keys, b.vals, b.chars, b.uniform = b.keys[:0], b.vals[:0], b.chars[:0], b.uniform[:0]
	b.phase = 0
}

func (b *fbuf) add(k uint64, v float32) {
	b.keys = append(b.keys, k)
	b.vals = append(b.vals, v)
}

// scaleFrom scales the features added since start by 1/sqrt(their number).
func (b *fbuf) scaleFrom(start int) {
	n := len(b.keys) - start
	if n <= 1 {
		return
	}
	s := float32(1 / math.Sqrt(float64(n)))
	for i := start; i < len(b.vals); i++ {
		b.vals[i] *= s
	}
	b.changed(start)
}

// changed drops from b.uniform what vals[start:] held: it is being changed.
func (b *fbuf) changed(start int) {
	for len(b.uniform) > 0 {
		last := &b.uniform[len(b.uniform)-1]
		switch {
		case last.end <= start:
			return
		case last.start+2 <= start:
			last.end = start
			return
		}
		b.uniform = b.uniform[:len(b.uniform)-1]
	}
}

// blockValue is the value of each feature of a block of n: 1/sqrt(n), as scaleFrom
// makes it from 1 (1·s is s).
func blockValue(n int) float32 {
	if n <= 1 {
		return 1
	}
	return float32(1 / math.Sqrt(float64(n)))
}

// appendValue appends n copies of v.
func appendValue(vals []float32, v float32, n int) []float32 {
	start := len(vals)
	vals = slices.Grow(vals, n)[:start+n]
	for i := start; i < len(vals); i++ {
		vals[i] = v
	}
	return vals
}

// appendUniform appends n copies of v to b.vals and records them in b.uniform (not a
// NaN, which equals nothing, not even itself).
func (b *fbuf) appendUniform(v float32, n int) {
	start := len(b.vals)
	b.vals = appendValue(b.vals, v, n)
	if n >= 2 && v == v {
		b.uniform = append(b.uniform, span{start, len(b.vals)})
	}
}

// charSeed is the key of every character n-gram before its first byte, and charKey1
// the key after it: the first two of the mixes charGrams chains.
var (
	charSeed = mix(nsChar, 0)
	charKey1 = func() (k [256]uint64) {
		for c := range k {
			k[c] = mix(charSeed, uint64(c))
		}
		return k
	}()
)

// charGrams adds the character n-grams of b.chars, from CharMin to CharMax bytes,
// each the chain of mixes of its bytes from charSeed, in order of start then length,
// as one block.
func (b *fbuf) charGrams(cfg featConfig) {
	c := b.chars
	lo, hi := max(cfg.CharMin, 1), cfg.CharMax
	if hi < lo {
		return
	}
	n := 0
	for w := lo; w <= hi; w++ {
		n += max(0, len(c)-w+1) // the n-grams of w bytes
	}
	start := len(b.keys)
	b.keys = slices.Grow(b.keys, n)[:start+n]
	out := b.keys[start:] // written by index: no append in the loop
	p, i := 0, 0
	if lo == 3 && hi == 5 {
		// The shipped recipe, unrolled where all three lengths fit; the bytes and the
		// outputs are walked as slices whose length the loop checks, so the compiler
		// needs no bounds check per byte.
		g, o := c, out
		for len(g) >= 5 && len(o) >= 3 {
			h := mix(charKey1[g[0]], uint64(g[1]))
			h = mix(h, uint64(g[2]))
			o[0] = h
			h = mix(h, uint64(g[3]))
			o[1] = h
			o[2] = mix(h, uint64(g[4]))
			g, o = g[1:], o[3:]
		}
		i, p = len(c)-len(g), len(out)-len(o)
	}
	for ; i < len(c); i++ {
		h := charKey1[c[i]]
		if lo <= 1 {
			out[p] = h
			p++
		}
		end := min(i+hi, len(c))
		for j := i + 1; j < end; j++ {
			h = mix(h, uint64(c[j]))
			if j-i+1 >= lo {
				out[p] = h
				p++
			}
		}
	}
	b.appendUniform(blockValue(n), n)
}

// phase1 extracts what the text alone says. text is the comment with markup stripped,
// t its tokens.
func (a *Analyzer) phase1(b *fbuf, cfg featConfig, text string, t *tokenized) {
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
		case tk.info != nil && tk.info.cls&clsKnown != 0: // a spelling of the index: tk.w is its w
			b.th = append(b.th, tk.info.hash)
		default:
			b.th = append(b.th, hashString(tk.w))
		}
	}
	b.add(flagKey(flagBias), 1)

	// Word n-grams. Every block's size is known before it is written, so its features
	// get their 1/sqrt(size) value at once (what scaleFrom would make of 1).
	n := 0
	if set&fWords != 0 {
		n += len(toks)
	}
	if set&fBigrams != 0 && len(toks) > 0 {
		n += len(toks) + 1
	}
	if set&fTrigrams != 0 && len(toks) > 1 {
		n += len(toks)
	}
	keys := b.keys
	if set&fWords != 0 {
		for i := range toks {
			keys = append(keys, mix(nsWord1, b.th[i]))
		}
	}
	if set&fBigrams != 0 && len(toks) > 0 {
		prev := tokBOS
		for i := range toks {
			keys = append(keys, mix(mix(nsWord2, prev), b.th[i]))
			prev = b.th[i]
		}
		keys = append(keys, mix(mix(nsWord2, prev), tokEOS))
	}
	if set&fTrigrams != 0 && len(toks) > 1 {
		p2, p1 := tokBOS, b.th[0]
		for i := 1; i < len(toks); i++ {
			keys = append(keys, mix(mix(mix(nsWord3, p2), p1), b.th[i]))
			p2, p1 = p1, b.th[i]
		}
		keys = append(keys, mix(mix(mix(nsWord3, p2), p1), tokEOS))
	}
	b.keys = keys
	b.appendUniform(blockValue(n), n)

	// Character n-grams of the folded text.
	if set&fChars != 0 && set&fWordChars == 0 {
		b.chars = foldedBytes(b.chars[:0], text)
		b.charGrams(cfg)
	}
	// Or character n-grams of each word, padded with a space either side.
	if set&fWordChars != 0 {
		start := len(b.keys)
		for _, tk := range toks {
			if tk.boundary || tk.emoji {
				continue
			}
			b.wordGrams(tk.w, cfg)
		}
		b.scaleFrom(start)
	}

	// Scopes, question, intensifiers, emoji, shape and keywords share one block.
	start := len(b.keys)
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
	st := statsOf(text)
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
			if tk.boundary || tk.emoji || !tk.may(clsBoost) || boost(prevWord(toks, i), tk.w) <= 0 {
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
			if fam := tokenKeywordFamily(&tk, toks, i); fam != "" {
				b.add(mix(nsKeyword, hashString(fam)), 1)
			}
		}
	}
	b.scaleFrom(start)

	// Language cues: accents, words as typed with them, elisions, English contractions.
	start = len(b.keys)
	accents := 0
	if set&fAccents != 0 {
		accents = accentedWords(text, &b.lower, func(w []byte) { b.add(mix(nsAccent, hashBytes(w)), 1) })
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
			if cls, ok := tk.class(); ok {
				if cls&clsFrench != 0 {
					fw++
				}
				if cls&clsEnglish != 0 {
					ew++
				}
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

// phase2 adds what the rule engine made of the text.
func (a *Analyzer) phase2(b *fbuf, cfg featConfig, t *tokenized, s *scored, question bool) {
	if cfg.Set&(fRules|fLexWords) == 0 {
		return
	}
	defer func(start int) {
		if g := float32(cfg.RuleGain); g > 1 {
			for i := start; i < len(b.vals); i++ {
				b.vals[i] *= g
			}
			b.changed(start)
		}
	}(len(b.keys))
	c := normalize(s.total)
	if cfg.Set&fRules != 0 {
		b.add(flagKey(flagRuleC), float32(c))
		b.add(flagKey(flagRulePos), float32(max(c, 0)))
		b.add(flagKey(flagRuleNeg), float32(max(-c, 0)))
		bin := min(int((c+1)*4), 7)
		b.add(mix(nsRuleBin, uint64(bin)), 1)
		if question {
			b.add(mix(nsRuleQ, uint64(bin)), 1)
		}
		if s.ironic {
			b.add(flagKey(flagRuleIrony), 1)
		}
	}
	start := len(b.keys)
	var before, after, first, last float64
	firstSeen := false
	npos, nneg, nnegated := 0, 0, 0
	lastSent := -1
	if len(s.sentence) > 0 {
		lastSent = len(s.sentence) - 1
	}
	for i, u := range s.units {
		if !u.sentiment {
			continue
		}
		v := s.uval[i]
		switch {
		case v > 0:
			npos++
		case v < 0:
			nneg++
		}
		if s.uneg[i] {
			nnegated++
		}
		if s.pivot >= 0 && i > s.pivot {
			after += v
		} else {
			before += v
		}
		if sn := s.sentOf[s.clauseOf[u.tok]]; sn == lastSent {
			last += v
		} else if sn == 0 {
			first += v
			firstSeen = true
		}
		if cfg.Set&fRules != 0 {
			// The hit's sign as written, as the rules left it, and where it stands.
			k := uint64(0)
			if u.val > 0 {
				k |= 1
			}
			if v > 0 {
				k |= 2
			}
			if s.pivot >= 0 && i > s.pivot {
				k |= 4
			}
			if question {
				k |= 8
			}
			if u.emoji {
				k |= 16
			}
			if cfg.Set&fIrrealis != 0 && u.tok < len(b.scope) && b.scope[u.tok]&scopeIrr != 0 {
				k |= 32
			}
			b.add(mix(nsLexHit, k), 1)
		}
		if cfg.Set&fLexWords != 0 && !u.emoji {
			sg := uint64(0)
			if v > 0 {
				sg = 1
			}
			b.add(mix(mix(nsLexWord, hashString(u.w)), sg), 1)
		}
	}
	b.scaleFrom(start)
	if cfg.Set&fCues != 0 {
		a.cues(b, s)
	}
	if cfg.Set&fRules != 0 {
		if s.pivot >= 0 {
			b.add(flagKey(flagRuleAfter), float32(normalize(after)))
			b.add(flagKey(flagRuleBefore), float32(normalize(before)))
		}
		if lastSent > 0 {
			b.add(flagKey(flagRuleLast), float32(normalize(last)))
			if firstSeen {
				b.add(flagKey(flagRuleFirst), float32(normalize(first)))
			}
		}
		if npos > 0 {
			b.add(flagKey(flagRuleNPos), countValue(npos))
		}
		if nneg > 0 {
			b.add(flagKey(flagRuleNNeg), countValue(nneg))
		}
		if nnegated > 0 {
			b.add(flagKey(flagRuleNNegated), countValue(nnegated))
		}
	}
}

// cues adds what the order of the rule engine's hits says: praise and complaint in one
// text, and which came first. Sarcasm without a marker is mostly praise put before a
// bad event ("Love how the VPN dies every afternoon"), which words alone cannot see
// when the event's words are new to the model; the lexicon knows "dies" is bad.
func (a *Analyzer) cues(b *fbuf, s *scored) {
	firstSign := 0
	pos, neg, posThenNeg, negThenPos := false, false, false, false
	for i, u := range s.units {
		if !u.sentiment || u.emoji {
			continue
		}
		v := s.uval[i]
		switch {
		case v > 0:
			if firstSign == 0 {
				firstSign = 1
				if i < 2 {
					b.add(flagKey(flagPosOpener), 1)
				}
			}
			if firstSign < 0 {
				negThenPos = true
			}
			pos = true
		case v < 0:
			if firstSign == 0 {
				firstSign = -1
			}
			if firstSign > 0 {
				posThenNeg = true
			}
			neg = true
		}
	}
	if pos && neg {
		b.add(flagKey(flagMixed), 1)
	}
	if posThenNeg {
		b.add(flagKey(flagPosThenNeg), 1)
	}
	if negThenPos {
		b.add(flagKey(flagNegThenPos), 1)
	}
}

// textStats are the character-level facts phase 1 reads, found in one pass.
type textStats struct {
	questions                                 int
	endsWithQuestion, quote, ellipsis, digits bool
}

// statsPlain marks the bytes statsOf only remembers as the last one seen.
var statsPlain = func() (plain [256]bool) {
	for c := range plain {
		plain[c] = !(c >= '0' && c <= '9') && !strings.ContainsRune("?\".\t\n\r !)'", rune(c)) && c != 0xC2 && c != 0xE2 && c != 0xBB
	}
	return plain
}()

func statsOf(text string) textStats {
	var st textStats
	last := byte(0) // last byte that is not space, closing punctuation or "!"/"."
	dots := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if statsPlain[c] { // most bytes: what the rest of the loop does for them
			last, dots = c, 0
			continue
		}
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

// wordGrams adds the character n-grams of " w ", each keyed by FNV-1a of its bytes
// from the character namespace: one multiply per byte.
func (b *fbuf) wordGrams(w string, cfg featConfig) {
	var pad [64]byte
	p := pad[:0]
	if len(w)+2 > len(pad) {
		p = make([]byte, 0, len(w)+2)
	}
	p = append(append(append(p, ' '), w...), ' ')
	lo, hi := cfg.CharMin, cfg.CharMax
	for i := range p {
		h := uint64(nsChar)
		end := min(i+hi, len(p))
		for j := i; j < end; j++ {
			h = (h ^ uint64(p[j])) * hashPrime
			if j-i+1 >= lo {
				b.keys = append(b.keys, h)
			}
		}
	}
	for len(b.vals) < len(b.keys) {
		b.vals = append(b.vals, 1)
	}
}

func lenBucket(words int) int {
	switch {
	case words <= 2:
		return words
	case words <= 5:
		return 3
	case words <= 10:
		return 4
	case words <= 25:
		return 5
	case words <= 60:
		return 6
	}
	return 7
}

func firstWord(toks []token) int {
	for i, tk := range toks {
		if !tk.boundary {
			return i
		}
	}
	return -1
}

func prevWord(toks []token, i int) string {
	if i == 0 || toks[i-1].boundary {
		return ""
	}
	return toks[i-1].w
}

func nextWord(toks []token, i int) string {
	if i+1 >= len(toks) || toks[i+1].boundary {
		return ""
	}
	return toks[i+1].w
}

// lastSentence returns the tokens [lo, hi) of the last sentence when another comes
// before it, else an empty range.
func lastSentence(toks []token) (lo, hi int) {
	last := len(toks) - 1
	for last >= 0 && toks[last].boundary {
		last--
	}
	for i := last - 1; i > 0; i-- {
		if toks[i].boundary && toks[i].strong {
			return i + 1, last + 1
		}
	}
	return 0, 0
}

// markScopes marks the tokens in the scope of a negator (up to the end of the clause
// or a contrast word), after the last contrast word (to the end of the text), and in
// a concession ("although …", "même si …", up to the end of the clause).
func markScopes(scope []uint8, toks []token) []uint8 {
	for range toks {
		scope = append(scope, 0)
	}
	pivot := -1
	neg, conc, irr := false, false, false
	for i, tk := range toks {
		if tk.boundary {
			neg, conc, irr = false, false, false
			continue
		}
		// A word in none of the lists of the four functions below (most words) is
		// only marked.
		may := tk.may(clsScope)
		var p, nx string
		if may {
			p, nx = prevWord(toks, i), nextWord(toks, i)
			if contrastWord(toks, i) {
				pivot, neg, conc, irr = i, false, false, false
				continue
			}
			if concessive(p, tk.w, nx) {
				conc, neg = true, false
				continue
			}
		}
		if neg {
			scope[i] |= scopeNeg
		}
		if conc {
			scope[i] |= scopeConc
		}
		if irr {
			scope[i] |= scopeIrr
		}
		if may && featureNegator(p, tk.w, nx) {
			neg = true
		}
		if may && irrealis(p, tk.w, nx) {
			irr = true
		}
	}
	// Sentences that end with "?" (a question typed without its mark is not seen).
	end := len(toks)
	for i := len(toks) - 1; i >= -1; i-- {
		if i >= 0 && !(toks[i].boundary && toks[i].strong) {
			continue
		}
		if end < len(toks) && toks[end].question {
			for j := i + 1; j < end; j++ {
				scope[j] |= scopeQ
			}
		}
		end = i
	}
	// A clause-final "though" ("The pay is bad though.") turns its own clause.
	for i, tk := range toks {
		if tk.w == "though" && (i+1 == len(toks) || toks[i+1].boundary) && i > pivot {
			j := i
			for j > 0 && !toks[j-1].boundary {
				j--
			}
			if j > 0 {
				pivot = j - 1
			}
		}
	}
	if pivot >= 0 {
		for i := pivot + 1; i < len(toks); i++ {
			scope[i] |= scopeAfter
		}
	}
	return scope
}

// contrastWord is a "but": mais, pourtant, par contre…, and "yet" opening a clause.
func contrastWord(toks []token, i int) bool {
	w := toks[i].w
	if contrasts(prevWord(toks, i), w) {
		return true
	}
	switch w {
	case "yet":
		p := prevWord(toks, i)
		return i == 0 || toks[i-1].boundary || p == "and" || p == "et"
	case "sauf":
		return nextWord(toks, i) == "que"
	case "whereas", "tandis":
		return true
	}
	return false
}

// irrealis opens a scope of what is wished for, required or hypothetical, and so
// missing: "it would be nice if…", "they should listen", "I wish", "on devrait",
// "il faudrait", "j'aimerais". "if" alone is left out: "if you need help, ask" is
// no wish, and "even if" is a concession.
func irrealis(prev, w, next string) bool {
	switch w {
	case "would", "should", "could", "wish", "wished", "hopefully", "ideally",
		"devrait", "devraient", "devrions", "faudrait", "pourrait", "pourraient", "aimerais", "aimerait",
		"aimerions", "voudrais", "voudrait", "souhaiterais", "souhaiterait", "serait", "seraient":
		return true
	case "need", "needs":
		return next == "to" // "management needs to listen"
	case "hope":
		return prev == "i" || prev == "we"
	}
	return false
}

// concessive opens a concession, whose clause the writer grants before the point.
func concessive(prev, w, next string) bool {
	switch w {
	case "although", "though", "despite", "malgre", "quoique", "meme":
		if w == "meme" {
			return next == "si"
		}
		if w == "though" {
			return next != "" // a clause-final "though" is a "but"
		}
		return true
	case "bien":
		return next == "que"
	case "if":
		return prev == "even"
	}
	return false
}

// featureNegator says w opens a negation scope: French ne, pas, plus, jamais, rien,
// aucun, personne, sans, and English not (n't), never, no, nothing, without, "hard
// to"… The rule engine's list, read without knowing the language.
func featureNegator(prev, w, next string) bool {
	if negates(prev, w, next, "fr") {
		return true
	}
	switch w {
	case "personne":
		return next == "ne"
	case "nowhere", "hardly", "lacks":
		return true
	case "impossible", "unable":
		return true
	}
	return false
}

// foldedBytes appends text lowercased and without accents, runs of spaces squeezed,
// with a space at each end; emoji and other symbols outside ASCII are left out (they
// are tokens of their own), and so are Slack's *bold*, _italic_, ~strike~ and `code`
// markers, which stripMarkup leaves to the tokenizer.
func foldedBytes(dst []byte, text string) []byte {
	dst = append(dst, ' ')
	space := true
	for i := 0; i < len(text); {
		if c := text[i]; c < utf8.RuneSelf {
			// ASCII, most of any comment: the cases below, without decoding.
			i++
			switch k := foldASCII[c]; {
			case k == foldSpace:
				if !space {
					dst = append(dst, ' ')
					space = true
				}
			default:
				dst = append(dst, k)
				space = false
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			x, y := fold(toLower(r))
			dst = utf8.AppendRune(dst, x)
			if y != 0 {
				dst = utf8.AppendRune(dst, y)
			}
			space = false
		case r == '’' || r == 'ʼ':
			dst = append(dst, '\'')
			space = false
		}
	}
	if !space {
		dst = append(dst, ' ')
	}
	return dst
}

// foldASCII is what foldedBytes writes for an ASCII byte: itself, lowercased, or
// foldSpace for a space or one of Slack's bold, italic, strike and code markers,
// which read as nothing.
const foldSpace = 0xFF

var foldASCII = func() (k [utf8.RuneSelf]byte) {
	for c := range k {
		switch {
		case c >= 'A' && c <= 'Z':
			k[c] = byte(c + ('a' - 'A'))
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '*' || c == '_' || c == '~' || c == '`':
			k[c] = foldSpace
		default:
			k[c] = byte(c)
		}
	}
	return k
}()

// accentedWords calls f with each word of text that has a diacritic, lowercased as
// typed (in lower, the caller's buffer, so nothing escapes to the heap), and returns
// how many accented letters it saw: the accents the folded views drop say "French"
// better than any word list. A word is a run of letters; only a word with a letter
// outside ASCII can have an accent, so the search skips ASCII bytes to the next other
// one and reads the word around it, and a text in ASCII costs one look per byte.
func accentedWords(text string, lower *[64]byte, f func([]byte)) int {
	n := 0
	done := 0 // text[:done] is read
	for i := 0; i < len(text); {
		if text[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if !unicode.IsLetter(r) {
			i += size
			continue
		}
		// A word with a letter outside ASCII at i: it starts after the ASCII letters
		// before i (a byte outside ASCII before them is no letter, or the word would
		// have been read already).
		start := i
		for start > done && isASCIILetter(text[start-1]) {
			start--
		}
		accented := false
		end := i
		for end < len(text) {
			c := text[end]
			if c < utf8.RuneSelf {
				if !isASCIILetter(c) {
					break
				}
				end++
				continue
			}
			r, size := utf8.DecodeRuneInString(text[end:])
			if !unicode.IsLetter(r) {
				break
			}
			if r >= 0xC0 {
				if lr := toLower(r); fold1(lr) != lr {
					accented = true
					n++
				}
			}
			end += size
		}
		if accented && end-start <= len(lower) {
			w := lower[:0]
			for _, r := range text[start:end] {
				w = utf8.AppendRune(w, toLower(r))
			}
			f(w)
		}
		done, i = end, end
	}
	return n
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// tokenKeywordFamily is keywordFamily(tk.w, nextWord(toks, i)) for tk = toks[i],
// with what the index knows: a spelling of the index that is no keyword and starts
// with none names no family, and a word outside it is no exact keyword (the index
// holds them all), so only the prefixes are tried.
func tokenKeywordFamily(tk *token, toks []token, i int) string {
	cls, ok := tk.class()
	switch {
	case !ok:
		return keywordFamily(tk.w, nextWord(toks, i))
	case cls&clsKnown == 0: // outside the index
		return keywordPrefixFamily(tk.w, nextWord(toks, i))
	case cls&clsKeyword == 0:
		return ""
	}
	return keywordFamily(tk.w, nextWord(toks, i))
}

// keywordCandidate says keywordFamily(w, next) may name a family for some next word.
func keywordCandidate(w string) bool {
	if len(keywordIndex.exact[w]) > 0 {
		return true
	}
	if w == "" {
		return false
	}
	for _, k := range keywordIndex.prefix[w[0]] {
		if strings.HasPrefix(w, k.word) {
			return true
		}
	}
	return false
}

// keywordFamily groups the words that flag a risk HR must see: a learned weight per
// family generalises from a few examples to the whole family. A key ending in "*" is a
// prefix; a key with a space needs the next word too.
func keywordFamily(w, next string) string {
	for _, k := range keywordIndex.exact[w] {
		if k.next == "" || k.next == next {
			return k.family
		}
	}
	return keywordPrefixFamily(w, next)
}

// keywordPrefixFamily is keywordFamily for a word that is no exact keyword.
func keywordPrefixFamily(w, next string) string {
	if w == "" {
		return ""
	}
	for _, k := range keywordIndex.prefix[w[0]] {
		if strings.HasPrefix(w, k.word) && (k.next == "" || k.next == next) {
			return k.family
		}
	}
	return ""
}

type keyword struct{ word, next, family string }

// keywordIndex holds riskKeywords by exact word, and prefixes by first letter, in
// list order.
var keywordIndex = func() (idx struct {
	exact  map[string][]keyword
	prefix [256][]keyword
}) {
	idx.exact = map[string][]keyword{}
	for _, k := range riskKeywords {
		w, next, _ := strings.Cut(k.key, " ")
		if p, ok := strings.CutSuffix(w, "*"); ok {
			idx.prefix[p[0]] = append(idx.prefix[p[0]], keyword{p, next, k.family})
		} else {
			idx.exact[w] = append(idx.exact[w], keyword{w, next, k.family})
		}
	}
	return idx
}()

var riskKeywords = []struct{ key, family string }{
	// harassment and discrimination
	{"harcel*", "harass"}, {"harass*", "harass"}, {"bully", "harass"}, {"bullying", "harass"}, {"bullied", "harass"},
	{"bullies", "harass"}, {"intimid*", "harass"}, {"humili*", "harass"}, {"insult*", "harass"}, {"menace*", "harass"},
	{"threat*", "harass"}, {"discrimin*", "harass"}, {"racis*", "harass"}, {"sexis*", "harass"}, {"homophob*", "harass"},
	{"misogyn*", "harass"}, {"deplace*", "harass"}, {"inappropri*", "harass"}, {"grop*", "harass"}, {"attouch*", "harass"},
	{"hurle*", "harass"}, {"shouted", "harass"}, {"shouting", "harass"}, {"scream*", "harass"}, {"yell*", "harass"}, {"rabaiss*", "harass"},
	{"belittl*", "harass"}, {"ostracis*", "harass"}, {"slur*", "harass"}, {"creep*", "harass"}, {"lourd*", "harass"},
	// intent to quit
	{"demission*", "quit"}, {"quit", "quit"}, {"quitting", "quit"}, {"quiting", "quit"}, {"resign*", "quit"},
	{"partir", "quit"}, {"pars", "quit"}, {"quitter", "quit"}, {"quitte", "quit"}, {"leaving", "quit"}, {"cv", "quit"},
	{"linkedin", "quit"}, {"job hunting", "quit"}, {"notice", "quit"}, {"preavis", "quit"}, {"ailleurs", "quit"},
	{"elsewhere", "quit"}, {"rupture conventionnelle", "quit"}, {"recruteur*", "quit"}, {"recruiter*", "quit"},
	// burnout and distress
	{"burn*", "distress"}, {"epuis*", "distress"}, {"exhaust*", "distress"}, {"angoiss*", "distress"}, {"anxi*", "distress"},
	{"panic*", "distress"}, {"paniqu*", "distress"}, {"pleur*", "distress"}, {"cry", "distress"}, {"crying", "distress"},
	{"cried", "distress"}, {"dors", "distress"}, {"dort", "distress"}, {"sleep*", "distress"}, {"insomn*", "distress"},
	{"depress*", "distress"}, {"deprim*", "distress"}, {"craqu*", "distress"}, {"breakdown", "distress"},
	{"suicid*", "distress"}, {"therap*", "distress"}, {"psy*", "distress"}, {"cope", "distress"}, {"drown*", "distress"},
	{"detresse", "distress"}, {"distress*", "distress"}, {"mental*", "distress"}, {"dread*", "distress"},
	{"boule au", "distress"}, {"bout", "distress"}, {"breaking", "distress"},
	// safety
	{"securit*", "safety"}, {"safety", "safety"}, {"unsafe", "safety"}, {"danger*", "safety"}, {"accident*", "safety"},
	{"bless*", "safety"}, {"injur*", "safety"}, {"incendi*", "safety"}, {"extincteur*", "safety"},
	{"helmet*", "safety"}, {"gants", "safety"}, {"gloves", "safety"},
	{"toxique*", "safety"}, {"toxic fumes", "safety"}, {"chimique*", "safety"}, {"chemical*", "safety"},
	{"electrocut*", "safety"}, {"evacu*", "safety"}, {"forklift*", "safety"}, {"chariot*", "safety"},
	{"epi", "safety"}, {"ppe", "safety"}, {"violen*", "safety"}, {"agress*", "safety"}, {"assault*", "safety"},
	{"fire exit", "safety"}, {"secours", "safety"}, {"hazard*", "safety"},
}

// countValue damps a count: sqrt rather than log because IEEE 754 rounds sqrt
// correctly on every CPU, which keeps training reproducible bit for bit.
func countValue(n int) float32 { return float32(math.Sqrt(float64(n))) }
