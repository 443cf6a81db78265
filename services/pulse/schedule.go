package pulse

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// period is the time between two openings of a cadence, at its shortest (a month can be 28
// days): a response window longer than it would make waves overlap.
func period(c pulsev1.Cadence) time.Duration {
	switch c {
	case pulsev1.Cadence_CADENCE_WEEKLY:
		return 7 * 24 * time.Hour
	case pulsev1.Cadence_CADENCE_BIWEEKLY:
		return 14 * 24 * time.Hour
	case pulsev1.Cadence_CADENCE_MONTHLY:
		return 28 * 24 * time.Hour
	case pulsev1.Cadence_CADENCE_QUARTERLY:
		return 89 * 24 * time.Hour
	}
	return maxWindow
}

// slot is when wave n (from 1) opens: the first opening's wall-clock time in the survey's
// time zone, moved by whole weeks or months there, so that "Monday 9:00 in Paris" stays 9:00
// across daylight saving changes. A monthly survey first opened on the 31st opens on the last
// day of shorter months.
func slot(sv *pulsev1.Survey, n uint32) time.Time {
	loc := time.UTC
	if tz := sv.Schedule.GetTimeZone(); tz != "" {
		if l, err := time.LoadLocation(tz); err == nil { // checked by CreateSurvey
			loc = l
		}
	}
	first := sv.Schedule.FirstOpensAt.AsTime().In(loc)
	steps := int(n) - 1
	y, m, d := first.Date()
	hh, mm, ss := first.Clock()
	ns := first.Nanosecond()
	switch sv.Cadence {
	case pulsev1.Cadence_CADENCE_WEEKLY:
		return time.Date(y, m, d+7*steps, hh, mm, ss, ns, loc).UTC()
	case pulsev1.Cadence_CADENCE_BIWEEKLY:
		return time.Date(y, m, d+14*steps, hh, mm, ss, ns, loc).UTC()
	case pulsev1.Cadence_CADENCE_MONTHLY, pulsev1.Cadence_CADENCE_QUARTERLY:
		if sv.Cadence == pulsev1.Cadence_CADENCE_QUARTERLY {
			steps *= 3
		}
		month := time.Month(int(m) + steps)
		last := time.Date(y, month+1, 0, 0, 0, 0, 0, loc).Day()
		return time.Date(y, month, min(d, last), hh, mm, ss, ns, loc).UTC()
	}
	return first.UTC()
}

// planWave is wave n of sv with its questions: every question marked always (every Nth wave
// if so set), and questions_per_wave of the others, those asked least recently first (never
// asked before anything), ties in the bank's order. So with b rotating questions and q per
// wave, every question comes back within ceil(b/q) waves.
func planWave(sv *pulsev1.Survey, n uint32) *pulsev1.Wave {
	opens := slot(sv, n)
	closes := opens.Add(sv.Schedule.ResponseWindow.AsDuration())
	if lifecycleKind(sv.Kind) {
		closes = slot(sv, n+1) // a cohort: the whole month; each person has their own window
	}
	w := &pulsev1.Wave{Number: n, OpensAt: timestamppb.New(opens), ClosesAt: timestamppb.New(closes)}
	lastAsked := map[string]uint32{}
	for _, pw := range sv.Waves {
		for _, id := range pw.QuestionIds {
			lastAsked[id] = pw.Number
		}
	}
	var rotating []int
	in := map[int]bool{}
	for i, q := range sv.Questions {
		switch {
		case q.Always && (q.EveryNthWave <= 1 || (n-1)%q.EveryNthWave == 0):
			in[i] = true
		case !q.Always:
			rotating = append(rotating, i)
		}
	}
	per := int(sv.QuestionsPerWave)
	if per == 0 || per > len(rotating) {
		per = len(rotating)
	}
	slices.SortStableFunc(rotating, func(a, b int) int {
		return cmp.Compare(lastAsked[sv.Questions[a].Id], lastAsked[sv.Questions[b].Id])
	})
	for _, i := range rotating[:per] {
		in[i] = true
	}
	for i, q := range sv.Questions {
		if in[i] {
			w.QuestionIds = append(w.QuestionIds, q.Id)
		}
	}
	return w
}

