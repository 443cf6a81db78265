package analyzer

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// This file is the trainer's half of the package: reading the corpus, turning comments
// into feature vectors with the very code Analyze uses, and fitting logistic models.
// Everything is deterministic: no maps are iterated, example order is the corpus order,
// folds come from hashing ids, and every product that feeds a sum is rounded on its own
// (float64(a*b)) so that no CPU fuses it into a multiply-add with different rounding.

// Example is one labelled comment of the corpus.
type Example struct {
	ID    string
	Lang  string // "fr", "en" or "mixed"
	Label Label
	Risks Risk
	Tags  []string
	Text  string
	Group string // minimal pairs share a group, so cross-validation keeps them in one fold

	TrainOnly bool // always in the training folds, never scored: extra data
}

// HasTag says whether the example carries tag.
func (e *Example) HasTag(tag string) bool { return slices.Contains(e.Tags, tag) }

// ReadCorpus reads one corpus file: "#" comment lines, a header line starting with
// "id", then id, lang, label, risk, tags and text, TAB-separated. Consecutive lines
// tagged minimal_pair are grouped two by two.
func ReadCorpus(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "id\t") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			return nil, fmt.Errorf("line %d: want 6 tab-separated fields, got %d", n, len(f))
		}
		ex := Example{ID: f[0], Lang: f[1], Text: f[5], Group: f[0]}
		switch f[1] {
		case "fr", "en", "mixed":
		default:
			return nil, fmt.Errorf("line %d: lang %q is not fr, en or mixed", n, f[1])
		}
		switch f[2] {
		case "negative":
			ex.Label = Negative
		case "neutral":
			ex.Label = Neutral
		case "positive":
			ex.Label = Positive
		default:
			return nil, fmt.Errorf("line %d: label %q", n, f[2])
		}
		if f[3] != "-" {
			for _, name := range strings.Split(f[3], ",") {
				r, ok := riskByName(strings.TrimSpace(name))
				if !ok {
					return nil, fmt.Errorf("line %d: risk %q", n, name)
				}
				ex.Risks |= r
			}
		}
		if f[4] != "-" {
			for _, tag := range strings.Split(f[4], ",") {
				ex.Tags = append(ex.Tags, strings.TrimSpace(tag))
			}
		}
		if k := len(out) - 1; ex.HasTag("minimal_pair") && k >= 0 && out[k].HasTag("minimal_pair") && out[k].Group == out[k].ID &&
			(k == 0 || out[k-1].Group != out[k].ID) {
			ex.Group = out[k].ID
		}
		out = append(out, ex)
	}
	return out, sc.Err()
}

// Fold assigns an example to one of k cross-validation folds by hashing its group,
// so an example keeps its fold as the corpus grows.
func (e *Example) Fold(k int) int { return int(mix(hashString(e.Group), 0x5eed) % uint64(k)) }

// docVec is one comment as sorted, merged features: phase 1 first, then phase 2.
type docVec struct {
	keys   []uint64
	vals   []float32
	phase1 int
}

// vectorize extracts the features of text as Analyze would with lang as the
// language found, and merges repeated keys.
// When blocks is not nil it records the block (blkWords…) of each feature key.
func (a *Analyzer) vectorize(text, lang string, cfg featConfig, blocks map[uint64]uint8) docVec {
	var b fbuf
	stripped := stripMarkup(text)
	t := tokenizeWith(stripped, a.words)
	a.lookup(t.toks)
	a.phase1(&b, cfg, stripped, &t)
	if blocks != nil {
		recordBlocks(blocks, &b, cfg, len(t.toks))
	}
	p1 := mergeSorted(b.keys[:b.phase], b.vals[:b.phase])
	primary, secondary := &a.en, &a.fr
	if lang == "fr" {
		primary, secondary = &a.fr, &a.en
	}
	s := a.score(t, primary, secondary)
	a.phase2(&b, cfg, &t, &s, strings.Contains(stripped, "?"))
	p2 := mergeSorted(b.keys[b.phase:], b.vals[b.phase:])
	if blocks != nil {
		for _, k := range b.keys[b.phase:] {
			if _, ok := blocks[k]; !ok {
				blocks[k] = blkRules
			}
		}
	}
	d := docVec{phase1: len(p1.keys)}
	d.keys = append(p1.keys, p2.keys...)
	d.vals = append(p1.vals, p2.vals...)
	return d
}

// Feature blocks, for the trainer's per-block regularisation and scaling.
const (
	blkBias  = iota // the always-on feature
	blkWords        // word 1-3-grams
	blkChars        // character n-grams of the text (the default fChars recipe)
	blkOther        // scopes, question, intensifiers, emoji, shape, keywords, language cues
	blkRules        // phase 2: the rule engine's score, lexicon hits and words, cues
	nBlocks
)

// recordBlocks notes the block of each phase-1 key of b, which phase1 has just
// written: the bias, the word n-gram block, the character n-gram block, then the
// rest. The sizes are found as phase1 finds them. Character n-grams within words
// (fWordChars) are counted with the rest.
func recordBlocks(blocks map[uint64]uint8, b *fbuf, cfg featConfig, ntoks int) {
	nw := 0
	if cfg.Set&fWords != 0 {
		nw += ntoks
	}
	if cfg.Set&fBigrams != 0 && ntoks > 0 {
		nw += ntoks + 1
	}
	if cfg.Set&fTrigrams != 0 && ntoks > 1 {
		nw += ntoks
	}
	nc := 0
	if cfg.Set&fChars != 0 && cfg.Set&fWordChars == 0 {
		for w := max(cfg.CharMin, 1); w <= cfg.CharMax; w++ {
			nc += max(0, len(b.chars)-w+1)
		}
	}
	for i, k := range b.keys[:b.phase] {
		blk := uint8(blkOther)
		switch {
		case i == 0:
			blk = blkBias
		case i < 1+nw:
			blk = blkWords
		case i < 1+nw+nc:
			blk = blkChars
		}
		if _, ok := blocks[k]; !ok {
			blocks[k] = blk
		}
	}
}

