package analyzer

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
)

// Quality is three-class agreement with gold labels.
type Quality struct {
	N        int
	Accuracy float64
	MacroF1  float64
}

func (q Quality) String() string {
	return fmt.Sprintf("n=%4d accuracy=%.3f macro-F1=%.3f", q.N, q.Accuracy, q.MacroF1)
}

// Measure compares predicted labels with gold ones. Macro-F1 averages the F1 of the
// classes present in gold or predictions.
func Measure(gold, got []Label) Quality {
	q := Quality{N: len(gold)}
	if len(gold) == 0 {
		return q
	}
	var tp, fp, fn [nClasses]int
	correct := 0
	for i := range gold {
		g, p := classOf(gold[i]), classOf(got[i])
		if g == p {
			correct++
			tp[g]++
			continue
		}
		fp[p]++
		fn[g]++
	}
	q.Accuracy = float64(correct) / float64(len(gold))
	var sum float64
	n := 0
	for c := range nClasses {
		if d := 2*tp[c] + fp[c] + fn[c]; d > 0 {
			sum += 2 * float64(tp[c]) / float64(d)
			n++
		}
	}
	q.MacroF1 = sum / float64(n)
	return q
}

// RiskQuality is one flag's recall and precision.
type RiskQuality struct {
	Flag                     Risk
	Positives, TP, FP        int
	Recall, Precision, Share float64 // Share: of all comments, how many are flagged
}

func (r RiskQuality) String() string {
	return fmt.Sprintf("%-10s positives=%3d recall=%.3f precision=%.3f flagged=%.3f", r.Flag, r.Positives, r.Recall, r.Precision, r.Share)
}

// MeasureRisk compares flags with gold flags for one flag.
func MeasureRisk(flag Risk, gold, got []Risk) RiskQuality {
	q := RiskQuality{Flag: flag}
	flagged := 0
	for i := range gold {
		g, p := gold[i]&flag != 0, got[i]&flag != 0
		if g {
			q.Positives++
		}
		if p {
			flagged++
			if g {
				q.TP++
			} else {
				q.FP++
			}
		}
	}
	if q.Positives > 0 {
		q.Recall = float64(q.TP) / float64(q.Positives)
	}
	if flagged > 0 {
		q.Precision = float64(q.TP) / float64(flagged)
	}
	if len(gold) > 0 {
		q.Share = float64(flagged) / float64(len(gold))
	}
	return q
}

// recallThreshold returns the highest probability threshold that keeps recall at or
// above target over the flagged examples' probabilities.
func recallThreshold(pos []float64, target float64) float64 {
	if len(pos) == 0 {
		return 0.5
	}
	s := slices.Clone(pos)
	slices.Sort(s)
	miss := int(float64(len(s)) * (1 - target)) // may miss this many
	if miss >= len(s) {
		miss = len(s) - 1
	}
	return s[miss]
}

// Group is a subset of examples by language and tag, for reports.
type Group struct {
	Lang, Tag string // "" for all
}

func (g Group) String() string {
	l, t := g.Lang, g.Tag
	if l == "" {
		l = "all"
	}
	if t == "" {
		t = "all"
	}
	return l + "/" + t
}

func (g Group) has(ex *Example) bool {
	return (g.Lang == "" || ex.Lang == g.Lang) && (g.Tag == "" || ex.HasTag(g.Tag))
}

// ReportTags are the tags quality is broken down by.
var ReportTags = []string{"negation", "contrast", "sarcasm_marked", "sarcasm_unmarked", "question", "pay",
	"praise_person", "neutral_info", "short", "long", "markup", "emoji", "typo", "no_accent", "franglais", "minimal_pair"}

// MeasureGroups measures labels by language and by tag.
func MeasureGroups(exs []Example, got []Label) map[Group]Quality {
	out := map[Group]Quality{}
	var groups []Group
	for _, l := range []string{"", "fr", "en", "mixed"} {
		groups = append(groups, Group{Lang: l})
		for _, t := range ReportTags {
			groups = append(groups, Group{Lang: l, Tag: t})
		}
	}
	for _, g := range groups {
		var gold, pred []Label
		for i := range exs {
			if g.has(&exs[i]) {
				gold = append(gold, exs[i].Label)
				pred = append(pred, got[i])
			}
		}
		if len(gold) > 0 {
			out[g] = Measure(gold, pred)
		}
	}
	return out
}

