package pulse

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

func TestSlotFollowsWallClock(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatalf("load Europe/Paris: %v", err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("load America/New_York: %v", err)
	}
	for _, tc := range []struct {
		name    string
		cadence pulsev1.Cadence
		tz      string
		first   time.Time
		n       uint32
		want    time.Time
	}{
		{"weekly, wave 1", pulsev1.Cadence_CADENCE_WEEKLY, "Europe/Paris", time.Date(2026, 3, 23, 9, 0, 0, 0, paris), 1, time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)},
		// Summer time starts on 29 March 2026: 9:00 in Paris is 7:00 UTC from then on.
		{"weekly, across spring DST", pulsev1.Cadence_CADENCE_WEEKLY, "Europe/Paris", time.Date(2026, 3, 23, 9, 0, 0, 0, paris), 2, time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)},
		{"weekly in UTC ignores DST", pulsev1.Cadence_CADENCE_WEEKLY, "", time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC), 2, time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC)},
		{"biweekly, across autumn DST", pulsev1.Cadence_CADENCE_BIWEEKLY, "Europe/Paris", time.Date(2026, 10, 19, 9, 0, 0, 0, paris), 2, time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)},
		{"monthly, across autumn DST", pulsev1.Cadence_CADENCE_MONTHLY, "Europe/Paris", time.Date(2026, 10, 5, 9, 0, 0, 0, paris), 2, time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC)},
		{"monthly from the 31st, February", pulsev1.Cadence_CADENCE_MONTHLY, "Europe/Paris", time.Date(2026, 1, 31, 9, 0, 0, 0, paris), 2, time.Date(2026, 2, 28, 8, 0, 0, 0, time.UTC)},
		{"monthly from the 31st, March", pulsev1.Cadence_CADENCE_MONTHLY, "Europe/Paris", time.Date(2026, 1, 31, 9, 0, 0, 0, paris), 3, time.Date(2026, 3, 31, 7, 0, 0, 0, time.UTC)},
		{"monthly over a year end", pulsev1.Cadence_CADENCE_MONTHLY, "America/New_York", time.Date(2026, 11, 30, 9, 0, 0, 0, ny), 4, time.Date(2027, 2, 28, 14, 0, 0, 0, time.UTC)},
		{"once", pulsev1.Cadence_CADENCE_ONCE, "Europe/Paris", time.Date(2026, 3, 23, 9, 0, 0, 0, paris), 1, time.Date(2026, 3, 23, 8, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sv := &pulsev1.Survey{Cadence: tc.cadence, Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(tc.first), TimeZone: tc.tz}}
			if got := slot(sv, tc.n); !got.Equal(tc.want) {
				t.Fatalf("slot(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

func TestRotationAsksLeastRecentFirst(t *testing.T) {
	q := func(id string, always bool, nth uint32) *pulsev1.Question {
		return &pulsev1.Question{Id: id, Always: always, EveryNthWave: nth}
	}
	sv := &pulsev1.Survey{
		Cadence: pulsev1.Cadence_CADENCE_WEEKLY,
		Schedule: &pulsev1.Schedule{FirstOpensAt: timestamppb.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
			ResponseWindow: durationpb.New(48 * time.Hour)},
		Questions: []*pulsev1.Question{
			q("a", false, 0), q("enps", true, 0), q("b", false, 0), q("c", false, 0), q("quarterly", true, 3), q("d", false, 0), q("e", false, 0),
		},
		QuestionsPerWave: 2,
	}
	// Ties among equally stale questions go in the bank's order.
	want := [][]string{
		{"a", "enps", "b", "quarterly"}, // never asked: a, b
		{"enps", "c", "d"},              // never asked: c, d
		{"a", "enps", "e"},              // e never asked, then a (wave 1) before b (wave 1)
		{"enps", "b", "c", "quarterly"}, // b (wave 1), c (wave 2); quarterly every 3rd wave
		{"a", "enps", "d"},              // d (wave 2), a (wave 3) before e (wave 3)
	}
	for n := uint32(1); n <= 5; n++ {
		w := planWave(sv, n)
		if !slices.Equal(w.QuestionIds, want[n-1]) {
			t.Fatalf("wave %d asks %v, want %v", n, w.QuestionIds, want[n-1])
		}
		sv.Waves = append(sv.Waves, w)
	}
	sv.QuestionsPerWave = 0
	if w := planWave(sv, 6); len(w.QuestionIds) != 6 { // all but the quarterly one
		t.Fatalf("questions_per_wave 0 asks %v, want every question but quarterly", w.QuestionIds)
	}
}