func mergeSorted(keys []uint64, vals []float32) docVec {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		switch {
		case keys[x] < keys[y]:
			return -1
		case keys[x] > keys[y]:
			return 1
		}
		return 0
	})
	var d docVec
	for _, i := range idx {
		if n := len(d.keys); n > 0 && d.keys[n-1] == keys[i] {
			d.vals[n-1] += vals[i]
			continue
		}
		d.keys = append(d.keys, keys[i])
		d.vals = append(d.vals, vals[i])
	}
	return d
}

// vocab maps feature keys to columns of the weight matrix. Columns are in order of
// decreasing document frequency (then key), so the features most comments have sit
// together in memory: fitting is bound by memory access, not arithmetic.
type vocab struct {
	keys   []uint64 // by column
	sorted []uint64 // keys in increasing order
	col    []int32  // column of sorted[i]
}

// buildVocab keeps the keys seen in at least minDF of the documents.
func buildVocab(docs []docVec, minDF int) vocab {
	var all []uint64
	for _, d := range docs {
		all = append(all, d.keys...)
	}
	slices.Sort(all)
	type kdf struct {
		key uint64
		df  int
	}
	var kept []kdf
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j] == all[i] {
			j++
		}
		if j-i >= minDF {
			kept = append(kept, kdf{all[i], j - i})
		}
		i = j
	}
	var v vocab
	for _, k := range kept {
		v.sorted = append(v.sorted, k.key)
	}
	slices.SortStableFunc(kept, func(a, b kdf) int { return b.df - a.df }) // stable: ties keep key order
	v.keys = make([]uint64, len(kept))
	v.col = make([]int32, len(kept))
	for c, k := range kept {
		v.keys[c] = k.key
		i, _ := slices.BinarySearch(v.sorted, k.key)
		v.col[i] = int32(c)
	}
	return v
}

func (v vocab) index(k uint64) int {
	i, ok := slices.BinarySearch(v.sorted, k)
	if !ok {
		return -1
	}
	return int(v.col[i])
}

// csr is a sparse matrix of documents by vocabulary columns.
type csr struct {
	ptr []int
	idx []int32
	val []float32
}

func (v vocab) matrix(docs []docVec, phase1Only bool) csr {
	m := csr{ptr: make([]int, 1, len(docs)+1)}
	for _, d := range docs {
		n := len(d.keys)
		if phase1Only {
			n = d.phase1
		}
		for j := 0; j < n; j++ {
			if c := v.index(d.keys[j]); c >= 0 {
				m.idx = append(m.idx, int32(c))
				m.val = append(m.val, d.vals[j])
			}
		}
		m.ptr = append(m.ptr, len(m.idx))
	}
	return m
}

// lrProblem is L2-regularised logistic regression over k columns per feature: a
// softmax over the first three when soft is set, then independent sigmoids (one
// binary model each, fitted together because one pass over the data serves all).
// Each model's loss is its weighted mean; the bias column is not regularised.
type lrProblem struct {
	x    csr
	k    int
	soft bool
	y    []int     // class of each example, when soft
	w    []float64 // example weights of the softmax
	yb   [][]bool  // per sigmoid: label of each example
	wb   [][]float64
	l2   []float64 // per column
	fl2  []float64 // per feature: a multiplier of l2, or nil for 1
	bias int       // vocabulary column of the always-on feature, or -1

	xt   csr       // x by columns, made on first use
	z, d []float64 // per example and column: scores, then loss derivatives
}

// transpose returns the matrix by columns (feature-major): fitting then reads and
// writes weights in order and scatters into the per-document scores, which are small
// enough to stay in cache.
func (m csr) transpose(cols int) csr {
	t := csr{ptr: make([]int, cols+1), idx: make([]int32, len(m.idx)), val: make([]float32, len(m.val))}
	for _, c := range m.idx {
		t.ptr[c+1]++
	}
	for c := range cols {
		t.ptr[c+1] += t.ptr[c]
	}
	next := slices.Clone(t.ptr[:cols])
	for i := 0; i+1 < len(m.ptr); i++ {
		for j := m.ptr[i]; j < m.ptr[i+1]; j++ {
			c := m.idx[j]
			t.idx[next[c]] = int32(i)
			t.val[next[c]] = m.val[j]
			next[c]++
		}
	}
	return t
}

func (p *lrProblem) eval(theta, grad []float64) float64 {
	k := p.k
	n := len(p.y)
	if !p.soft {
		n = len(p.yb[0])
	}
	if p.xt.ptr == nil {
		p.xt = p.x.transpose(len(theta) / k)
		p.z, p.d = make([]float64, n*k), make([]float64, n*k)
	}
	z, d := p.z, p.d
	clear(z)
	xt := p.xt
	for f := 0; f+1 < len(xt.ptr); f++ {
		row := theta[f*k : f*k+k]
		for j := xt.ptr[f]; j < xt.ptr[f+1]; j++ {
			v := float64(xt.val[j])
			zi := z[int(xt.idx[j])*k:][:k]
			for c, t := range row {
				zi[c] += float64(t * v)
			}
		}
	}
	s0 := 0
	if p.soft {
		s0 = nClasses
	}
	totals := make([]float64, k)
	losses := make([]float64, k)
	for i := range n {
		zi, di := z[i*k:][:k], d[i*k:][:k]
		if p.soft {
			wi := p.w[i]
			m := max(zi[0], zi[1], zi[2])
			e0, e1, e2 := dexp(zi[0]-m), dexp(zi[1]-m), dexp(zi[2]-m)
			sum := e0 + e1 + e2
			y := p.y[i]
			totals[0] += wi
			losses[0] += float64(wi * (dlog(sum) + m - zi[y]))
			di[0], di[1], di[2] = float64(wi*(e0/sum)), float64(wi*(e1/sum)), float64(wi*(e2/sum))
			di[y] -= wi
		}
		for c := s0; c < k; c++ {
			r := c - s0
			wi := p.wb[r][i]
			zz := zi[c]
			yi := 0.0
			if p.yb[r][i] {
				yi = 1
			} else {
				zz = -zz
			}
			totals[c] += wi
			losses[c] += float64(wi * softplus(-zz))
			di[c] = float64(wi * (sigmoid(zi[c]) - yi))
		}
	}
	// Each model's loss is a weighted mean.
	scale := make([]float64, k)
	var loss float64
	for c := range k {
		t := totals[c]
		if p.soft && c < nClasses {
			t = totals[0]
		}
		scale[c] = 1 / t
		if c == 0 || c >= s0 {
			loss += losses[c] * scale[c]
		}
	}
	for f := 0; f+1 < len(xt.ptr); f++ {
		g := grad[f*k : f*k+k]
		clear(g)
		for j := xt.ptr[f]; j < xt.ptr[f+1]; j++ {
			v := float64(xt.val[j])
			di := d[int(xt.idx[j])*k:][:k]
			for c := range g {
				g[c] += float64(di[c] * v)
			}
		}
		t := theta[f*k : f*k+k]
		m := 1.0
		if p.fl2 != nil {
			m = p.fl2[f]
		}
		for c := range g {
			g[c] *= scale[c]
			if f != p.bias {
				l2 := p.l2[c]
				if m != 1 {
					l2 = float64(l2 * m)
				}
				loss += float64(0.5 * float64(l2*float64(t[c]*t[c])))
				g[c] += float64(l2 * t[c])
			}
		}
	}
	return loss
}