// advance brings sv up to now: it adds every wave whose slot has come (all of them, even
// those whose window has already passed, after a long downtime: wave numbers are calendar
// slots, so none is skipped) and puts in events the WaveOpened and WaveClosed not yet
// announced, each exactly once by wave number (st records them in the same transaction).
// It reports whether sv changed.
func advance(sv *survey, st *store.ScheduleState, now time.Time) (changed bool, events []bus.Event, err error) {
	active := sv.State == pulsev1.SurveyState_SURVEY_STATE_ACTIVE
	if active && sv.Cadence != pulsev1.Cadence_CADENCE_ONCE && len(sv.Waves) > 0 {
		for {
			next := uint32(len(sv.Waves)) + 1
			if now.Before(slot(sv.Survey, next)) {
				break
			}
			sv.Waves = append(sv.Waves, planWave(sv.Survey, next))
			changed = true
		}
	}
	if lifecycleKind(sv.Kind) {
		// Cohort waves are not announced: announcing them would make bots prompt everybody.
		return changed, nil, nil
	}
	for _, w := range sv.Waves {
		if w.Number > st.Opened && !now.Before(w.OpensAt.AsTime()) {
			ev, err := waveOpenedEvent(sv, w, w.OpensAt.AsTime())
			if err != nil {
				return false, nil, err
			}
			events = append(events, ev)
			st.Opened = w.Number
		}
		ended := w.Closed || !now.Before(w.ClosesAt.AsTime())
		if w.Number > st.Closed && w.Number <= st.Opened && ended {
			ev, err := waveClosedEvent(sv, w)
			if err != nil {
				return false, nil, err
			}
			events = append(events, ev)
			st.Closed = w.Number
		}
	}
	return changed, events, nil
}

// tick runs one scheduling pass at now: every survey with a wave to add or an opening or
// closing to announce is brought up to date, each in its own transaction with its events.
func (s *Service) tick(now time.Time) error {
	var due []string
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		ids, err := store.SurveyIDs(tx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			sv, err := getSurvey(tx, id)
			if err != nil {
				return err
			}
			st, err := store.GetScheduleState(tx, id)
			if err != nil {
				return err
			}
			changed, events, err := advance(sv, &st, now)
			if err != nil {
				return err
			}
			if changed || len(events) > 0 {
				due = append(due, id)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range due {
		err := s.host.DB.Update(func(tx *bolt.Tx) error {
			sv, err := getSurvey(tx, id)
			if err != nil {
				return err
			}
			return s.unsafeAdvance(tx, sv, now)
		})
		if err != nil {
			return fmt.Errorf("schedule survey %s: %w", id, err)
		}
	}
	return nil
}

// unsafeAdvance runs advance on sv inside tx and stores what it changed: the survey, the
// scheduler state and the events, so that a crash leaves all or nothing.
func (s *Service) unsafeAdvance(tx *bolt.Tx, sv *survey, now time.Time) error {
	st, err := store.GetScheduleState(tx, sv.Id)
	if err != nil {
		return err
	}
	before := st
	changed, events, err := advance(sv, &st, now)
	if err != nil {
		return err
	}
	if changed {
		if err := unsafePutSurvey(tx, sv); err != nil {
			return err
		}
	}
	if st != before {
		if err := store.UnsafePutScheduleState(tx, sv.Id, st); err != nil {
			return err
		}
	}
	for _, ev := range events {
		if err := s.host.Outbox.Add(tx, ev); err != nil {
			return err
		}
	}
	for _, ev := range events {
		s.host.Log.Info("wave event", "type", ev.Type, "id", ev.ID)
	}
	return nil
}

// schedule runs a pass every Config.ScheduleEvery until ctx ends. Passes are idempotent, so
// a pass interrupted by a crash is simply run again at the next start.
func (s *Service) schedule(ctx context.Context) {
	t := time.NewTicker(s.cfg.ScheduleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.tick(s.cfg.Now()); err != nil {
				s.host.Log.Error("scheduling pass failed", "err", err)
			}
		}
	}
}

func waveClosedEvent(sv *survey, w *pulsev1.Wave) (bus.Event, error) {
	data, err := proto.Marshal(&eventsv1.WaveClosed{SurveyId: sv.Id, Wave: w.Number, Audience: sv.Audience, ClosedAt: w.ClosesAt})
	if err != nil {
		return bus.Event{}, fmt.Errorf("encode WaveClosed: %w", err)
	}
	return bus.Event{
		ID:      events.WaveClosedID(sv.Id, w.Number),
		Type:    events.PulseWaveClosed.Type,
		Source:  events.PulseWaveClosed.Source,
		Subject: events.PulseWaveClosed.Subject(sv.audience),
		Time:    w.ClosesAt.AsTime(),
		Data:    data,
	}, nil
}
