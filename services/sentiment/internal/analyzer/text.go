package analyzer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// token is one normalised word, an emoji or Slack reaction, or a clause boundary
// (punctuation) that stops negation and intensifiers from reaching across clauses.
type token struct {
	w        string // stretched letters squeezed to one: "suuuper" → "super"; an emoji or ":shortcode:" as typed
	alt      string // stretched letters kept doubled, for "goooood" → "good"; empty if not stretched
	boundary bool
	strong   bool      // boundary ends a sentence (. ! ? ; newline), not just a clause (, :)
	emoji    bool      // w is an emoji or a ":shortcode:": looked up in the emoji table only
	question bool      // boundary has a "?": the sentence before it is a question
	caps     bool      // typed in capitals ("GÉNIAL"), which VADER reads as emphasis
	info     *wordInfo // what the tables say of w, once Analyzer.lookup ran; nil before
}

// tokenized is a text reduced to what scoring and language detection need.
type tokenized struct {
	toks  []token
	fr    int // French elisions seen (c', j', qu'…): a strong hint no function-word list gives
	en    int // English contractions seen (n't, 's, 'm…)
	bangs int // exclamation marks
	words int // word tokens with at least two letters
	caps  int // of which typed in capitals
}

// allCaps says the whole text is shouted, so capitals emphasise the text rather than
// single words.
func (t *tokenized) allCaps() bool { return t.words >= 2 && t.caps == t.words }

// tokenize lowercases, folds diacritics (people type "genial" for "génial" on phones),
// drops French elided prefixes, splits English n't into "not", and collapses stretched
// letters. Emoji and Slack ":shortcode:" reactions become tokens of their own. It never
// fails: anything that is not a letter, digit or emoji separates words.
func tokenize(text string) tokenized { return tokenizeWith(text, nil) }

// tokenizeWith tokenizes and, given the analyzer's word index, takes each known word's
// spelling and info from it: no string is allocated for a word the index knows.
func tokenizeWith(text string, words map[string]*wordInfo) tokenized {
	sc := tokScratch{toks: make([]token, 0, len(text)/4+2)}
	return tokenizeInto(&sc, text, words)
}

// tokScratch holds the buffers tokenizeInto reuses from one text to the next.
type tokScratch struct {
	toks    []token
	spelled []byte        // spellings of the words the index lacks, one after the other
	pending []spelledWord // the tokens they are for
}

// spelledWord says token tok is spelled tokScratch.spelled[start:end].
type spelledWord struct{ tok, start, end int }