// fit minimises the problem with L-BFGS from zero weights.
func (p *lrProblem) fit(dim, maxIter int) []float64 {
	theta := make([]float64, dim*p.k)
	it := lbfgs(p.eval, theta, maxIter, 5, fitTolerance)
	if debugFit != nil {
		debugFit(it)
	}
	return theta
}

// lbfgs minimises f from x in place (Nocedal and Wright, algorithm 7.4, with a
// backtracking Armijo line search).
var debugFit func(iterations int)

func lbfgs(f func(x, g []float64) float64, x []float64, maxIter, m int, tol float64) int {
	n := len(x)
	g, gNew, xNew, d := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	fx := f(x, g)
	var ss, ys [][]float64
	var rho []float64
	alpha := make([]float64, m)
	for it := 0; it < maxIter; it++ {
		copy(d, g)
		for i := len(ss) - 1; i >= 0; i-- {
			alpha[i] = rho[i] * dot(ss[i], d)
			axpy(-alpha[i], ys[i], d)
		}
		gamma := 1.0
		if l := len(ss) - 1; l >= 0 {
			gamma = dot(ss[l], ys[l]) / dot(ys[l], ys[l])
		} else {
			gamma = 1 / math.Sqrt(dot(g, g))
		}
		for j := range d {
			d[j] *= gamma
		}
		for i := range ss {
			beta := rho[i] * dot(ys[i], d)
			axpy(alpha[i]-beta, ss[i], d)
		}
		gd := dot(g, d)
		if !(gd > 0) {
			ss, ys, rho = ss[:0], ys[:0], rho[:0]
			copy(d, g)
			gd = dot(g, g)
		}
		step := 1.0
		var fNew float64
		for ls := 0; ; ls++ {
			for j := range x {
				xNew[j] = x[j] - float64(step*d[j])
			}
			fNew = f(xNew, gNew)
			if fNew <= fx-float64(1e-4*step*gd) || ls == 40 {
				break
			}
			step *= 0.5
		}
		var s, y []float64
		if len(ss) == m {
			s, y = ss[0], ys[0]
			ss, ys, rho = ss[1:], ys[1:], rho[1:]
		} else {
			s, y = make([]float64, n), make([]float64, n)
		}
		for j := range x {
			s[j] = xNew[j] - x[j]
			y[j] = gNew[j] - g[j]
		}
		if sy := dot(s, y); sy > 1e-12 {
			ss, ys, rho = append(ss, s), append(ys, y), append(rho, 1/sy)
		}
		done := math.Abs(fx-fNew) <= tol*max(1, math.Abs(fx))
		copy(x, xNew)
		copy(g, gNew)
		fx = fNew
		if done {
			return it + 1
		}
	}
	return maxIter
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += float64(a[i] * b[i])
	}
	return s
}

func axpy(a float64, x, y []float64) {
	for i := range x {
		y[i] += float64(a * x[i])
	}
}

// dexp is exp with rounding fixed by the code rather than the CPU: math.Exp has
// assembly versions that use fused multiply-adds where the CPU has them.
func dexp(x float64) float64 {
	switch {
	case x > 700:
		x = 700
	case x < -700:
		return 0
	}
	const (
		log2e = 1.44269504088896338700e+00
		ln2hi = 6.93147180369123816490e-01
		ln2lo = 1.90821492927058770002e-10
	)
	k := math.Floor(float64(x*log2e) + 0.5)
	r := float64(x-float64(k*ln2hi)) - float64(k*ln2lo)
	// Taylor series to r^13 on |r| ≤ 0.35: relative error under 1e-16.
	p := 1.0 / 6227020800
	for _, c := range [...]float64{1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320,
		1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1} {
		p = float64(p*r) + c
	}
	return math.Ldexp(p, int(k))
}

// dlog is the natural logarithm with fixed rounding, for the same reason.
func dlog(x float64) float64 {
	if x <= 0 {
		return math.Inf(-1)
	}
	fr, e := math.Frexp(x) // x = fr·2^e, fr in [0.5, 1)
	if fr < math.Sqrt2/2 {
		fr *= 2
		e--
	}
	// log(fr) = 2 atanh(s), s = (fr-1)/(fr+1), |s| ≤ 0.172.
	s := (fr - 1) / (fr + 1)
	s2 := float64(s * s)
	p := 0.0
	for k := 23; k >= 1; k -= 2 {
		p = float64(p*s2) + 1/float64(k)
	}
	const ln2 = 0.693147180559945309417232121458176568
	return float64(2*float64(s*p)) + float64(float64(e)*ln2)
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + dexp(-z))
	}
	e := dexp(z)
	return e / (1 + e)
}

// softplus is log(1+e^z).
func softplus(z float64) float64 {
	if z > 30 {
		return z
	}
	return dlog(1 + dexp(z))
}

// Columns of the weight matrix: three sentiment classes (softmax), four risk flags and
// the language (sigmoids).
const (
	colNeg   = 0
	colRisk  = 3 // first of the four risk columns, in riskFlags order
	colLang  = 7
	nCols    = 8
	nClasses = 3
)

func classOf(l Label) int { return int(l) + 1 }

func labelOfClass(c int) Label { return Label(c - 1) }

