package pulse

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// submission is a validated SubmitResponse.
type submission struct {
	survey  *survey
	wave    uint32
	seg     segment.Path
	ref     string
	key     string
	answers []*eventsv1.ScoredAnswer
	// comments are the TEXT answers held for the feedback service (loop.go), stored in the
	// response's transaction.
	comments []store.SurveyComment
	// invite is the invitation a repeatable lifecycle survey's answer uses up (lifecycle.go).
	invite []byte
}

// answerScope is the scope of "this person answered": the wave for pulses, the whole survey
// for lifecycle surveys, which each person answers once.
func answerScope(sv *pulsev1.Survey, wave uint32) string {
	if repeatable(sv.Kind) {
		return fmt.Sprintf("lifecycle/%s/%d", sv.Id, wave) // once per moment (lifecycle.go)
	}
	if lifecycleKind(sv.Kind) {
		return "lifecycle/" + sv.Id
	}
	return anonymity.WaveScope(sv.Id, wave)
}

// markerTag is the "this person answered" marker: a keyed hash of the person, scoped to the
// wave (or lifecycle survey), so that markers of two scopes cannot be joined.
func (s *Service) markerTag(scope, ref string) []byte {
	return s.host.Secret.Tag(scope, ref)
}

// idempotencyTag is the marker's value when the caller gave an idempotency key: a keyed hash
// of the person under a scope made of the key and the marker's scope. A retry with the same
// key computes the same value; another key does not. The wave is part of the scope so that a
// bot reusing a key across waves (say, "k-"+ref) does not write equal values under two waves'
// markers, which would link them.
func (s *Service) idempotencyTag(scope, ref, key string) []byte {
	if key == "" {
		return nil
	}
	return s.host.Secret.Tag("pulse/idempotency/"+scope+"/"+key, ref)
}

// submit stores one response, the person's marker and the ResponseSubmitted event in one
// transaction. It returns the new response id, or "" when the call repeats an earlier one
// with the same idempotency key: the service keeps no link from a person to their response
// (the marker and the response share no key or value), so it cannot tell which response was
// theirs, only that they have one.
//
// A second response with another key, or without one, is errAlreadyResponded: without a key,
// a retry cannot be told apart from a second answer.
func (s *Service) submit(sub submission, now time.Time) (string, error) {
	scope := answerScope(sub.survey.Survey, sub.wave)
	marker := s.markerTag(scope, sub.ref)
	idem := s.idempotencyTag(scope, sub.ref, sub.key)

	// Only the day is stored or published (docs/design.md, Anonymity): the order of responses
	// within a day must not be recoverable, or a reader could match them with who was online.
	day := window.Of(window.Day, now).Start
	ev := &eventsv1.ResponseSubmitted{
		ResponseId:   rand.Text(),
		SurveyId:     sub.survey.Id,
		Wave:         sub.wave,
		Segment:      sub.seg.String(),
		Answers:      sub.answers,
		SubmittedDay: timestamppb.New(day),
	}
	rec, err := responseRecord(ev) // before the contributor tags, which are not stored
	if err != nil {
		return "", err
	}
	for _, c := range s.host.Secret.SealedContributors(sub.ref, sub.seg, now) {
		ev.Contributors = append(ev.Contributors, &eventsv1.ContributorTag{
			Segment: c.Segment, Window: c.Window, Tag: c.Tag,
		})
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("encode ResponseSubmitted: %w", err)
	}
	event := bus.Event{
		ID:      events.RespondedID(rec.ID),
		Type:    events.PulseResponded.Type,
		Source:  events.PulseResponded.Source,
		Subject: events.PulseResponded.Subject(sub.seg),
		Time:    day, // ce-time too: a finer time would undo the coarsening of submitted_day
		Data:    data,
	}

	// Encoded here, outside the committer's serial part, which then only stores the bytes.
	record, err := outbox.Prepare(event)
	if err != nil {
		return "", err
	}
	claim, err := s.claimMark(sub, marker, idem, now) // replicas.go: nil with one replica
	if errors.Is(err, errRetriedElsewhere) {
		return "", nil
	} else if err != nil {
		return "", err
	}

	type outcome int
	const (
		stored outcome = iota
		retried
		duplicate
		late
	)
	var got outcome
	// The committer puts concurrent responses into one commit (two fsyncs each otherwise) and
	// returns once it is on disk. The function may run twice; it sets got afresh each time, and
	// a run whose transaction rolled back left nothing behind. Outcomes other than stored
	// return nil (and write nothing) so that one duplicate does not roll back and replay the
	// whole batch.
	err = s.commit.Update(func(tx *bolt.Tx) error {
		got = stored
		// The wave is checked again at commit: a response committed after the wave closed
		// (by its time or by CloseSurvey) would change results already read, and the
		// difference between two reads would be that one person's answers.
		sv, err := s.commitSurvey.get(tx, sub.survey.Id)
		if err != nil {
			return err
		}
		if int(sub.wave) > len(sv.Waves) || !isOpen(sv.Survey, sv.Waves[sub.wave-1], s.cfg.Now()) {
			got = late
			return nil
		}
		prev, found, err := store.GetMarker(tx, marker)
		if err != nil {
			return err
		}
		if found {
			got = duplicate
			claim.SetIdem(prev)
			if idem != nil && hmac.Equal(prev, idem) {
				got = retried
			}
			return nil
		}
		if err := store.UnsafePutMarker(tx, marker, idem); err != nil {
			return err
		}
		if err := store.UnsafePutResponse(tx, rec); err != nil {
			return err
		}
		if sub.invite != nil { // a repeatable moment: the answer uses its invitation up
			if err := store.UnsafeDeleteInvitation(tx, sub.invite); err != nil {
				return err
			}
		}
		for _, c := range sub.comments {
			if err := store.UnsafePutSurveyComment(tx, c); err != nil {
				return err
			}
		}
		if err := unsafeMark(tx, claim); err != nil {
			return err
		}
		return s.host.Outbox.AddRecord(tx, record)
	})
	s.settleMark(claim, err == nil && got != late)
	switch {
	case err != nil:
		return "", err
	case got == retried:
		return "", nil
	case got == late:
		return "", fmt.Errorf("wave: %w: wave %d of survey %s closed", errWaveNotOpen, sub.wave, sub.survey.Id)
	case got == duplicate:
		return "", fmt.Errorf("submitter_ref: %w: wave %d of survey %s already has a response from this person", errAlreadyResponded, sub.wave, sub.survey.Id)
	}
	return rec.ID, nil
}