// WriteReport prints a group breakdown in a stable order.
func WriteReport(w io.Writer, m map[Group]Quality) {
	var keys []Group
	for g := range m {
		keys = append(keys, g)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Lang != keys[j].Lang {
			return keys[i].Lang < keys[j].Lang
		}
		return keys[i].Tag < keys[j].Tag
	})
	for _, g := range keys {
		fmt.Fprintf(w, "  %-24s %v\n", g, m[g])
	}
}

// LangAccuracy is language detection accuracy for one default language.
func LangAccuracy(short []ShortText, natural bool, prior float64, defaultLang string) (int, float64) {
	n, ok := 0, 0
	for _, s := range short {
		if s.Natural != natural {
			continue
		}
		n++
		if langFromLogit(s.Logit, prior, defaultLang) == s.Lang {
			ok++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return n, float64(ok) / float64(n)
}

func langFromLogit(logit, prior float64, defaultLang string) string {
	if defaultLang == "fr" {
		logit += prior
	} else {
		logit -= prior
	}
	if logit > 0 {
		return "fr"
	}
	return "en"
}

// choosePrior picks the default-language prior that maximises short-text accuracy,
// averaged over both defaults, from a grid.
func choosePrior(short []ShortText) float64 {
	best, bestAcc := 0.0, -1.0
	for i := 0; i <= 40; i++ {
		p := float64(i) * 0.25
		var acc float64
		for _, d := range []string{"fr", "en"} {
			_, a1 := LangAccuracy(short, true, p, d)
			_, a2 := LangAccuracy(short, false, p, d)
			acc += a1 + a2
		}
		if acc > bestAcc+1e-12 {
			best, bestAcc = p, acc
		}
	}
	return best
}

// Summary writes the cross-validation report.
func (r *CVResult) Summary(w io.Writer) {
	got := make([]Label, len(r.Pred))
	for i, p := range r.Pred {
		got[i] = p.Label()
	}
	fmt.Fprintln(w, "sentiment, out of fold:")
	m := MeasureGroups(r.Examples, got)
	for _, l := range []string{"", "fr", "en", "mixed"} {
		if q, ok := m[Group{Lang: l}]; ok {
			fmt.Fprintf(w, "  %-24s %v\n", Group{Lang: l}, q)
		}
	}
	for _, t := range ReportTags {
		if q, ok := m[Group{Tag: t}]; ok {
			fmt.Fprintf(w, "  %-24s %v\n", Group{Tag: t}, q)
		}
	}
	th := r.RiskThresholds(defaultTrainOptions.RiskRecall)
	fmt.Fprintf(w, "risk flags, out of fold, thresholds chosen on the same predictions (optimistic):\n")
	for i, f := range riskFlags {
		gold := make([]Risk, len(r.Pred))
		flags := make([]Risk, len(r.Pred))
		for j, p := range r.Pred {
			gold[j] = r.Examples[j].Risks
			if p.Risk[i] >= th[i] {
				flags[j] = f
			}
		}
		fmt.Fprintf(w, "  %v threshold=%.4f\n", MeasureRisk(f, gold, flags), th[i])
	}
	fmt.Fprintf(w, "class offsets added to the model (chosen on held-out writers %v): negative %+.2f positive %+.2f\n",
		calibrationWriters, r.Offsets[0], r.Offsets[2])
	prior := choosePrior(r.Short)
	fmt.Fprintf(w, "language, out of fold, prior %.2f:\n", prior)
	for _, nat := range []bool{true, false} {
		for _, d := range []string{"fr", "en"} {
			n, acc := LangAccuracy(r.Short, nat, prior, d)
			kind := "excerpts of 1-6 words"
			if nat {
				kind = "comments of 1-6 words"
			}
			fmt.Fprintf(w, "  %-22s default %s: n=%d accuracy=%.3f\n", kind, d, n, acc)
		}
	}
}

// WriterSummary writes the cross-writer report (CrossWriter): quality per writer and
// language, per tag over every writer, the risk flags at the thresholds that reach
// recall on these predictions (development-set comments, which carry no risk labels,
// left out), and the selection score: the mean macro-F1 over (writer, language) cells
// of French or English.
func (r *CVResult) WriterSummary(w io.Writer, recall float64) {
	got := r.Labels()
	fmt.Fprintln(w, "sentiment, each writer predicted by a model trained on the others:")
	var sum float64
	cells := 0
	for _, wr := range writers(r.Examples) {
		var exs []Example
		var lab []Label
		for i := range r.Examples {
			if r.Examples[i].Writer() == wr {
				exs = append(exs, r.Examples[i])
				lab = append(lab, got[i])
			}
		}
		m := MeasureGroups(exs, lab)
		for _, l := range []string{"fr", "en", "mixed"} {
			if q, ok := m[Group{Lang: l}]; ok {
				fmt.Fprintf(w, "  writer %-4s %-6s %v\n", wr, l, q)
				if l != "mixed" {
					sum += q.MacroF1
					cells++
				}
			}
		}
	}
	m := MeasureGroups(r.Examples, got)
	for _, l := range []string{"", "fr", "en"} {
		fmt.Fprintf(w, "  %-24s %v\n", Group{Lang: l}, m[Group{Lang: l}])
	}
	for _, t := range ReportTags {
		if q, ok := m[Group{Tag: t}]; ok {
			fmt.Fprintf(w, "  %-24s %v\n", Group{Tag: t}, q)
		}
	}
	var conf [nClasses][nClasses]int
	for i := range r.Examples {
		conf[classOf(r.Examples[i].Label)][classOf(got[i])]++
	}
	fmt.Fprintf(w, "  confusion (rows gold negative/neutral/positive, columns predicted): %v\n", conf)
	th := r.RiskThresholds(recall)
	fmt.Fprintf(w, "risk flags, thresholds for recall %.2f on the same predictions:\n", recall)
	for i, f := range riskFlags {
		var gold, flags []Risk
		for j, p := range r.Pred {
			if r.Examples[j].TrainOnly {
				continue
			}
			gold = append(gold, r.Examples[j].Risks)
			var fl Risk
			if p.Risk[i] >= th[i] {
				fl = f
			}
			flags = append(flags, fl)
		}
		fmt.Fprintf(w, "  %v threshold=%.4f\n", MeasureRisk(f, gold, flags), th[i])
	}
	r.gatedRiskSummary(w, th)
	fmt.Fprintf(w, "selection score (mean macro-F1 of writer×language cells): %.4f\n", sum/float64(max(cells, 1)))
	off, before, after := r.ClassOffsets(calibrationWriters)
	fmt.Fprintf(w, "class offsets chosen on writers %v: negative %+.2f positive %+.2f (neutral 0): balanced accuracy %.4f -> %.4f\n",
		calibrationWriters, off[0], off[2], before, after)
}

// calibrationWriters are the writers whose held-out predictions choose the class
// offsets: the ones whose language is fully represented when they are held out (the
// other writers are the only ones in their language, so a model without them is a
// poor, skewed model of it).
var calibrationWriters = []string{"d", "dev"}

// calibrationMargin is the gain in mean balanced accuracy a class offset must bring.
const calibrationMargin = 0.01

// ClassOffsets chooses offsets added to the negative and positive logits (neutral's
// stays 0) that maximise the mean balanced accuracy (the mean of the per-class
// recalls, which does not depend on how many comments of each class a writer wrote)
// over (writer, language) cells of the given writers' predictions, from a grid of
// steps of 0.1 in [-1, 1]: the correction of the class priors a writer the model never
// read needs. It returns the offsets and the mean balanced accuracy without and with
// them.
func (r *CVResult) ClassOffsets(writerSet []string) (off [nClasses]float64, before, after float64) {
	type cell struct {
		exs  []Example
		pred []Prediction
	}
	var cells []cell
	for _, wr := range writerSet {
		for _, l := range []string{"fr", "en"} {
			var c cell
			for i := range r.Examples {
				if r.Examples[i].Writer() == wr && r.Examples[i].Lang == l {
					c.exs = append(c.exs, r.Examples[i])
					c.pred = append(c.pred, r.Pred[i])
				}
			}
			if len(c.exs) > 0 {
				cells = append(cells, c)
			}
		}
	}
	if len(cells) == 0 {
		return off, 0, 0
	}
	score := func(o [nClasses]float64) float64 {
		var sum float64
		for _, c := range cells {
			gold := make([]Label, len(c.exs))
			got := make([]Label, len(c.exs))
			for i, p := range c.pred {
				gold[i] = c.exs[i].Label
				got[i] = p.labelWith(o)
			}
			sum += balancedAccuracy(gold, got)
		}
		return sum / float64(len(cells))
	}
	before = score(off)
	after = before
	for i := -10; i <= 10; i++ {
		for j := -10; j <= 10; j++ {
			o := [nClasses]float64{float64(i) / 10, 0, float64(j) / 10}
			// Better by a clear margin, and ties go to the smaller shift: a noisy gain
			// is no reason to move the priors. (With a margin of 0.002 the choice
			// swung from no shift to -0.3 on positive when 12 comments were added,
			// and misread "il n'y a pas de problème": noise.)
			if s := score(o); s > after+calibrationMargin || (s > after-1e-12 && math.Abs(o[0])+math.Abs(o[2]) < math.Abs(off[0])+math.Abs(off[2]) && s >= after) {
				off, after = o, s
			}
		}
	}
	return off, before, after
}

// RiskThresholds returns, per flag, the threshold reaching the target recall on the
// out-of-fold predictions.
func (r *CVResult) RiskThresholds(target float64) [4]float64 {
	var th [4]float64
	for i, f := range riskFlags {
		var pos []float64
		for j, p := range r.Pred {
			if r.Examples[j].Risks&f != 0 {
				pos = append(pos, p.Risk[i])
			}
		}
		th[i] = recallThreshold(pos, target)
	}
	return th
}

// Labels returns the out-of-fold labels.
func (r *CVResult) Labels() []Label {
	got := make([]Label, len(r.Pred))
	for i, p := range r.Pred {
		got[i] = p.Label()
	}
	return got
}

func langName(fr bool) string {
	if fr {
		return "fr"
	}
	return "en"
}

var _ = strings.Fields

// balancedAccuracy is the mean recall of the classes present in gold.
func balancedAccuracy(gold, got []Label) float64 {
	var n, hit [nClasses]int
	for i := range gold {
		c := classOf(gold[i])
		n[c]++
		if got[i] == gold[i] {
			hit[c]++
		}
	}
	var sum float64
	k := 0
	for c := range nClasses {
		if n[c] > 0 {
			sum += float64(hit[c]) / float64(n[c])
			k++
		}
	}
	return sum / float64(max(k, 1))
}

// gatedRiskSummary writes precision and recall of each flag at thresholds th with
// the gate Analyze applies (riskGateNegative) and others around it: a flag stands
// when the comment reads negative with at least the gate's probability or names the
// risk outside a negation.
func (r *CVResult) gatedRiskSummary(w io.Writer, th [4]float64) {
	a := newRules("en")
	cues := make([]Risk, len(r.Examples))
	for j := range r.Examples {
		if !r.Examples[j].TrainOnly {
			cues[j] = a.textRiskCues(r.Examples[j].Text)
		}
	}
	for _, gate := range []float64{0.1, riskGateNegative, 0.3, 0.4, 0.5} {
		fmt.Fprintf(w, "risk flags gated at P(negative) >= %.2f or a keyword outside negation:\n", gate)
		for i, f := range riskFlags {
			var gold, flags []Risk
			for j, p := range r.Pred {
				if r.Examples[j].TrainOnly {
					continue
				}
				gold = append(gold, r.Examples[j].Risks)
				var raw Risk
				if p.Risk[i] >= th[i] {
					raw = f
				}
				flags = append(flags, gateRisks(raw, p.Probs[0], cues[j], gate))
			}
			fmt.Fprintf(w, "  %v\n", MeasureRisk(f, gold, flags))
		}
	}
}