// TrainOptions are the trainer's hyperparameters. The zero value of a field means its
// default, the value cross-validation chose.
type TrainOptions struct {
	Features   string  // changes to the default feature recipe, for experiments: "-chars,-trigrams,chars=3-5"
	L2         float64 // sentiment model
	RiskL2     float64 // risk models
	LangL2     float64 // language model
	MinDF      int     // a feature must appear in this many training comments
	MaxIter    int     // L-BFGS iterations per model
	Folds      int     // cross-validation folds
	RiskRecall float64 // recall the risk thresholds aim at on the held-out folds
	RiskWeight float64 // weight of a flagged comment relative to an unflagged one
	Windows    int     // short excerpts per comment added to the language model's data
	Balance    bool    // weight sentiment classes inversely to their frequency
	// BlockL2 multiplies the sentiment and risk models' L2 strength per feature block
	// (blkBias… order; 0 means 1): e.g. stronger for character n-grams, which learn a
	// writer's style, weaker for the rule and lexicon features, which carry over.
	BlockL2 [nBlocks]float64
	// NB, when > 0, scales each feature of the NBBlocks (by default the word and
	// character n-grams and the other phase-1 features) in the sentiment model by its
	// naive-Bayes log-count ratio (Wang and Manning 2012), computed on the training
	// comments of the fit: the largest over the classes of |log(p(f|class)/p(f|other
	// classes))|, document counts with add-one smoothing, divided by its mean over
	// those features, then mixed with 1 as (1-NB) + NB·ratio. The fitted weights are
	// multiplied back by the scale, so the model file and Analyze are unchanged: it
	// acts as a per-feature regularisation, weaker for the features that tell the
	// classes apart. The risk models are then fitted apart, on the features as they
	// are. 0 means the default; a negative value turns it off. Hashed models
	// (featConfig.HashBits) are fitted without it.
	NB float64
	// NBBlocks names the blocks NB scales: "words", "chars", "other" (scope words,
	// question, intensifier, emoji, shape, keyword and language-cue features), "rules"
	// (phase 2), comma-separated; "" means the default.
	NBBlocks string
	// NBPower raises the ratio to this power before it is divided by its mean (0: 1).
	NBPower float64
	Log     io.Writer
}

// defaultTrainOptions are the values cross-validation chose; L2 1e-4 instead of 1e-5
// changed no cross-writer figure (train -xw), and balancing the classes (-balance)
// scored 0.8483 against 0.8494. Naive-Bayes scaling of the phase-1 features (NB 1,
// blocks words, chars and other) raised the cross-writer selection score from 0.8494
// to 0.8674 and the 5-fold accuracy from 0.843 to 0.860 (French) and 0.852 to 0.870
// (English); n-grams alone gave 0.8625, NB 0.5 0.8604, the ratio squared 0.8562,
// and a stronger L2 on character n-grams (BlockL2 ×10) 0.8582 (README.md).
var defaultTrainOptions = TrainOptions{
	L2: 1e-5, RiskL2: 1e-4, LangL2: 1e-4, MinDF: 2, MaxIter: 150, Folds: 5,
	RiskRecall: 0.92, RiskWeight: 8, Windows: 2,
	NB: 1, NBBlocks: "words,chars,other",
}

// DefaultRiskRecall is the recall the risk thresholds aim at by default.
func DefaultRiskRecall() float64 { return defaultTrainOptions.RiskRecall }

func (o TrainOptions) withDefaults() TrainOptions {
	d := defaultTrainOptions
	if o.L2 == 0 {
		o.L2 = d.L2
	}
	if o.RiskL2 == 0 {
		o.RiskL2 = d.RiskL2
	}
	if o.LangL2 == 0 {
		o.LangL2 = d.LangL2
	}
	if o.MinDF == 0 {
		o.MinDF = d.MinDF
	}
	if o.MaxIter == 0 {
		o.MaxIter = d.MaxIter
	}
	if o.Folds == 0 {
		o.Folds = d.Folds
	}
	if o.RiskRecall == 0 {
		o.RiskRecall = d.RiskRecall
	}
	if o.RiskWeight == 0 {
		o.RiskWeight = d.RiskWeight
	}
	if o.Windows == 0 {
		o.Windows = d.Windows
	}
	if o.NB == 0 {
		o.NB = d.NB
	}
	if o.NBBlocks == "" {
		o.NBBlocks = d.NBBlocks
	}
	return o
}

func (o TrainOptions) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format, args...)
	}
}

// parseFeatures applies "-group", "+group" and "chars=a-b" edits to the default recipe.
func parseFeatures(spec string) (featConfig, error) {
	cfg := defaultFeatures
	names := map[string]featureSet{
		"words": fWords, "bigrams": fBigrams, "trigrams": fTrigrams, "chars": fChars, "accents": fAccents,
		"negation": fNegation, "contrast": fContrast, "question": fQuestion, "intens": fIntens, "emoji": fEmoji,
		"shape": fShape, "keywords": fKeywords, "rules": fRules, "lexwords": fLexWords, "wordchars": fWordChars, "cues": fCues,
		"irrealis": fIrrealis, "qscope": fQScope, "last": fLast,
	}
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case strings.HasPrefix(f, "rulegain="):
			if _, err := fmt.Sscanf(f, "rulegain=%d", &cfg.RuleGain); err != nil || cfg.RuleGain < 1 || cfg.RuleGain > 255 {
				return cfg, fmt.Errorf("feature edit %q: want rulegain=1..255", f)
			}
		case strings.HasPrefix(f, "hash="):
			if _, err := fmt.Sscanf(f, "hash=%d", &cfg.HashBits); err != nil || cfg.HashBits < 0 || cfg.HashBits > 26 {
				return cfg, fmt.Errorf("feature edit %q: want hash=0..26", f)
			}
		case strings.HasPrefix(f, "chars="):
			if _, err := fmt.Sscanf(f, "chars=%d-%d", &cfg.CharMin, &cfg.CharMax); err != nil || cfg.CharMin < 1 || cfg.CharMax < cfg.CharMin {
				return cfg, fmt.Errorf("feature edit %q: want chars=min-max", f)
			}
		case f[0] == '-' || f[0] == '+':
			g, ok := names[f[1:]]
			if !ok {
				return cfg, fmt.Errorf("feature group %q unknown", f[1:])
			}
			if f[0] == '-' {
				cfg.Set &^= g
			} else {
				cfg.Set |= g
			}
		default:
			return cfg, fmt.Errorf("feature edit %q: want -group, +group or chars=min-max", f)
		}
	}
	return cfg, nil
}

