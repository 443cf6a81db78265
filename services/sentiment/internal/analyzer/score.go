package analyzer

// unit is a scored position: one token, an emoji, or a phrase (idiom or multi-word entry).
type unit struct {
	w         string // token or phrase; "" for a boundary
	val       float64
	sentiment bool // val counts
	fixed     bool // idiom or emoji: modifiers do not apply
	boundary  bool
	emoji     bool
	caps      bool
	irony     bool // an emoji that marks irony
	tok       int  // index of the unit's first token
}

// scored is the outcome of scoring one text, kept per clause and sentence so that
// dimensions get the sentiment of where they are mentioned.
type scored struct {
	total    float64   // contrast-weighted sum with emphasis: the text's raw score
	clause   []float64 // unweighted sum per clause
	sentence []float64 // unweighted sum per sentence
	clauseOf []int     // clause of each token
	sentOf   []int     // sentence of each clause
	muted    []bool    // per token: negated or ironic, so its emotion does not count

	// What the learned model reads (features.go): the units, each one's valence once
	// modified (0 for units that carry no sentiment), whether a negator or "less"
	// reached it, the last contrast word and whether the text reads as ironic.
	units  []unit
	uval   []float64
	uneg   []bool
	pivot  int
	ironic bool

	rules []unitRule // per unit: what it does to the words after it (modify)
}

// unitRule is what one unit does to the sentiment words after it, found once per unit
// rather than once for each word whose window reaches it.
type unitRule struct {
	boost    float64 // boost(prev, w)
	contrast bool    // contrasts(prev, w)
	negates  bool    // negates(prev, w, next, lang)
	lessens  bool    // lessens(prev, w)
}

// unitRules fills rules with the unitRule of each unit. A unit of one token whose
// spelling is in none of the four functions' lists gets the zero unitRule, what they
// return for it.
func unitRules(rules []unitRule, units []unit, toks []token, lang string) []unitRule {
	rules = zeroed(rules, len(units))
	for j, u := range units {
		if u.boundary {
			continue // modify stops there
		}
		if tk := &toks[u.tok]; u.w == tk.w && !tk.may(clsModify) {
			continue
		}
		p := prev(units, j)
		rules[j] = unitRule{boost: boost(p, u.w), contrast: contrasts(p, u.w), negates: negates(p, u.w, next(units, j), lang),
			lessens: lessens(p, u.w)}
	}
	return rules
}

const (
	capsStep          = 0.733 // VADER's C_INCR: a word in capitals amid lowercase is shouted
	neverSoScalar     = 1.25  // VADER's factor for "never so"
	neverAloneValence = -1.0
)

// score runs VADER's rules over the tokens.
func (a *Analyzer) score(t tokenized, primary, secondary *language) scored {
	return a.scoreInto(nil, t, primary, secondary)
}

// scoreInto is score with the slices of the result taken from buf when it is not
// nil: they stay buf's, valid until its next use.
func (a *Analyzer) scoreInto(buf *scored, t tokenized, primary, secondary *language) scored {
	if buf == nil {
		buf = &scored{}
	}
	s := split(buf, t.toks)
	units := a.units(buf.units[:0], t.toks, primary, secondary)
	lang := primary.name
	neverAlone(units)

	// boost(prev, w) > 0 says what boost("", w) > 0 does: prev only decides dampeners.
	rules := unitRules(buf.rules, units, t.toks, lang)

	// A word that is both praise and an intensifier ("super", "bien") intensifies when a
	// sentiment word follows: "super content" is one strong feeling, not two.
	for i := range units[:max(len(units)-1, 0)] {
		if units[i].sentiment && !units[i].emoji && rules[i].boost > 0 && units[i+1].sentiment && !units[i+1].fixed {
			units[i].sentiment = false
		}
	}

	pivot := -1 // last contrast word: the conclusion usually comes last
	for i := range units {
		if rules[i].contrast {
			pivot = i
		}
	}
	ironic := ironic(units)
	allCaps := t.allCaps()
	s.units, s.pivot, s.ironic, s.rules = units, pivot, ironic, rules
	s.uval, s.uneg = zeroed(buf.uval, len(units)), zeroed(buf.uneg, len(units))
	*buf = s

	// modify reads back from a word up to four units, stopping at a boundary, a fixed
	// unit or a contrast word; with no negator, "less" or intensifier (actor) on the way
	// it returns the value as it is, so it is called only when one is.
	actor, stop := -1, -1 // last units of each kind before i
	for i, u := range units {
		lastActor, lastStop := actor, stop
		if r := rules[i]; u.boundary || u.fixed || r.contrast {
			stop = i
		} else if r.negates || r.lessens || r.boost != 0 {
			actor = i
		}
		if u.boundary {
			continue
		}
		negated := false
		v := u.val
		if !u.fixed && lastActor > lastStop && i-lastActor <= len(decayWindow) {
			v, negated = modify(units, rules, i, v)
		}
		flipped := false
		if u.sentiment {
			if u.caps && !allCaps {
				v += sign(v) * capsStep
			}
			if ironic && v > 0 && !u.emoji {
				v, flipped = -v, true
			}
		}
		// An intensifier ("super contente") lends its strength, not its emotion.
		s.muted[u.tok] = flipped || negated || (!u.sentiment && rules[i].boost > 0)
		if !u.sentiment {
			continue
		}
		s.uval[i], s.uneg[i] = v, negated
		c := s.clauseOf[u.tok]
		s.clause[c] += v
		s.sentence[s.sentOf[c]] += v
		switch {
		case pivot < 0:
		case i < pivot:
			v *= contrastLo
		case i > pivot:
			v *= contrastHi
		}
		s.total += v
	}
	if s.total != 0 {
		bangs := min(t.bangs, maxBangs)
		if allCaps {
			bangs = min(bangs+1, maxBangs+1) // a shouted text is one more "!"
		}
		s.total += sign(s.total) * float64(bangs) * bangStep
	}
	return s
}