// tokenizeInto is tokenizeWith with the buffers of sc, which it keeps for the next
// text. Given an index, the words it lacks are spelled into one buffer and made one
// string at the end, which their tokens share: one allocation for them all.
func tokenizeInto(sc *tokScratch, text string, words map[string]*wordInfo) tokenized {
	var t tokenized
	t.toks = sc.toks[:0]
	sc.spelled, sc.pending = sc.spelled[:0], sc.pending[:0]
	var buf [64]byte
	cur := buf[:0]       // the word being read, folded, in UTF-8
	upper, lower := 0, 0 // letters of cur as typed
	afterApos := false   // cur follows an apostrophe: it may be an English clitic
	// spelling is the word of token i, which may still be in sc.spelled.
	spelling := func(i int) string {
		if np := len(sc.pending); t.toks[i].w == "" && np > 0 && sc.pending[np-1].tok == i {
			p := sc.pending[np-1]
			return string(sc.spelled[p.start:p.end])
		}
		return t.toks[i].w
	}
	flush := func() {
		if len(cur) == 0 {
			return
		}
		var tok token
		spelled := -1 // tok's word is sc.spelled[spelled:], not yet a string
		// A spelling of the index is stretched or not as its class says: the search
		// for a letter three times in a row is left to the others.
		info, ok := words[string(cur)]
		switch {
		case ok && info.cls&clsStretched == 0:
			tok = token{w: info.w, info: info}
		case ok || stretched(cur):
			tok = makeToken(cur, words)
		case words != nil:
			spelled = len(sc.spelled)
			sc.spelled = append(sc.spelled, cur...)
			tok = token{info: noInfo} // what lookup would find, found once
		default:
			tok = token{w: string(cur)}
		}
		is := func(w string) bool {
			if spelled >= 0 {
				return string(sc.spelled[spelled:]) == w
			}
			return tok.w == w
		}
		if upper+lower >= 2 {
			t.words++
			if lower == 0 {
				tok.caps = true
				t.caps++
			}
		}
		cur, upper, lower = cur[:0], 0, 0
		if afterApos {
			afterApos = false
			n := len(t.toks)
			switch {
			case is("t") && n > 0 && strings.HasSuffix(spelling(n-1), "n"):
				t.toks[n-1] = token{w: contractionStem(spelling(n - 1)), caps: t.toks[n-1].caps}
				t.toks = append(t.toks, token{w: "not"})
				t.en++
				if spelled >= 0 {
					sc.spelled = sc.spelled[:spelled]
				}
				return
			case is("s") || is("m") || is("re") || is("ve") || is("ll") || is("d"):
				t.en++
				if spelled >= 0 {
					sc.spelled = sc.spelled[:spelled]
				}
				return
			}
		}
		if spelled >= 0 {
			sc.pending = append(sc.pending, spelledWord{len(t.toks), spelled, len(sc.spelled)})
		}
		t.toks = append(t.toks, tok)
	}
	for i := 0; i < len(text); {
		// ASCII letters and digits, most of any comment, take the short way: what
		// the general case below does for them, without the Unicode tables.
		if c := text[i]; c < utf8.RuneSelf {
			switch {
			case c >= 'a' && c <= 'z':
				lower++
				cur = append(cur, c)
				i++
				continue
			case c >= 'A' && c <= 'Z':
				upper++
				cur = append(cur, c+('a'-'A'))
				i++
				continue
			case c >= '0' && c <= '9':
				cur = append(cur, c)
				i++
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if r == ':' {
			if name, n := shortcode(text[i:]); n > 0 {
				flush()
				afterApos = false
				i += n
				if !strings.HasPrefix(name, ":skin-tone") {
					t.toks = append(t.toks, token{w: name, emoji: true})
				}
				continue
			}
		}
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if unicode.IsUpper(r) {
				upper++
			} else if unicode.IsLower(r) {
				lower++
			}
			a, b := fold(toLower(r))
			cur = utf8.AppendRune(cur, a)
			if b != 0 {
				cur = utf8.AppendRune(cur, b)
			}
		case unicode.Is(unicode.Mn, r) || emojiModifier(r):
			// A combining accent from decomposed (NFD) input, or an emoji variation
			// selector, skin tone or joiner: drop it, stay where we are.
		case isEmoji(r):
			flush()
			afterApos = false
			t.toks = append(t.toks, token{w: text[i-size : i], emoji: true})
		case r == '\'' || r == '’' || r == 'ʼ':
			if len(cur) == 0 {
				afterApos = false
				continue
			}
			if isElision(cur) {
				if len(cur) == 1 && cur[0] == 'n' {
					t.toks = append(t.toks, token{w: "ne"})
				}
				t.fr++
				cur, upper, lower = cur[:0], 0, 0
				afterApos = false
				continue
			}
			flush()
			afterApos = true
		default:
			flush()
			afterApos = false
			if strings.ContainsRune(".,;:!?…()¡¿\n", r) {
				if r == '!' {
					t.bangs++
				}
				strong := strings.ContainsRune(".;!?…\n", r)
				n := len(t.toks)
				switch {
				case n == 0:
				case t.toks[n-1].boundary:
					t.toks[n-1].strong = t.toks[n-1].strong || strong
					t.toks[n-1].question = t.toks[n-1].question || r == '?'
				default:
					t.toks = append(t.toks, token{boundary: true, strong: strong, question: r == '?'})
				}
			}
		}
	}
	flush()
	if len(sc.pending) > 0 {
		all := string(sc.spelled)
		for _, p := range sc.pending {
			if tk := &t.toks[p.tok]; tk.w == "" { // not replaced since ("don" of "don't")
				tk.w = all[p.start:p.end]
			}
		}
	}
	sc.toks = t.toks
	return t
}

// shortcode recognises a Slack reaction such as ":tada:" or ":+1:" at the start of s
// (just after the opening colon) and returns it with its colons and the bytes it spans.
// Times ("10:30:00") are not reactions: a name needs a letter, except +1, -1 and 100.
func shortcode(s string) (string, int) {
	letter := false
	for j := 0; j < len(s) && j <= 40; j++ {
		c := s[j]
		switch {
		case c >= 'a' && c <= 'z':
			letter = true
		case c >= 'A' && c <= 'Z':
			return "", 0
		case c >= '0' && c <= '9', c == '_', c == '+', c == '-':
		case c == ':':
			name := s[:j]
			if j == 0 || !(letter || name == "+1" || name == "-1" || name == "100") {
				return "", 0
			}
			return ":" + name + ":", j + 1
		default:
			return "", 0
		}
	}
	return "", 0
}

// isEmoji covers the pictographic blocks people react with; the table decides which
// of them carry sentiment.
func isEmoji(r rune) bool {
	return (r >= 0x1F000 && r <= 0x1FAFF) || (r >= 0x2600 && r <= 0x27BF) || r == 0x2B50 || r == 0x2B55
}

// emojiModifier runes change how an emoji looks, not what it says.
func emojiModifier(r rune) bool {
	return r == 0xFE0F || r == 0xFE0E || r == 0x200D || (r >= 0x1F3FB && r <= 0x1F3FF)
}

func isElision(w []byte) bool {
	switch string(w) {
	case "c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu":
		return true
	}
	return false
}

// contractionStem turns the part before n't back into a word: "don" → "do", "can" → "can".
func contractionStem(w string) string {
	switch w {
	case "can":
		return "can"
	case "won":
		return "will"
	case "shan":
		return "shall"
	}
	return strings.TrimSuffix(w, "n")
}

func makeToken(w []byte, words map[string]*wordInfo) token {
	if stretched(w) {
		rs := []rune(string(w))
		return token{w: squeeze(rs, 1), alt: squeeze(rs, 2)}
	}
	if info, ok := words[string(w)]; ok {
		return token{w: info.w, info: info}
	}
	if words != nil {
		return token{w: string(w), info: noInfo} // what lookup would find, found once
	}
	return token{w: string(w)}
}

// stretched says w has a letter three times in a row ("suuuper").
func stretched(w []byte) bool {
	ascii := true
	for i, c := range w {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if i >= 2 && c == w[i-1] && c == w[i-2] && (c|0x20 >= 'a' && c|0x20 <= 'z') {
			return true
		}
	}
	if ascii {
		return false
	}
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

// squeeze keeps at most keep copies of each letter repeated three times or more.
func squeeze(rs []rune, keep int) string {
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); {
		j := i
		for j < len(rs) && rs[j] == rs[i] {
			j++
		}
		n := j - i
		if n >= 3 && unicode.IsLetter(rs[i]) {
			n = keep
		}
		for range n {
			out = append(out, rs[i])
		}
		i = j
	}
	return string(out)
}

// toLower is unicode.ToLower with the letters of Latin-1 (most accented letters of
// French) mapped without the case tables: À to Þ but × are the capitals of à to þ,
// and every other rune below U+0100 is its own lowercase, as for unicode.ToLower.
func toLower(r rune) rune {
	switch {
	case r >= 'A' && r <= 'Z', r >= 0xC0 && r <= 0xDE && r != 0xD7:
		return r + 0x20
	case r < 0x100:
		return r
	}
	return unicode.ToLower(r)
}

// fold1 is the first rune fold gives.
func fold1(r rune) rune {
	x, _ := fold(r)
	return x
}

// fold maps a lowercase Latin letter with a diacritic to its base letter(s). A table
// rather than Unicode normalisation keeps the package on the standard library.
func fold(r rune) (rune, rune) {
	if r < 0xC0 {
		return r, 0
	}
	switch r {
	case 'à', 'á', 'â', 'ã', 'ä', 'å', 'ā', 'ă', 'ą':
		return 'a', 0
	case 'æ':
		return 'a', 'e'
	case 'ç', 'ć', 'ĉ', 'ċ', 'č':
		return 'c', 0
	case 'ď', 'đ':
		return 'd', 0
	case 'è', 'é', 'ê', 'ë', 'ē', 'ĕ', 'ė', 'ę', 'ě':
		return 'e', 0
	case 'ĝ', 'ğ', 'ġ', 'ģ':
		return 'g', 0
	case 'ì', 'í', 'î', 'ï', 'ĩ', 'ī', 'ĭ', 'į', 'ı':
		return 'i', 0
	case 'ł', 'ľ', 'ĺ', 'ļ':
		return 'l', 0
	case 'ñ', 'ń', 'ņ', 'ň':
		return 'n', 0
	case 'ò', 'ó', 'ô', 'õ', 'ö', 'ø', 'ō', 'ŏ', 'ő':
		return 'o', 0
	case 'œ':
		return 'o', 'e'
	case 'ŕ', 'ř':
		return 'r', 0
	case 'ś', 'ş', 'š':
		return 's', 0
	case 'ß':
		return 's', 's'
	case 'ţ', 'ť':
		return 't', 0
	case 'ù', 'ú', 'û', 'ü', 'ũ', 'ū', 'ŭ', 'ů', 'ű', 'ų':
		return 'u', 0
	case 'ý', 'ÿ', 'ŷ':
		return 'y', 0
	case 'ź', 'ż', 'ž':
		return 'z', 0
	}
	return r, 0
}