// trainingData is the corpus as vectors, with the short excerpts the language model
// also learns from.
type trainingData struct {
	cfg     featConfig
	ex      []Example
	docs    []docVec
	win     []docVec         // excerpts of 1–6 words
	winOf   []int            // example each excerpt comes from
	winLang []int            // 1 for French
	block   map[uint64]uint8 // block (blkWords…) of each feature key
}

// prepare vectorizes the corpus. Phase 2 uses the comment's own language (the
// language model is not trained yet; it is right on nearly every full comment).
func (a *Analyzer) prepare(exs []Example, cfg featConfig, windows int) *trainingData {
	d := &trainingData{cfg: cfg, ex: exs, docs: make([]docVec, len(exs)), block: map[uint64]uint8{}}
	for i, ex := range exs {
		lang := ex.Lang
		if lang == "mixed" {
			lang = a.detect(tokenize(stripMarkup(ex.Text)))
		}
		d.docs[i] = a.vectorize(ex.Text, lang, cfg, d.block)
		if ex.Lang == "mixed" {
			continue
		}
		words := strings.Fields(stripMarkup(ex.Text))
		rng := hashString(ex.ID)
		for w := 0; w < windows && len(words) > 0; w++ {
			rng = mix(rng, uint64(w))
			n := 1 + int(rng%6)
			if n > len(words) {
				n = len(words)
			}
			start := int((rng >> 8) % uint64(len(words)-n+1))
			text := strings.Join(words[start:start+n], " ")
			v := a.vectorize(text, ex.Lang, cfg, d.block)
			v.keys, v.vals = v.keys[:v.phase1], v.vals[:v.phase1]
			d.win = append(d.win, v)
			d.winOf = append(d.winOf, i)
			d.winLang = append(d.winLang, boolInt(ex.Lang == "fr"))
		}
	}
	return d
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fitted is one set of trained weights over its own vocabulary.
type fitted struct {
	voc  vocab
	w    []float64 // nCols per vocabulary key
	bits int       // hashed: the vocabulary holds slots (slotOf), which scores looks up
}

// hashDocs keeps, of each document, the features of kept (feature keys seen in
// min-df training comments, as in an unhashed model) and replaces them by their
// slots, merging features that meet in a slot; phase 1 and phase 2 stay apart.
func hashDocs(docs []docVec, kept vocab, bits int) []docVec {
	out := make([]docVec, len(docs))
	var keys []uint64
	var vals []float32
	for i, d := range docs {
		part := func(lo, hi int) docVec {
			keys, vals = keys[:0], vals[:0]
			for j := lo; j < hi; j++ {
				if kept.index(d.keys[j]) >= 0 {
					keys = append(keys, slotOf(d.keys[j], bits))
					vals = append(vals, d.vals[j])
				}
			}
			return mergeSorted(keys, vals)
		}
		p1, p2 := part(0, d.phase1), part(d.phase1, len(d.keys))
		out[i] = docVec{keys: append(p1.keys, p2.keys...), vals: append(p1.vals, p2.vals...), phase1: len(p1.keys)}
	}
	return out
}

// fit trains all columns on the examples where use is true.
func (d *trainingData) fit(use []bool, opt TrainOptions) fitted {
	var docs []docVec
	var cls []int
	for i, u := range use {
		if u {
			docs = append(docs, d.docs[i])
			cls = append(cls, classOf(d.ex[i].Label))
		}
	}
	t0 := time.Now()
	voc := buildVocab(docs, opt.MinDF)
	biasKey := flagKey(flagBias)
	bits := d.cfg.HashBits
	var kept vocab
	if bits > 0 {
		kept = voc
		docs = hashDocs(docs, kept, bits)
		voc = buildVocab(docs, 1)
		biasKey = slotOf(biasKey, bits)
	}
	bias := voc.index(biasKey)
	x := voc.matrix(docs, false)
	opt.logf("vocabulary %d features, %d non-zeros, %v\n", len(voc.keys), len(x.idx), time.Since(t0))
	out := fitted{voc: voc, w: make([]float64, len(voc.keys)*nCols), bits: bits}
	put := func(col, k int, theta []float64) {
		for f := range voc.keys {
			for c := range k {
				out.w[f*nCols+col+c] = theta[f*k+c]
			}
		}
	}

	// Sentiment and risks, one problem.
	n := len(docs)
	w := make([]float64, n)
	var counts [nClasses]float64
	for _, c := range cls {
		counts[c]++
	}
	for i, c := range cls {
		w[i] = 1
		if opt.Balance {
			w[i] = float64(n) / (nClasses * counts[c])
		}
	}
	p := lrProblem{x: x, k: nClasses + len(riskFlags), soft: true, y: cls, w: w, bias: bias}
	var blk []uint8
	if bits == 0 {
		blk = make([]uint8, len(voc.keys))
		for c, key := range voc.keys {
			blk[c] = d.block[key]
		}
		for _, m := range opt.BlockL2 {
			if m != 0 && m != 1 {
				p.fl2 = make([]float64, len(voc.keys))
				for c := range p.fl2 {
					p.fl2[c] = 1
					if m := opt.BlockL2[blk[c]]; m != 0 {
						p.fl2[c] = m
					}
				}
				break
			}
		}
	}
	var nbScale []float64
	nbSet, _ := parseBlocks(opt.NBBlocks)
	if opt.NB > 0 && blk != nil {
		nbScale = nbRatios(x, cls, blk, nbSet, opt.NB, opt.NBPower)
		sx := x
		sx.val = make([]float32, len(x.val))
		for j, c := range x.idx {
			sx.val[j] = float32(float64(x.val[j]) * nbScale[c])
		}
		p.x = sx
	}
	for c := range p.k {
		p.l2 = append(p.l2, opt.L2)
		if c >= nClasses {
			p.l2[c] = opt.RiskL2
		}
	}
	for _, flag := range riskFlags {
		y := make([]bool, 0, n)
		rw := make([]float64, 0, n)
		for i, u := range use {
			if !u {
				continue
			}
			has := d.ex[i].Risks&flag != 0
			y = append(y, has)
			switch {
			case d.ex[i].TrainOnly:
				rw = append(rw, 0) // extra data carries no risk labels
			case has:
				rw = append(rw, opt.RiskWeight)
			default:
				rw = append(rw, 1)
			}
		}
		p.yb, p.wb = append(p.yb, y), append(p.wb, rw)
	}
	if nbScale == nil {
		put(colNeg, p.k, p.fit(len(voc.keys), opt.MaxIter))
	} else {
		// The ratios are the sentiment classes': the risk models are fitted apart,
		// on the features as they are.
		ps := p
		ps.k, ps.l2, ps.yb, ps.wb = nClasses, p.l2[:nClasses], nil, nil
		theta := ps.fit(len(voc.keys), opt.MaxIter)
		for f, sc := range nbScale {
			for c := range nClasses {
				theta[f*nClasses+c] = float64(theta[f*nClasses+c] * sc)
			}
		}
		put(colNeg, nClasses, theta)
		pr := p
		pr.x, pr.k, pr.soft, pr.y, pr.w, pr.l2 = x, len(riskFlags), false, nil, nil, p.l2[nClasses:]
		put(colRisk, pr.k, pr.fit(len(voc.keys), opt.MaxIter))
	}
	opt.logf("sentiment and risks %v\n", time.Since(t0))

	// Language: full comments and excerpts, phase-1 features only.
	var ldocs []docVec
	var ly []int
	for i, u := range use {
		if u && d.ex[i].Lang != "mixed" {
			ldocs = append(ldocs, d.docs[i])
			ly = append(ly, boolInt(d.ex[i].Lang == "fr"))
		}
	}
	for j, src := range d.winOf {
		if use[src] {
			ldocs = append(ldocs, d.win[j])
			ly = append(ly, d.winLang[j])
		}
	}
	lw := make([]float64, len(ldocs))
	lb := make([]bool, len(ldocs))
	for i := range lw {
		lw[i], lb[i] = 1, ly[i] == 1
	}
	if bits > 0 {
		ldocs = hashDocs(ldocs, kept, bits)
	}
	lp := lrProblem{x: voc.matrix(ldocs, true), k: 1, yb: [][]bool{lb}, wb: [][]float64{lw}, l2: []float64{opt.LangL2}, bias: bias}
	put(colLang, 1, lp.fit(len(voc.keys), opt.MaxIter))
	opt.logf("language %v\n", time.Since(t0))
	return out
}

// nbRatios returns a scale per column of x: for the features of the scaled blocks,
// (1-beta) + beta·r/mean(r), r (raised to power, when not 0 or 1) the largest over
// the classes of the absolute log-count ratio of the feature's document frequency in
// the class against the other classes (add-one smoothing, each side normalised by its
// total over those features); 1 for the other blocks.
func nbRatios(x csr, cls []int, blk []uint8, scaled [nBlocks]bool, beta, power float64) []float64 {
	cols := len(blk)
	cnt := make([]float64, cols*nClasses)
	for i := 0; i+1 < len(x.ptr); i++ {
		for j := x.ptr[i]; j < x.ptr[i+1]; j++ {
			cnt[int(x.idx[j])*nClasses+cls[i]]++
		}
	}
	in := func(c int) bool { return scaled[blk[c]] }
	var tot [nClasses]float64
	var all float64
	nf := 0
	for c := range cols {
		if !in(c) {
			continue
		}
		nf++
		for k := range nClasses {
			tot[k] += cnt[c*nClasses+k]
			all += cnt[c*nClasses+k]
		}
	}
	out := make([]float64, cols)
	var sum float64
	for c := range cols {
		if !in(c) {
			continue
		}
		var all1 float64
		for k := range nClasses {
			all1 += cnt[c*nClasses+k]
		}
		r := 0.0
		for k := range nClasses {
			n := cnt[c*nClasses+k]
			p := (n + 1) / (tot[k] + float64(nf))
			q := (all1 - n + 1) / (all - tot[k] + float64(nf))
			r = max(r, math.Abs(dlog(p)-dlog(q)))
		}
		if power > 0 && power != 1 {
			r = math.Pow(r, power)
		}
		out[c] = r
		sum += r
	}
	mean := sum / float64(max(nf, 1))
	for c := range cols {
		if !in(c) || mean == 0 {
			out[c] = 1
			continue
		}
		out[c] = (1 - beta) + float64(beta*(out[c]/mean))
	}
	return out
}

// parseBlocks reads a comma-separated list of feature blocks.
func parseBlocks(spec string) ([nBlocks]bool, error) {
	var set [nBlocks]bool
	names := map[string]int{"words": blkWords, "chars": blkChars, "other": blkOther, "rules": blkRules}
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		b, ok := names[f]
		if !ok {
			return set, fmt.Errorf("feature block %q unknown: want words, chars, other or rules", f)
		}
		set[b] = true
	}
	return set, nil
}