// surveyMemo keeps the survey last read at commit, with its stored bytes. The responses of one
// group commit nearly always name the same survey, and decoding it for each of them ran in the
// committer's serial path. A survey whose stored bytes changed (closed, a new wave) is read
// again. What get returns is shared: read it, never change it.
type surveyMemo struct {
	mu  sync.Mutex
	id  string
	raw []byte
	sv  *survey
}

func (m *surveyMemo) get(tx store.ReadTx, id string) (*survey, error) {
	raw, err := store.SurveyBytes(tx, id)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if raw != nil && m.sv != nil && m.id == id && bytes.Equal(m.raw, raw) {
		return m.sv, nil
	}
	sv, err := getSurvey(tx, id)
	if err != nil {
		return nil, err
	}
	m.id, m.raw, m.sv = id, append(m.raw[:0], raw...), sv
	return sv, nil
}

// pending lists the open waves of surveys whose audience contains seg and that the person has
// not answered, most urgent first, in lang (or each survey's default language). With replicas,
// an answer another replica stored counts too (its done mark, replicas.go).
func (s *Service) pending(ctx context.Context, ref string, seg segment.Path, lang string, now time.Time) ([]*pulsev1.PendingSurvey, error) {
	var out []*pulsev1.PendingSurvey
	var tags [][]byte // parallel to out: the person's marker of each
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		for _, audience := range containing(seg) {
			surveys, err := surveysWithAudience(tx, audience)
			if err != nil {
				return err
			}
			for _, sv := range surveys {
				w := openWave(sv.Survey, now)
				if w == nil {
					continue
				}
				closes, opens := w.ClosesAt, w.OpensAt
				if lifecycleKind(sv.Kind) {
					inv, ok, err := s.invitation(tx, sv.Survey, ref, now)
					if err != nil {
						return err
					}
					if !ok {
						continue
					}
					closes, opens = timestamppb.New(inv.Closes), timestamppb.New(inv.Opens)
				}
				tag := s.markerTag(answerScope(sv.Survey, w.Number), ref)
				_, answered, err := store.GetMarker(tx, tag)
				if err != nil {
					return err
				}
				if !answered {
					p := pendingView(sv.Survey, w, lang)
					p.ClosesAt = closes
					p.ClosingSoon = closingSoon(opens.AsTime(), closes.AsTime(), now) // loop.go
					out = append(out, p)
					tags = append(tags, tag)
				}
			}
		}
		return nil
	})
	if err == nil {
		out, err = s.notAnsweredElsewhere(ctx, out, tags)
	}
	slices.SortFunc(out, func(a, b *pulsev1.PendingSurvey) int {
		return a.ClosesAt.AsTime().Compare(b.ClosesAt.AsTime())
	})
	return out, err
}

// containing is every audience that path is within, nearest first: acme/eng/web, acme/eng,
// acme.
func containing(path segment.Path) []segment.Path {
	out := path.Ancestors()
	slices.Reverse(out)
	return out
}

func pendingView(sv *pulsev1.Survey, w *pulsev1.Wave, lang string) *pulsev1.PendingSurvey {
	title, _ := localize(sv.Title.GetTranslations(), lang, sv.DefaultLanguage)
	ps := &pulsev1.PendingSurvey{SurveyId: sv.Id, Title: title, Wave: w.Number, ClosesAt: w.ClosesAt}
	asked := askedIn(sv, w)
	for _, id := range w.QuestionIds {
		q, ok := asked[id]
		if !ok {
			continue
		}
		text, used := localize(q.Text.GetTranslations(), lang, sv.DefaultLanguage)
		pq := &pulsev1.PendingQuestion{Id: q.Id, Kind: q.Kind, Text: text, Language: used, Multiple: q.Multiple}
		for _, o := range q.Options {
			// Options follow the question's language, so a question reads in one language.
			label, _ := localize(o.Label.GetTranslations(), used, sv.DefaultLanguage)
			pq.Options = append(pq.Options, &pulsev1.PendingOption{Id: o.Id, Label: label})
		}
		ps.Questions = append(ps.Questions, pq)
	}
	return ps
}

// localize picks the text in lang, else in the default language (which CreateSurvey requires).
func localize(texts map[string]string, lang, def string) (string, string) {
	if t, ok := texts[lang]; ok && lang != "" {
		return t, lang
	}
	return texts[def], def
}
