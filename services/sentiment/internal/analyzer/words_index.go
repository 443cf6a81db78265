package analyzer

import "strings"

// The rule engine looks every token up in up to eight tables (lexicon, the other
// language's authored entries, dimensions and emotions, in French and English),
// French ones with up to three spellings each (plural, feminine). wordIndex answers
// all of it with one map lookup: every spelling any table can match maps to what each
// table says of it. A spelling absent from the index matches nothing, because a table
// only ever matches a key or the key with an inflection added, and the index holds
// both.

// wordInfo is what the tables say about one spelling. Index 0 is French, 1 English.
type wordInfo struct {
	w     string     // the spelling, so the tokenizer can share it instead of allocating
	lex   [2]float64 // lexicon, inflections allowed (as the text's language)
	auth  [2]float64 // authored entries, exact (as the other language)
	dim   [2]Dimension
	dimX  [2]Dimension // exact
	emo   [2]Emotion
	emoX  [2]Emotion // exact
	ok    [2]uint8   // which of the above hold a value
	heads [2]uint8   // which tables have a phrase starting with this word
	// headLen is, per table (by the bit of heads: lex, authored, dims, emotions), the
	// most tokens of its phrases starting with this word.
	headLen [2][4]uint8
	cls     wordClass // which function-word lists hold the spelling (words.go)
	hash    uint64    // hashString(w), the word's part of its feature keys; set with clsKnown
}

const (
	okLex uint8 = 1 << iota
	okAuth
	okDim
	okDimX
	okEmo
	okEmoX
)

const (
	headLex uint8 = 1 << iota
	headAuth
	headDims
	headEmotions
)

// noInfo is the info of a word no table knows.
var noInfo = &wordInfo{}

// buildWordIndex enumerates every spelling the tables of fr and en can match.
func buildWordIndex(fr, en *language) map[string]*wordInfo {
	langs := [2]*language{fr, en}
	seen := map[string]bool{}
	var candidates []string
	addForms := func(k string, french bool) {
		forms := []string{k, k + "s"}
		if french {
			forms = append(forms, k+"x", k+"e", k+"es", k+"ex")
		}
		for _, f := range forms {
			if !seen[f] {
				seen[f] = true
				candidates = append(candidates, f)
			}
		}
	}
	for li, l := range langs {
		french := li == 0
		for k := range l.lex.m {
			addForms(k, french)
		}
		for k := range l.authored.m {
			addForms(k, french)
		}
		for k := range l.dims.m {
			addForms(k, french)
		}
		for k := range l.emotions.m {
			addForms(k, french)
		}
		for k := range l.lex.heads {
			addForms(k, false)
		}
		for k := range l.authored.heads {
			addForms(k, false)
		}
		for k := range l.dims.heads {
			addForms(k, false)
		}
		for k := range l.emotions.heads {
			addForms(k, false)
		}
	}
	index := make(map[string]*wordInfo, len(candidates))
	for _, w := range candidates {
		var info wordInfo
		for li, l := range langs {
			if v, ok := l.lex.word(w); ok {
				info.lex[li], info.ok[li] = v, info.ok[li]|okLex
			}
			if v, ok := l.authored.m[w]; ok {
				info.auth[li], info.ok[li] = v, info.ok[li]|okAuth
			}
			if v, ok := l.dims.word(w); ok {
				info.dim[li], info.ok[li] = v, info.ok[li]|okDim
			}
			if v, ok := l.dims.m[w]; ok {
				info.dimX[li], info.ok[li] = v, info.ok[li]|okDimX
			}
			if v, ok := l.emotions.word(w); ok {
				info.emo[li], info.ok[li] = v, info.ok[li]|okEmo
			}
			if v, ok := l.emotions.m[w]; ok {
				info.emoX[li], info.ok[li] = v, info.ok[li]|okEmoX
			}
			for ti, n := range [...]int{l.lex.heads[w], l.authored.heads[w], l.dims.heads[w], l.emotions.heads[w]} {
				if n > 0 {
					info.heads[li] |= 1 << ti // headLex, headAuth, headDims, headEmotions
					info.headLen[li][ti] = uint8(min(n, 255))
				}
			}
		}
		if info.ok != [2]uint8{} || info.heads != [2]uint8{} {
			info.w = w
			index[w] = &info
		}
	}
	// Frequent words no table knows, so the tokenizer need not allocate them either,
	// and every word of the function-word lists, so that a spelling outside the index
	// is in none of them.
	for _, w := range strings.Fields(commonWords) {
		if _, ok := index[w]; !ok {
			index[w] = &wordInfo{w: w}
		}
	}
	for w := range classLists {
		if _, ok := index[w]; !ok {
			index[w] = &wordInfo{w: w}
		}
	}
	for w := range keywordIndex.exact { // so that only prefixes can match a word outside the index
		if _, ok := index[w]; !ok {
			index[w] = &wordInfo{w: w}
		}
	}
	for w, info := range index {
		info.cls, info.hash = wordClassOf(w), hashString(w)
	}
	return index
}