// scores returns the raw column scores of a vector: phase-1 features only for the
// language column.
func (f *fitted) scores(d docVec) [nCols]float64 {
	var z [nCols]float64
	for j, k := range d.keys {
		if f.bits > 0 {
			k = slotOf(k, f.bits)
		}
		i := f.voc.index(k)
		if i < 0 {
			continue
		}
		v := float64(d.vals[j])
		row := f.w[i*nCols : (i+1)*nCols]
		for c := range colLang {
			z[c] += float64(row[c] * v)
		}
		if j < d.phase1 {
			z[colLang] += float64(row[colLang] * v)
		}
	}
	return z
}

// Prediction is what a model says of one comment, before thresholds.
type Prediction struct {
	Probs [nClasses]float64 // negative, neutral, positive
	Risk  [4]float64        // probability of each flag, in riskFlags order
	Lang  float64           // logit of French, before the default-language prior
}

// Label is the most probable class.
func (p Prediction) Label() Label {
	best := 0
	for c := 1; c < nClasses; c++ {
		if p.Probs[c] > p.Probs[best] {
			best = c
		}
	}
	return labelOfClass(best)
}

// labelWith is the most probable class once off is added to the log-probabilities.
func (p Prediction) labelWith(off [nClasses]float64) Label {
	best, bestV := 0, 0.0
	for c := range nClasses {
		v := dlog(max(p.Probs[c], 1e-300)) + off[c]
		if c == 0 || v > bestV {
			best, bestV = c, v
		}
	}
	return labelOfClass(best)
}

