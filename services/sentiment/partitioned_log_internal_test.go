package sentiment

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
)

// TestReleasesOfABigFlushSplitIntoRecordsUnderTheLimit: a flush that releases many trees
// appends several records, each under maxRecord bytes, with every release once and in order.
func TestReleasesOfABigFlushSplitIntoRecordsUnderTheLimit(t *testing.T) {
	var pins []partPin
	for i := range 400 {
		pin := partPin{Tree: treeKey{org: fmt.Sprintf("org%d", i%7), dim: int32(i % 9), win: "week:2026-W47"}.name(), N: uint64(i + 1)}
		for j := range 60 {
			pin.Paths = append(pin.Paths, fmt.Sprintf("org%d/department-%d/team-%d", i%7, j/10, j))
			pin.People = append(pin.People, math.MaxUint32)
			pin.Versions = append(pin.Versions, math.MaxUint64)
		}
		pins = append(pins, pin)
	}
	chunks := chunkPins(pins)
	if len(chunks) < 2 {
		t.Fatalf("%d pins of 60 paths in %d record(s)", len(pins), len(chunks))
	}
	var again []partPin
	for i, c := range chunks {
		data, err := json.Marshal(partData{Pins: c})
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > maxRecord {
			t.Errorf("record %d: %d bytes, over %d", i, len(data), maxRecord)
		}
		again = append(again, c...)
	}
	if !slices.EqualFunc(again, pins, func(a, b partPin) bool { return a.Tree == b.Tree && a.N == b.N }) {
		t.Error("the records do not hold every release once, in order")
	}
	if one := chunkPins(pins[:1]); len(one) != 1 || len(one[0]) != 1 {
		t.Errorf("one release: %d records", len(one))
	}
}
