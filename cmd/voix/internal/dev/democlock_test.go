package dev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/poll"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

func TestDemoClockRunsFastThenClampsAtRealTime(t *testing.T) {
	realStart := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c := NewDemoClock(12, time.Minute, realStart)
	if got, want := c.Start, realStart.Add(-12*week); !got.Equal(want) {
		t.Fatalf("start = %v, want 12 weeks before %v", got, realStart)
	}
	if got := c.CaughtUp().Sub(realStart); got < time.Minute-time.Millisecond || got > time.Minute+time.Millisecond {
		t.Fatalf("catches up after %v, want a minute", got)
	}
	if got := c.At(realStart); !got.Equal(c.Start) {
		t.Fatalf("At(real start) = %v, want the start %v", got, c.Start)
	}
	// Half-way through the minute, half of the twelve weeks have passed (and half a minute).
	if got, want := c.At(realStart.Add(30*time.Second)), c.Start.Add(6*week+30*time.Second); got.Sub(want).Abs() > time.Millisecond {
		t.Fatalf("At(+30s) = %v, want %v", got, want)
	}
	// Monotonic, never ahead of real time, real time once caught up, from before the start to
	// long after it.
	prev := time.Time{}
	for real := realStart.Add(-time.Second); real.Before(realStart.Add(2 * time.Minute)); real = real.Add(time.Millisecond) {
		sim := c.At(real)
		if sim.Before(prev) {
			t.Fatalf("At(%v) = %v went back from %v", real, sim, prev)
		}
		if sim.After(real) {
			t.Fatalf("At(%v) = %v is ahead of real time", real, sim)
		}
		if !real.Before(c.CaughtUp()) && !sim.Equal(real) {
			t.Fatalf("At(%v) = %v after catching up, want real time", real, sim)
		}
		prev = sim
	}
	for _, later := range []time.Duration{time.Hour, 24 * 365 * 100 * time.Hour} {
		if real := realStart.Add(later); !c.At(real).Equal(real) {
			t.Fatalf("At(+%v) = %v, want real time", later, c.At(real))
		}
	}
	// RealAt is its inverse: when to wake up for a simulated instant.
	for _, sim := range []time.Time{c.Start, c.Start.Add(3 * 24 * time.Hour), c.Start.Add(11 * week), c.CaughtUp().Add(time.Hour)} {
		if got := c.At(c.RealAt(sim)); got.Sub(sim).Abs() > time.Millisecond {
			t.Errorf("At(RealAt(%v)) = %v", sim, got)
		}
	}
}

// TestDemoClockTicksOftenEnough: the pulse scheduler passes several times inside the shortest
// response window (an hour), and many times inside a weekly wave's five days, whatever the
// number of weeks.
func TestDemoClockTicksOftenEnough(t *testing.T) {
	for _, weeks := range []int{1, 3, 12, 52} {
		s := &Suite{cfg: Config{DataDir: t.TempDir(), DemoWeeks: weeks, DemoDuration: DefaultDemoDuration}}
		tm, err := s.startClock()
		if err != nil {
			t.Fatal(err)
		}
		perHour := s.Clock.realDuration(time.Hour)
		if ticks := s.Clock.realDuration(5*24*time.Hour) / tm.schedule; ticks < 50 {
			t.Errorf("%d weeks: %d scheduling passes in a five-day wave (every %v), want many", weeks, ticks, tm.schedule)
		}
		if tm.schedule > perHour && tm.schedule > 10*time.Millisecond {
			t.Errorf("%d weeks: the scheduler runs every %v, more than a simulated hour (%v)", weeks, tm.schedule, perHour)
		}
		if tm.gatewayNow == nil || time.Since(tm.gatewayNow()).Abs() > time.Second {
			t.Errorf("%d weeks: the gateway's clock is not the real one", weeks)
		}
	}
}