func predictionOf(z [nCols]float64) Prediction {
	var p Prediction
	m := max(z[0], z[1], z[2])
	var sum float64
	for c := range nClasses {
		p.Probs[c] = dexp(z[c] - m)
		sum += p.Probs[c]
	}
	for c := range nClasses {
		p.Probs[c] /= sum
	}
	for r := range riskFlags {
		p.Risk[r] = sigmoid(z[colRisk+r])
	}
	p.Lang = z[colLang]
	return p
}

// CVResult holds out-of-fold predictions: each comment scored by the model trained
// on the folds it is not in.
type CVResult struct {
	Examples []Example
	Pred     []Prediction
	Short    []ShortText // excerpts of 1–6 words and their out-of-fold language logits

	Offsets [nClasses]float64 // class offsets Train added to the model's bias, chosen on held-out writers
}

// ShortText is an excerpt used to measure language detection on short texts.
type ShortText struct {
	Text    string
	Lang    string
	Natural bool // a whole comment of 1–6 words, not an excerpt
	Logit   float64
}

// Writer is who wrote the example: the letter in a corpus id ("fr-a-00001" is writer
// a's), or "dev" for the rule engine's old development sets.
func (e *Example) Writer() string {
	if e.TrainOnly {
		return "dev"
	}
	if parts := strings.SplitN(e.ID, "-", 3); len(parts) == 3 {
		return parts[1]
	}
	return "?"
}

// CrossWriter trains on every writer's comments but one, in turn, and predicts the
// comments of the writer left out. It is the model selection criterion: a writer the
// model never read is what the independent sets are, and 5-fold cross-validation,
// which mixes every writer's comments into every fold, overstates it. Predictions of
// train-only examples are kept, since the development sets are a writer of their own;
// they carry no risk labels, which MeasureWriters knows.
func CrossWriter(exs []Example, opt TrainOptions) (*CVResult, error) {
	opt = opt.withDefaults()
	cfg, err := parseFeatures(opt.Features)
	if _, berr := parseBlocks(opt.NBBlocks); err == nil {
		err = berr
	}
	if err != nil {
		return nil, err
	}
	a := newRules("en")
	d := a.prepare(exs, cfg, opt.Windows)
	return d.crossWriter(opt), nil
}

