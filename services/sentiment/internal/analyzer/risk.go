package analyzer

import "strings"

// Risk is a set of the flags HR must never miss in a comment. Each flag comes from its
// own logistic model with a threshold chosen, by cross-validation on the training
// corpus, for high recall: a flag is a prompt to read the comment, not a verdict.
type Risk uint8

// Risk flags.
const (
	Harassment Risk = 1 << iota // harassment or discrimination
	Quit                        // intent to quit
	Distress                    // burnout or distress
	Safety                      // physical safety
)

// riskFlags lists the flags in bit order; their model columns follow the same order.
var riskFlags = [...]Risk{Harassment, Quit, Distress, Safety}

var riskNames = [...]string{"harassment", "quit", "distress", "safety"}

// Has says whether r holds every flag of f.
func (r Risk) Has(f Risk) bool { return r&f == f }

// Flags returns the single flags of r in bit order.
func (r Risk) Flags() []Risk {
	var out []Risk
	for _, f := range riskFlags {
		if r&f != 0 {
			out = append(out, f)
		}
	}
	return out
}

// String lists the flags, comma-separated, or "-" for none (the corpus's notation).
func (r Risk) String() string {
	if r == 0 {
		return "-"
	}
	var b strings.Builder
	for i, f := range riskFlags {
		if r&f == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(riskNames[i])
	}
	if rest := r &^ (Harassment | Quit | Distress | Safety); rest != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString("unknown")
	}
	return b.String()
}

func riskByName(s string) (Risk, bool) {
	for i, n := range riskNames {
		if n == s {
			return riskFlags[i], true
		}
	}
	return 0, false
}