// TestDemoClockFileAndFreshDataDir: a suite on the demo clock writes demo-clock.json, refuses
// a data dir that holds data, and a suite on the real clock removes the file.
func TestDemoClockFileAndFreshDataDir(t *testing.T) {
	dir := t.TempDir()
	s := startDemoSuite(t, dir, 2, 10*time.Second)
	got, err := ReadDemoClock(dir)
	if err != nil {
		t.Fatalf("ReadDemoClock: %v", err)
	}
	if got.Weeks != 2 || !got.Start.Equal(s.Clock.Start) || !got.RealStart.Equal(s.Clock.RealStart) || got.Speed != s.Clock.Speed {
		t.Fatalf("demo-clock.json holds %+v, the suite runs %+v", got, *s.Clock)
	}
	if now := got.Now(); now.Sub(got.Start) > week || time.Since(now) < week {
		t.Fatalf("the demo clock shows %v, want about two weeks ago", now)
	}
	s.Close()
	_, err = Start(context.Background(), Config{DataDir: dir, NATSPort: -1, PulseListen: "127.0.0.1:0", FeedbackListen: "127.0.0.1:0",
		SentimentListen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0", DemoWeeks: 2})
	if !errors.Is(err, errHasData) {
		t.Fatalf("demo clock over existing data: %v, want %v", err, errHasData)
	}
	real, err := Start(context.Background(), Config{DataDir: dir, NATSPort: -1, PulseListen: "127.0.0.1:0", FeedbackListen: "127.0.0.1:0",
		SentimentListen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("restart on the real clock: %v", err)
	}
	real.Close()
	if _, err := os.Stat(filepath.Join(dir, DemoClockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a suite on the real clock left %s: %v", DemoClockFile, err)
	}
}

// startClock starts the waiting demo clock of suite s in dir, as voix demo does, and waits
// until the suite runs on it.
func startClock(t *testing.T, s *Suite, dir string) DemoClock {
	t.Helper()
	c, err := StartDemoClock(dir)
	if err != nil {
		t.Fatalf("StartDemoClock: %v", err)
	}
	if c.Waiting {
		t.Fatalf("StartDemoClock left the clock waiting: %+v", c)
	}
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		if got := s.DemoClock(); got.Waiting || !got.RealStart.Equal(c.RealStart) {
			return fmt.Errorf("the suite runs %+v, want %+v", got, c)
		}
		return nil
	})
	return c
}

// TestDemoClockWaitsForTheDemo: the suite's clock stands still at its start, whatever the real
// time, until the demo starts it; then it runs fast, and the file says so.
func TestDemoClockWaitsForTheDemo(t *testing.T) {
	waiting := NewWaitingDemoClock(12, time.Minute, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	for _, later := range []time.Duration{0, time.Second, time.Hour} {
		if got := waiting.At(waiting.RealStart.Add(later)); !got.Equal(waiting.Start) {
			t.Fatalf("a waiting clock shows %v %v after it was set, want its start %v", got, later, waiting.Start)
		}
	}
	// Started an hour later, it starts from where it stood and still catches up in a minute.
	at := waiting.RealStart.Add(time.Hour)
	c := waiting.Started(at)
	if c.Waiting || !c.Start.Equal(waiting.Start) || !c.At(at).Equal(waiting.Start) {
		t.Fatalf("started at %v: %+v", at, c)
	}
	if got := c.CaughtUp().Sub(at); (got - time.Minute).Abs() > time.Millisecond {
		t.Fatalf("started, it catches up after %v, want a minute", got)
	}

	dir := t.TempDir()
	s := startDemoSuite(t, dir, 2, 10*time.Second)
	if got := s.DemoClock().Now(); !got.Equal(s.Clock.Start) {
		t.Fatalf("before the demo, the suite's clock shows %v, want its start %v", got, s.Clock.Start)
	}
	started := startClock(t, s, dir)
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
		if now := s.DemoClock().Now(); now.Sub(started.Start) < time.Hour {
			return fmt.Errorf("the started clock shows %v, less than an hour past its start %v", now, started.Start)
		}
		return nil
	})
	if again, err := StartDemoClock(dir); err != nil || again.Waiting || !again.RealStart.Equal(started.RealStart) || again.Speed != started.Speed {
		t.Fatalf("StartDemoClock on a running clock: %+v, %v; want it unchanged %+v", again, err, started)
	}
}

// startDemoSuite runs a suite on a demo clock on free ports; it stops in t.Cleanup.
func startDemoSuite(t *testing.T, dir string, weeks int, catchUp time.Duration) *Suite {
	t.Helper()
	s, err := Start(context.Background(), Config{
		DataDir: dir, NATSPort: -1, PulseListen: "127.0.0.1:0", FeedbackListen: "127.0.0.1:0",
		SentimentListen: "127.0.0.1:0", GatewayListen: "127.0.0.1:0", DemoWeeks: weeks, DemoDuration: catchUp,
	})
	if err != nil {
		t.Fatalf("start demo suite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestDemoClockOpensAndClosesWeeklyWaves runs three weeks in twelve seconds: a weekly survey opens
// its waves on time, takes answers early in each, and closes them, as the scheduler announces.
func TestDemoClockOpensAndClosesWeeklyWaves(t *testing.T) {
	dir := t.TempDir()
	s := startDemoSuite(t, dir, 3, 12*time.Second)
	clock := startClock(t, s, dir)
	type waveEvent struct {
		kind string
		wave uint32
	}
	var (
		mu  sync.Mutex
		got []waveEvent
	)
	nc, err := nats.Connect(s.NATSURL(), nats.UserInfo(s.Tokens.NATSServicesUser, s.Tokens.NATSServicesPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for kind, k := range map[string]events.Kind{"opened": events.PulseWaveOpened, "closed": events.PulseWaveClosed} {
		if _, err := nc.Subscribe(k.All(), func(m *nats.Msg) {
			var ev eventsv1.WaveOpened // WaveClosed has the same first fields
			if err := proto.Unmarshal(m.Data, &ev); err != nil {
				t.Errorf("undecodable wave event: %v", err)
			}
			mu.Lock()
			got = append(got, waveEvent{kind, ev.Wave})
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	seen := func(want waveEvent) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range got {
				if e == want {
					return nil
				}
			}
			return fmt.Errorf("no wave %d %s among %v (the demo clock shows %v)", want.wave, want.kind, got, clock.Now())
		}
	}

	hr := servicetest.WithToken(context.Background(), s.Tokens.HR)
	pc := pulsev1.NewPulseServiceClient(servicetest.Dial(t, s.Pulse.Addr()))
	opens := clock.Now().Add(12 * time.Hour).Truncate(time.Hour)
	created, err := pc.CreateSurvey(hr, &pulsev1.CreateSurveyRequest{Survey: &pulsev1.Survey{
		Title:           &commonv1.LocalizedText{Translations: map[string]string{"en": "Weekly pulse"}},
		Audience:        "acme",
		Cadence:         pulsev1.Cadence_CADENCE_WEEKLY,
		Schedule:        &pulsev1.Schedule{FirstOpensAt: timestamppb.New(opens), ResponseWindow: durationpb.New(2 * 24 * time.Hour)},
		DefaultLanguage: "en",
		Questions: []*pulsev1.Question{{Id: "load", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD,
			Text: &commonv1.LocalizedText{Translations: map[string]string{"en": "My workload is manageable"}}}},
	}})
	if err != nil {
		t.Fatalf("CreateSurvey: %v", err)
	}
	// Within twelve simulated hours of its opening, each wave takes an answer: the scheduler has
	// opened it (the first wave is planned at creation, the second only by a scheduling pass,
	// which at its default of a second could come almost two simulated days late).
	sub := servicetest.WithToken(context.Background(), s.Tokens.Submitter)
	for wave := range uint32(2) {
		waveOpens := opens.Add(time.Duration(wave) * week)
		time.Sleep(time.Until(clock.RealAt(waveOpens.Add(time.Hour))))
		for {
			resp, err := pc.SubmitResponse(sub, &pulsev1.SubmitResponseRequest{SurveyId: created.Survey.Id, Segment: "acme/eng", SubmitterRef: "U1",
				Answers: []*pulsev1.Answer{{QuestionId: "load", Value: &pulsev1.Answer_Scale{Scale: 4}}}})
			if err == nil && resp.Wave == wave+1 {
				break
			}
			if clock.Now().After(waveOpens.Add(12 * time.Hour)) {
				t.Fatalf("SubmitResponse in the first twelve simulated hours of wave %d: wave %d, %v", wave+1, resp.GetWave(), err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, want := range []waveEvent{{"opened", 1}, {"closed", 1}, {"opened", 2}, {"closed", 2}} {
		poll.Until(t, 10*time.Second, 20*time.Millisecond, seen(want))
	}
	sv, err := pc.GetSurvey(hr, &pulsev1.GetSurveyRequest{SurveyId: created.Survey.Id})
	if err != nil {
		t.Fatal(err)
	}
	if w := sv.Survey.Waves[0]; !w.Closed || !w.OpensAt.AsTime().Equal(opens) {
		t.Fatalf("wave 1 after its window: %v", w)
	}
	if _, err := pc.SubmitResponse(sub, &pulsev1.SubmitResponseRequest{SurveyId: created.Survey.Id, Wave: 2, Segment: "acme/eng", SubmitterRef: "U2",
		Answers: []*pulsev1.Answer{{QuestionId: "load", Value: &pulsev1.Answer_Scale{Scale: 4}}}}); err == nil {
		t.Fatal("an answer to wave 2 after it closed was taken")
	}
}