// presentWriters returns the writers of want that wrote some of exs.
func presentWriters(exs []Example, want []string) []string {
	have := writers(exs)
	var out []string
	for _, w := range want {
		if slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

// writers returns the writers of the examples in order of first appearance.
func writers(exs []Example) []string {
	var out []string
	for i := range exs {
		if w := exs[i].Writer(); !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

func (d *trainingData) crossWriter(opt TrainOptions) *CVResult {
	return d.holdOutWriters(opt, writers(d.ex))
}

// holdOutWriters predicts each of the given writers' comments with a model trained on
// everyone else's; the other comments keep a zero prediction.
func (d *trainingData) holdOutWriters(opt TrainOptions, held []string) *CVResult {
	res := &CVResult{Examples: d.ex, Pred: make([]Prediction, len(d.ex))}
	for _, w := range held {
		use := make([]bool, len(d.ex))
		for i := range use {
			use[i] = d.ex[i].Writer() != w
		}
		f := d.fit(use, opt)
		f.w = dequantized(f.w, 8)
		for i := range d.ex {
			if use[i] {
				continue
			}
			res.Pred[i] = predictionOf(f.scores(d.docs[i]))
			if ex := d.ex[i]; ex.Lang != "mixed" && len(strings.Fields(ex.Text)) <= 6 {
				d1 := d.docs[i]
				d1.keys, d1.vals = d1.keys[:d1.phase1], d1.vals[:d1.phase1]
				res.Short = append(res.Short, ShortText{Text: ex.Text, Lang: ex.Lang, Natural: true, Logit: f.scores(d1)[colLang]})
			}
		}
		opt.logf("writer %s held out\n", w)
	}
	return res
}

// CrossValidate trains on all folds but one, in turn, and predicts the one left out.
func CrossValidate(exs []Example, opt TrainOptions) (*CVResult, error) {
	opt = opt.withDefaults()
	cfg, err := parseFeatures(opt.Features)
	if _, berr := parseBlocks(opt.NBBlocks); err == nil {
		err = berr
	}
	if err != nil {
		return nil, err
	}
	a := newRules("en")
	d := a.prepare(exs, cfg, opt.Windows)
	return d.crossValidate(opt), nil
}

func (d *trainingData) crossValidate(opt TrainOptions) *CVResult {
	res := &CVResult{Examples: d.ex, Pred: make([]Prediction, len(d.ex))}
	fold := make([]int, len(d.ex))
	for i := range d.ex {
		fold[i] = d.ex[i].Fold(opt.Folds)
	}
	for k := range opt.Folds {
		use := make([]bool, len(d.ex))
		for i := range use {
			use[i] = fold[i] != k || d.ex[i].TrainOnly
		}
		f := d.fit(use, opt)
		f.w = dequantized(f.w, 8) // predict as the shipped model does, with 8-bit weights
		for i := range d.ex {
			if fold[i] == k && !d.ex[i].TrainOnly {
				res.Pred[i] = predictionOf(f.scores(d.docs[i]))
				if ex := d.ex[i]; ex.Lang != "mixed" && len(strings.Fields(ex.Text)) <= 6 {
					d1 := d.docs[i]
					d1.keys, d1.vals = d1.keys[:d1.phase1], d1.vals[:d1.phase1]
					res.Short = append(res.Short, ShortText{Text: ex.Text, Lang: ex.Lang, Natural: true, Logit: f.scores(d1)[colLang]})
				}
			}
		}
		for j, src := range d.winOf {
			if fold[src] == k && !d.ex[src].TrainOnly {
				res.Short = append(res.Short, ShortText{Lang: d.ex[src].Lang, Logit: f.scores(d.win[j])[colLang]})
			}
		}
		opt.logf("fold %d/%d done\n", k+1, opt.Folds)
	}
	// Train-only examples were never scored.
	kept := &CVResult{Short: res.Short}
	for i, ex := range res.Examples {
		if !ex.TrainOnly {
			kept.Examples = append(kept.Examples, ex)
			kept.Pred = append(kept.Pred, res.Pred[i])
		}
	}
	return kept
}

// ReadTrainingCorpus reads every train_*.tsv file of dir, in name order. The test
// split (test_*.tsv) is never read here.
func ReadTrainingCorpus(dir string) ([]Example, error) {
	names, err := filepath.Glob(filepath.Join(dir, "train_*.tsv"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var out []Example
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		exs, err := ReadCorpus(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, exs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no training comments", dir)
	}
	return out, nil
}

// fitTolerance stops L-BFGS when an iteration improves the loss by less than this
// fraction: tighter changed no cross-validated figure and cost minutes.
var fitTolerance = 1e-5

// CorpusSum is the SHA-256 of the examples as the trainer reads them (file comments
// and layout aside): the model file records it, so a test can tell a model trained on
// another corpus.
func CorpusSum(exs []Example) [32]byte {
	h := sha256.New()
	for _, ex := range exs {
		fmt.Fprintf(h, "%s\t%s\t%d\t%d\t%s\t%s\n", ex.ID, ex.Lang, ex.Label, ex.Risks, strings.Join(ex.Tags, ","), ex.Text)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// Train cross-validates on exs, to choose the risk thresholds and the language prior
// and to report, then fits every column on all of exs and returns the model file.
func Train(exs []Example, opt TrainOptions) ([]byte, *CVResult, error) {
	opt = opt.withDefaults()
	cfg, err := parseFeatures(opt.Features)
	if _, berr := parseBlocks(opt.NBBlocks); err == nil {
		err = berr
	}
	if err != nil {
		return nil, nil, err
	}
	a := newRules("en")
	d := a.prepare(exs, cfg, opt.Windows)
	cv := d.crossValidate(opt)
	th := cv.RiskThresholds(opt.RiskRecall)
	prior := choosePrior(cv.Short)
	// The class priors a writer the model never read needs, from the writers whose
	// language the others cover (see calibrationWriters).
	var off [nClasses]float64
	if held := presentWriters(exs, calibrationWriters); len(held) > 0 {
		xw := d.holdOutWriters(opt, held)
		off, _, _ = xw.ClassOffsets(held)
		cv.Offsets = off
	}

	use := make([]bool, len(exs))
	for i := range use {
		use[i] = true
	}
	f := d.fit(use, opt)
	biasKey := flagKey(flagBias)
	if cfg.HashBits > 0 {
		biasKey = slotOf(biasKey, cfg.HashBits)
	}
	if b := f.voc.index(biasKey); b >= 0 {
		for c := range nClasses {
			f.w[b*nCols+c] += off[c]
		}
	}
	mf := modelFile{cfg: cfg, prior: float32(prior), comments: uint32(len(exs)), corpusSum: CorpusSum(exs)}
	for i := range th {
		mf.thresholds[i] = float32(th[i])
	}
	// Rows in increasing key order.
	w := make([]float64, 0, len(f.w))
	for i := range f.voc.sorted {
		c := int(f.voc.col[i])
		w = append(w, f.w[c*nCols:(c+1)*nCols]...)
	}
	mf.keys = f.voc.sorted
	mf.scale, mf.w = quantize(w)
	data, err := mf.encode()
	return data, cv, err
}

// ModelSum is the text of model.sum: the checksums of a model file and of the corpus
// it was trained on, which the tests compare when retraining would take too long.
func ModelSum(model []byte, exs []Example) string {
	return fmt.Sprintf("# written by go run ./services/sentiment/internal/analyzer/train; do not edit\n"+
		"model.bin.gz sha256 %x\ncorpus sha256 %x comments %d\n", sha256.Sum256(model), CorpusSum(exs), len(exs))
}

// dequantized rounds weights to the given bits per column, as quantize does.
func dequantized(w []float64, bits int) []float64 {
	top := float64(int(1)<<(bits-1) - 1)
	var maxAbs [nCols]float64
	for i, x := range w {
		maxAbs[i%nCols] = max(maxAbs[i%nCols], math.Abs(x))
	}
	out := make([]float64, len(w))
	for i, x := range w {
		s := maxAbs[i%nCols] / top
		if s > 0 {
			out[i] = math.Round(x/s) * s
		}
	}
	return out
}

// ReadDevSet reads the rule engine's old development set format (lang, label,
// dimensions, text), as train-only examples.
func ReadDevSet(r io.Reader, name string) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
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
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want 4 fields", n)
		}
		ex := Example{ID: fmt.Sprintf("%s-%d", name, n), Lang: f[0], Text: f[3], TrainOnly: true}
		ex.Group = ex.ID
		switch f[1] {
		case "negative":
			ex.Label = Negative
		case "neutral":
			ex.Label = Neutral
		case "positive":
			ex.Label = Positive
		default:
			return nil, fmt.Errorf("line %d: label %q", n, f[1])
		}
		out = append(out, ex)
	}
	return out, sc.Err()
}

// ReadTrainingData reads everything the model is trained on, given the package
// directory: corpus/train_*.tsv, and the rule engine's old development sets
// (testdata/devset_*.tsv), which add a third writer's style to the sentiment and
// language models (they carry no risk labels, so the risk models skip them).
// testdata/heldout.tsv stays out: it remains a held-out set.
func ReadTrainingData(dir string) ([]Example, error) {
	exs, err := ReadTrainingCorpus(filepath.Join(dir, "corpus"))
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"devset_fr.tsv", "devset_en.tsv"} {
		f, err := os.Open(filepath.Join(dir, "testdata", name))
		if err != nil {
			return nil, err
		}
		dev, err := ReadDevSet(f, name)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		exs = append(exs, dev...)
	}
	return exs, nil
}

// Feature blocks, as TrainOptions.BlockL2 indexes them.
const (
	BlockWords = blkWords
	BlockChars = blkChars
	BlockOther = blkOther
	BlockRules = blkRules
)
