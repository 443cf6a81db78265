package sentiment

import (
	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	"github.com/voix-dev/voix/services/sentiment/internal/analyzer"
)

// confident says whether an analysis may count in the aggregates' scores: its most probable
// class reaches Config.MinConfidence (--min-confidence; 0 counts everything).
func (s *Service) confident(res analyzer.Result) bool {
	p := res.Probabilities
	return max(p.Negative, p.Neutral, p.Positive) >= s.cfg.MinConfidence
}

// countable is what a comment adds to the rollups: commentParts when the analysis is
// confident enough, otherwise only its author's participation in "all dimensions" and the
// dimensions the author tagged, with no score, label or emotion (like a CHOICE answer). The
// comment is still scored and its ItemScored still published. This filter sits before the
// rollups, so a rebuild applies it the same way.
func (s *Service) countable(res analyzer.Result, tagged []commonv1.Dimension) []contribution {
	if !s.confident(res) {
		return []contribution{{dims: tagged}}
	}
	return commentParts(res, tagged)
}

// riskFlags renders the analyzer's risk set for events and responses, in enum order.
func riskFlags(r analyzer.Risk) []commonv1.RiskFlag {
	var out []commonv1.RiskFlag
	for _, f := range r.Flags() {
		switch f {
		case analyzer.Harassment:
			out = append(out, commonv1.RiskFlag_RISK_FLAG_HARASSMENT)
		case analyzer.Quit:
			out = append(out, commonv1.RiskFlag_RISK_FLAG_QUIT)
		case analyzer.Distress:
			out = append(out, commonv1.RiskFlag_RISK_FLAG_DISTRESS)
		case analyzer.Safety:
			out = append(out, commonv1.RiskFlag_RISK_FLAG_SAFETY)
		}
	}
	return out
}