// split numbers the clauses and sentences of the text: a clause ends at any
// punctuation and before a contrast word, a sentence at . ! ? ; or a new line.
func split(buf *scored, toks []token) scored {
	s := scored{clauseOf: zeroed(buf.clauseOf, len(toks)), muted: zeroed(buf.muted, len(toks)), sentOf: append(buf.sentOf[:0], 0)}
	clause, sentence := 0, 0
	for i, tk := range toks {
		switch {
		case tk.boundary:
			s.clauseOf[i] = clause // the boundary closes its clause
			clause++
			if tk.strong {
				sentence++
			}
			s.sentOf = append(s.sentOf, sentence)
			continue
		case i > 0 && tk.may(clsModify) && contrasts(toks[i-1].w, tk.w): // clsModify holds the cases of contrasts
			clause++
			s.sentOf = append(s.sentOf, sentence)
		}
		s.clauseOf[i] = clause
	}
	s.clause = zeroed(buf.clause, clause+1)
	s.sentence = zeroed(buf.sentence, sentence+1)
	return s
}

// zeroed returns n zero values, in buf when it is large enough.
func zeroed[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

func sign(v float64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}

// emotion finds the emotion cues, words (and phrases) in the text's language first,
// then in the other's, and emoji, skipping negated and ironic ones, and returns the one
// that dominates.
func (a *Analyzer) emotion(toks []token, s scored, primary, secondary *language) Emotion {
	var t tally
	for i := 0; i < len(toks); {
		tk := toks[i]
		switch {
		case tk.boundary:
			i++
			continue
		case tk.emoji:
			if !s.muted[i] {
				t.add(a.emoji[tk.w].emotion, 1)
			}
			i++
			continue
		}
		var e Emotion
		n := 0
		if primary.mayStart(tk, headEmotions) {
			e, n = phraseAt(primary, &primary.emotions, headEmotions, toks[i:])
		}
		if n == 0 && secondary.mayStart(tk, headEmotions) {
			e, n = phraseAt(secondary, &secondary.emotions, headEmotions, toks[i:])
		}
		if n == 0 {
			var ok bool
			if e, ok = primary.emotionToken(tk); !ok {
				e, ok = secondary.emotionExact(tk)
			}
			n = 1
		}
		if !s.muted[i] {
			t.add(e, 1)
		}
		i += n
	}
	return t.dominant()
}

// ironic spots the two forms of sarcasm that survive in short comments: an irony emoji
// (🙃, 🙄), and praise thrown up front then applied to one more of something ("Génial,
// encore une réunion", "Great, another reorg") with no other praise to back it.
func ironic(units []unit) bool {
	if sarcasticFrame(units) {
		return true
	}
	opener := -1
	for i, u := range units {
		if u.irony {
			return true
		}
		if opener < 0 && i < 2 && u.sentiment && u.val > 0 && !u.emoji && i+1 < len(units) && units[i+1].boundary {
			opener = i
		}
	}
	if opener < 0 {
		return false
	}
	repeat := false
	for i := opener + 1; i < len(units); i++ {
		u := units[i]
		if u.sentiment && u.val > 0 && !u.emoji {
			return false
		}
		repeat = repeat || repeats(prev(units, i), u.w, next(units, i))
	}
	return repeat
}

// sarcasticFrame spots praise of the way something happens followed by a complaint:
// "Love how the VPN dies every afternoon", "Great that the lift is broken again",
// "J'adore quand le serveur plante". Praise framed this way ("love how", "j'adore
// quand") is about an event, and when the event is bad the praise is irony.
func sarcasticFrame(units []unit) bool {
	for i := 0; i+1 < len(units) && i < 3; i++ {
		u := units[i]
		if !u.sentiment || u.val <= 0 || u.emoji || !praisesHow(u.w, units[i+1].w) {
			continue
		}
		for _, v := range units[i+2:] {
			if v.sentiment && v.val < 0 && !v.emoji {
				return true
			}
		}
		return false
	}
	return false
}

// praisesHow is a praise word followed by a word that makes it praise of an event.
func praisesHow(w, next string) bool {
	switch w {
	case "love", "loving", "loved", "adore", "aime", "adorer":
		switch next {
		case "how", "that", "when", "it", "quand", "comment", "que", "la", "le", "les":
			return true
		}
	case "great", "nice", "wonderful", "amazing", "fantastic", "brilliant", "genial", "super", "sympa", "top":
		switch next {
		case "how", "that", "que", "comme":
			return true
		}
	}
	return false
}

// repeats marks "one more of the same": encore, de plus (not "de plus en plus", nor
// "de plus," opening a sentence), another, again, one more.
func repeats(prev, w, next string) bool {
	switch w {
	case "encore", "again", "another":
		return true
	case "plus":
		return prev == "de" && next != "en"
	case "more":
		return prev == "one"
	}
	return false
}

// modify applies the intensifiers and negators among the units before i, VADER style,
// stopping at punctuation and at contrast words since they end the clause. VADER looks
// three words back; French puts "pas" before the verb and its object ("je n'ai pas pris
// de vraies vacances"), so the window here is four. It also reports whether the word was
// negated, so its emotion does not count. rules are the units' unitRules.
func modify(units []unit, rules []unitRule, i int, v float64) (float64, bool) {
	negated, lessened := false, false
	decay := &decayWindow
	for k := 1; k <= len(decay) && i-k >= 0; k++ {
		j := i - k
		u, r := &units[j], &rules[j]
		if u.boundary || u.fixed || r.contrast {
			break
		}
		if r.negates {
			if neverSo(units[j+1 : i]) {
				v *= neverSoScalar // "never so good", "jamais aussi bien": more, not less
			} else {
				negated = true // even a sentiment word: "manque de reconnaissance"
			}
		}
		if r.lessens {
			lessened = true
		}
		if u.sentiment {
			continue
		}
		if s := r.boost * decay[k-1]; s != 0 && v != 0 {
			if v < 0 {
				s = -s
			}
			v += s
		}
	}
	switch {
	case negated:
		v *= negScalar
	case lessened:
		v *= lessScalar
	}
	return v, negated || lessened
}

// decayWindow weighs an intensifier by its distance to the word it modifies, one to
// four units back.
var decayWindow = [...]float64{1, 0.95, 0.9, 0.9}

// neverSo says "never"/"jamais" is followed by a comparison ("never so", "jamais
// aussi"), which VADER reads as emphasis.
func neverSo(between []unit) bool {
	for _, u := range between {
		switch u.w {
		case "so", "this", "aussi", "autant", "si":
			return true
		}
	}
	return false
}

// neverAlone turns "never"/"jamais" into a mild complaint when no sentiment word follows
// it in its clause: in workplace comments "we are never told", "il ne répond jamais" are
// reproaches, while "never a problem" keeps the ordinary negation.
func neverAlone(units []unit) {
	for i, u := range units {
		if (u.w != "never" && u.w != "jamais") || prev(units, i) == "que" || prev(units, i) == "than" {
			continue
		}
		alone := true
		for j := i + 1; j < len(units) && j <= i+4; j++ {
			if units[j].boundary || contrasts(prev(units, j), units[j].w) {
				break
			}
			if units[j].sentiment {
				alone = false
				break
			}
		}
		if alone {
			units[i].val, units[i].sentiment, units[i].fixed = neverAloneValence, true, true
		}
	}
}

func prev(units []unit, i int) string {
	if i == 0 {
		return ""
	}
	return units[i-1].w
}

func next(units []unit, i int) string {
	if i+1 >= len(units) {
		return ""
	}
	return units[i+1].w
}

// units groups tokens into idioms and multi-word entries, and looks every word up in
// the text's language first, then in the other one's authored entries, because people
// mix languages ("le burnout", "c'est top, thanks") but VADER's English list holds
// words that mean something else in French ("pain", "dire").
func (a *Analyzer) units(units []unit, toks []token, primary, secondary *language) []unit {
	for i := 0; i < len(toks); {
		tk := toks[i]
		switch {
		case tk.boundary:
			units = append(units, unit{boundary: true, tok: i})
			i++
			continue
		case tk.emoji:
			e, ok := a.emoji[tk.w]
			units = append(units, unit{w: tk.w, val: e.val, sentiment: ok && e.val != 0, fixed: true, emoji: true,
				irony: e.irony, tok: i})
			i++
			continue
		}
		if u, n := phrase(toks[i:], primary, secondary); n > 0 {
			u.tok = i
			units = append(units, u)
			i += n
			continue
		}
		u := unit{w: tk.w, caps: tk.caps, tok: i}
		if v, ok := primary.lexToken(tk); ok {
			u.val, u.sentiment = v, true
		} else if v, ok := secondary.authoredExact(tk); ok {
			u.val, u.sentiment = v, true
		}
		// Zero entries only stop the fallback; pure negators ("no" is -1.2 in VADER)
		// act on the next words instead of scoring themselves.
		u.sentiment = u.sentiment && u.val != 0 && !pureNegator(tk.w)
		units = append(units, u)
		i++
	}
	return units
}

// phrase matches the longest idiom or multi-word lexicon entry at the start of toks
// and returns it with the number of tokens it covers, or 0.
func phrase(toks []token, primary, secondary *language) (unit, int) {
	if toks[0].may(clsIdiom) && idiomHead(toks[0].w) {
		var buf [64]byte
		for n := min(maxIdiomLen, len(toks)); n >= 2; n-- {
			if key, ok := appendKey(buf[:0], toks[:n]); ok {
				if v, ok := idioms[string(key)]; ok {
					return unit{w: string(key), val: v, sentiment: v != 0, fixed: true}, n
				}
			}
		}
	}
	if !primary.mayStart(toks[0], headLex) && !secondary.mayStart(toks[0], headAuth) {
		return unit{}, 0
	}
	if v, n := phraseAt(primary, &primary.lex, headLex, toks); n > 0 {
		return unit{w: joinWords(toks[:n]), val: v, sentiment: v != 0}, n
	}
	if v, n := phraseAt(secondary, &secondary.authored, headAuth, toks); n > 0 {
		return unit{w: joinWords(toks[:n]), val: v, sentiment: v != 0}, n
	}
	return unit{}, 0
}

// dimensions finds the dimensions the text mentions and scores each with the clauses
// that mention it, or their sentences when those clauses carry no sentiment ("Mon
// manager, franchement : top").
func dimensions(toks []token, s scored, primary, secondary *language) []DimensionHit {
	// The clauses mentioning each dimension, as (dimension, clause) pairs in text
	// order, a clause listed once per dimension.
	type mention struct {
		d Dimension
		c int
	}
	var backing [32]mention
	mentions := backing[:0]
	var lastClause [Engagement + 1]int
	for d := range lastClause {
		lastClause[d] = -1
	}
	for i := 0; i < len(toks); {
		tk := toks[i]
		if tk.boundary || tk.emoji {
			i++
			continue
		}
		var d Dimension
		n := 0
		if primary.mayStart(tk, headDims) {
			d, n = phraseAt(primary, &primary.dims, headDims, toks[i:])
		}
		if n == 0 && secondary.mayStart(tk, headDims) {
			d, n = phraseAt(secondary, &secondary.dims, headDims, toks[i:])
		}
		if n == 0 {
			var ok bool
			if d, ok = primary.dimToken(tk); !ok {
				d, ok = secondary.dimExact(tk)
			}
			if ok {
				n = 1
			}
		}
		if n == 0 {
			i++
			continue
		}
		if c := s.clauseOf[i]; lastClause[d] != c {
			lastClause[d] = c
			mentions = append(mentions, mention{d, c})
		}
		i += n
	}
	found := 0
	for d := Meaning; d <= Engagement; d++ {
		if lastClause[d] >= 0 {
			found++
		}
	}
	if found == 0 {
		return nil
	}
	hits := make([]DimensionHit, 0, found)
	for d := Meaning; d <= Engagement; d++ {
		if lastClause[d] < 0 {
			continue
		}
		raw := 0.0
		for _, m := range mentions {
			if m.d == d {
				raw += s.clause[m.c]
			}
		}
		if raw == 0 {
			last := -1
			for _, m := range mentions {
				if m.d != d {
					continue
				}
				if sn := s.sentOf[m.c]; sn != last {
					raw += s.sentence[sn]
					last = sn
				}
			}
		}
		score := normalize(raw)
		hits = append(hits, DimensionHit{Dimension: d, Score: score, Label: labelOf(score)})
	}
	return hits
}

// detect votes with function words and elisions/contractions; too few votes or a tie
// leaves the organisation's language, which is the best guess for "ok" or "top".
func (a *Analyzer) detect(t tokenized) string {
	fr, en := t.fr, t.en
	for _, tk := range t.toks {
		if tk.boundary || tk.emoji {
			continue
		}
		if frenchWord(tk.w) {
			fr++
		}
		if englishWord(tk.w) {
			en++
		}
	}
	switch {
	case fr+en < 2 || fr == en:
		return a.defaultLang
	case fr > en:
		return "fr"
	}
	return "en"
}
