package analyzer

import (
	"fmt"
	"strconv"
)

// Dimension is a dimension of employee experience (docs/design.md). The numbers are those of
// voix.common.v1.Dimension so the service converts with a cast, without this package
// importing the generated code.
type Dimension int

// Dimensions.
const (
	Meaning     Dimension = 1
	Growth      Dimension = 2
	Connections Dimension = 3
	Image       Dimension = 4
	Ecosystem   Dimension = 5
	Recognition Dimension = 6
	Workload    Dimension = 7
	Engagement  Dimension = 8
)

var dimensionNames = [...]string{"", "meaning", "growth", "connections", "image", "ecosystem", "recognition", "workload", "engagement"}

func (d Dimension) String() string {
	if d >= Meaning && d <= Engagement {
		return dimensionNames[d]
	}
	return "Dimension(" + strconv.Itoa(int(d)) + ")"
}

func dimensionByName(s string) (Dimension, bool) {
	for i, n := range dimensionNames {
		if i > 0 && n == s {
			return Dimension(i), true
		}
	}
	return 0, false
}

func parseDimension(s string) (Dimension, error) {
	d, ok := dimensionByName(s)
	if !ok {
		return 0, fmt.Errorf("dimension %q is not one of meaning, growth, connections, image, ecosystem, recognition, workload, engagement", s)
	}
	return d, nil
}

// DimensionHit is one dimension a comment talks about and how it talks about it: a
// comment can praise the team and complain about the workload in the same breath.
type DimensionHit struct {
	Dimension Dimension
	Score     float64 // sentiment of the clause(s) that mention it, in [-1, 1]
	Label     Label
}