const commonWords = `le la les de des du un une et est en a au aux ce cet cette ces que qui quoi on il
elle ils elles nous vous je tu me te se mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs
pas ne plus jamais rien aucun aucune personne sans mais ou donc car pour par sur dans avec chez sous
ai as avons avez ont suis es sommes etes sont etait ete etre avoir fait faire tres trop bien tout tous
toute toutes meme aussi encore deja toujours quand comme si y lui eux moi toi ca cela ici la alors
the a an and or but is are was were be been being have has had do does did not no never to of in on
at for with from by as it its this that these those i you he she we they me him her us them my your his
our their there here what which who whom when where why how all any some more most less very so too
just also only than then if because about into over after before up down out again still can could
will would should may might must am get got one two three`

// lookup attaches its info to every word token. A stretched word ("goooood") also
// tries its spelling with doubled letters, as table.token and table.exact do: the
// squeezed spelling wins per table, the heads come from it alone.
func (a *Analyzer) lookup(toks []token) {
	for i := range toks {
		tk := &toks[i]
		if tk.boundary || tk.emoji || tk.info != nil {
			continue
		}
		info, ok := a.words[tk.w]
		if !ok {
			info = noInfo
		}
		if tk.alt != "" {
			if alt, ok := a.words[tk.alt]; ok {
				merged := *info
				for li := range 2 {
					have := info.ok[li]
					if have&okLex == 0 && alt.ok[li]&okLex != 0 {
						merged.lex[li] = alt.lex[li]
					}
					if have&okAuth == 0 && alt.ok[li]&okAuth != 0 {
						merged.auth[li] = alt.auth[li]
					}
					if have&okDim == 0 && alt.ok[li]&okDim != 0 {
						merged.dim[li] = alt.dim[li]
					}
					if have&okDimX == 0 && alt.ok[li]&okDimX != 0 {
						merged.dimX[li] = alt.dimX[li]
					}
					if have&okEmo == 0 && alt.ok[li]&okEmo != 0 {
						merged.emo[li] = alt.emo[li]
					}
					if have&okEmoX == 0 && alt.ok[li]&okEmoX != 0 {
						merged.emoX[li] = alt.emoX[li]
					}
					merged.ok[li] = have | alt.ok[li]
				}
				info = &merged
			}
		}
		tk.info = info
	}
}

// The accessors below read a token's info, or the tables when the token has none
// (tokens made outside Analyze).

func (l *language) lexToken(tk token) (float64, bool) {
	if tk.info == nil {
		return l.lex.token(tk)
	}
	return tk.info.lex[l.idx], tk.info.ok[l.idx]&okLex != 0
}

func (l *language) authoredExact(tk token) (float64, bool) {
	if tk.info == nil {
		return l.authored.exact(tk)
	}
	return tk.info.auth[l.idx], tk.info.ok[l.idx]&okAuth != 0
}

func (l *language) dimToken(tk token) (Dimension, bool) {
	if tk.info == nil {
		return l.dims.token(tk)
	}
	return tk.info.dim[l.idx], tk.info.ok[l.idx]&okDim != 0
}

func (l *language) dimExact(tk token) (Dimension, bool) {
	if tk.info == nil {
		return l.dims.exact(tk)
	}
	return tk.info.dimX[l.idx], tk.info.ok[l.idx]&okDimX != 0
}

func (l *language) emotionToken(tk token) (Emotion, bool) {
	if tk.info == nil {
		return l.emotions.token(tk)
	}
	return tk.info.emo[l.idx], tk.info.ok[l.idx]&okEmo != 0
}

func (l *language) emotionExact(tk token) (Emotion, bool) {
	if tk.info == nil {
		return l.emotions.exact(tk)
	}
	return tk.info.emoX[l.idx], tk.info.ok[l.idx]&okEmoX != 0
}

// mayStart says a phrase of the given table may start at tk.
func (l *language) mayStart(tk token, head uint8) bool {
	return tk.info == nil || tk.info.heads[l.idx]&head != 0
}
