package sentiment

import (
	"math"
	"strings"
	"testing"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/events"
)

// TestCXDurablesPerReplica: unpartitioned, the contract's durables; partitioned, one pair per
// replica (each replica keeps every signal), with names NATS accepts.
func TestCXDurablesPerReplica(t *testing.T) {
	one := (&Service{cfg: Config{}}).cxConsumers()
	if one[0].Durable != events.DurableSentimentCX || one[1].Durable != events.DurableSentimentSegments {
		t.Errorf("unpartitioned durables %s, %s", one[0].Durable, one[1].Durable)
	}
	a := (&Service{cfg: Config{Partitions: 4, Replica: "node.a 1"}}).cxConsumers()
	b := (&Service{cfg: Config{Partitions: 4, Replica: "node-b"}}).cxConsumers()
	for i := range a {
		if a[i].Durable == b[i].Durable || a[i].Durable == one[i].Durable {
			t.Errorf("replicas share durable %s", a[i].Durable)
		}
		if strings.ContainsAny(a[i].Durable, ". *>") {
			t.Errorf("durable %q holds a character NATS refuses", a[i].Durable)
		}
	}
	if got := a[0].Durable; got != events.DurableSentimentCX+"-node_a_1" {
		t.Errorf("durable %q: dots and spaces must not reach NATS", got)
	}
}

// TestCorrelationEdges: a side that does not vary has no r; perfect correlation gives a
// finite, degenerate interval, never NaN.
func TestCorrelationEdges(t *testing.T) {
	m := sentimentv1.EmployeeMeasure_EMPLOYEE_MEASURE_SENTIMENT
	if c := correlation(m, 0, []float64{1, 1, 1, 1, 1}, []float64{1, 2, 3, 4, 5}); c.Defined || c.Pairs != 5 {
		t.Errorf("constant side: %v", c)
	}
	if c := correlation(m, 0, []float64{1, 2, 3}, []float64{3, 1, 2}); c.Defined || c.Pairs != 3 {
		t.Errorf("three pairs: %v", c)
	}
	c := correlation(m, 1, []float64{1, 2, 3, 4, 5}, []float64{-2, -4, -6, -8, -10})
	if !c.Defined || c.R != -1 || math.IsNaN(c.CiLow) || math.IsNaN(c.CiHigh) || c.CiLow > c.CiHigh {
		t.Errorf("perfect negative correlation: %v", c)
	}
}
