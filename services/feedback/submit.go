package feedback

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/window"
)

// Event names of the submit path (docs/design.md, Events).
const (
	idempotencyPurpose = "feedback/idempotency/"
	followUpPurpose    = "feedback/follow-up/"
	ratePurpose        = "feedback/rate"
	peoplePurpose      = "feedback/people/"
	shufflePurpose     = "feedback/shuffle/"
	commentIDPurpose   = "feedback/comment-id"
)

// tokenEncoding writes follow-up tokens as rand.Text does: 26 characters of base32.
var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// receipt is what SubmitFeedback returns.
type receipt struct {
	id, token string
	status    commonv1.FeedbackStatus
}

// followUpToken is the author's token for a submission. With an idempotency key it is derived
// from the key and the person (a keyed hash), so that a retry returns the same token although
// the service kept only its hash; without one it is random.
func (s *Service) followUpToken(sub submission) string {
	if sub.key == "" {
		return rand.Text()
	}
	tag := s.host.Secret.Tag(followUpPurpose+sub.key, sub.ref)
	return tokenEncoding.EncodeToString(tag[:16])
}

// tokenHash is what the store keeps of a follow-up token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// commentID is the id of the comment that follow-up token hash tokenHash opens: a keyed hash
// of it, 26 characters of base32 as rand.Text makes. The token then finds its comment without
// a stored map from one to the other (follow_ups, which comments submitted before, and survey
// comments, whose id pulse chose, still use: threadOf). The id says nothing of the token
// without the server secret, and the token is the author's alone, as before; a retry after the
// idempotency record expired, with the same key from the same person, derives the same token,
// hence the same id, and gets the first comment back rather than a second one under one token.
func (s *Service) commentID(tokenHash []byte) string {
	tag := s.host.Secret.Tag(commentIDPurpose, string(tokenHash))
	return tokenEncoding.EncodeToString(tag[:16])
}

// threadOf returns the id of the comment a follow-up token hash opens, or "" when none: the
// id derived from it (commentID), or the one follow_ups maps it to.
func (s *Service) threadOf(tx store.ReadTx, tokenHash []byte) (string, error) {
	return threadIn(tx, s.commentID(tokenHash), tokenHash)
}

// threadIn is threadOf with the id already derived (submit derives it before the committer's
// serial part, where the HMAC need not run again).
func threadIn(tx store.ReadTx, id string, tokenHash []byte) (string, error) {
	ok, err := store.HasComment(tx, id)
	if err != nil {
		return "", err
	}
	if ok {
		return id, nil
	}
	return store.FollowUp(tx, tokenHash)
}

// submit stores one comment (under an id derived from its follow-up token: commentID), its
// idempotency record and its FeedbackSubmitted event in one transaction. A repeat of an
// earlier call with the same idempotency key from the same person returns the first comment
// and writes nothing: within IdempotencyTTL by its record, after it because the key gives the
// same token, which opens the first comment.
func (s *Service) submit(sub submission, now time.Time) (receipt, error) {
	token := s.followUpToken(sub)
	followUp := tokenHash(token)
	var idem []byte
	if sub.key != "" {
		idem = s.host.Secret.Tag(idempotencyPurpose+sub.key, sub.ref)
	}

	// Only the day is stored or published (docs/design.md, Anonymity): the order of comments within
	// a day must not be recoverable, or a reader could match them with who was online.
	day := window.Of(window.Day, now).Start
	c := &store.Comment{
		ID:            s.commentID(followUp),
		AuthorSegment: sub.seg,
		Text:          sub.text,
		Channel:       sub.channel,
		Status:        commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW,
		Dimensions:    sub.dims,
		CreateDay:     day,
		UpdateDay:     day,
		Language:      sub.lang,
	}
	// The event is on the author's own segment, as the contract says (events.FeedbackSubmitted).
	ev := &eventsv1.FeedbackSubmitted{
		FeedbackId:   c.ID,
		Segment:      sub.seg.String(),
		Text:         c.Text,
		Language:     c.Language,
		Dimensions:   c.Dimensions,
		SubmittedDay: timestamppb.New(day),
	}
	sealed := s.host.Secret.SealedContributors(sub.ref, sub.seg, now)
	tags := make([]eventsv1.ContributorTag, len(sealed)) // one allocation for all of them
	ev.Contributors = make([]*eventsv1.ContributorTag, len(sealed))
	for i, t := range sealed {
		tags[i].Segment, tags[i].Window, tags[i].Tag = t.Segment, t.Window, t.Tag
		ev.Contributors[i] = &tags[i]
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		return receipt{}, fmt.Errorf("encode FeedbackSubmitted: %w", err)
	}
	event := bus.Event{
		ID:      events.SubmittedID(c.ID),
		Type:    events.FeedbackSubmitted.Type,
		Source:  events.FeedbackSubmitted.Source,
		Subject: events.FeedbackSubmitted.Subject(sub.seg),
		Time:    day, // ce-time too: a finer time would undo the coarsening of submitted_day
		Data:    data,
	}

	// Keyed tags of the person, each in its own scope: the day's rate-limit counter, and one per
	// ancestor segment and month for distinct-people counts (GetLoopStats).
	rateTag := s.host.Secret.Tag(anonymity.DayScope(ratePurpose, now), sub.ref)
	rateExpires := window.Of(window.Day, now).End
	month := window.Of(window.Month, now).Key()
	type person struct {
		seg string
		tag []byte
	}
	ancestors := sub.seg.Ancestors()
	people := make([]person, len(ancestors))
	for i, a := range ancestors {
		people[i] = person{a.String(), s.host.Secret.Tag(peoplePurpose+a.String()+"/"+month, sub.ref)}
	}
	// Also derived here rather than in the committer's serial part, which may run the function
	// more than once: the keyed shuffle of the by_day key and the filters.
	dayKey, filters := s.dayKey(c), store.Filters(c)

	// Encoded here, outside the committer's serial part, which then only stores the bytes.
	record, err := outbox.Prepare(event)
	if err != nil {
		return receipt{}, err
	}
	claim, done, err := s.claimIdempotency(idem, now) // replicas.go: nil with one replica
	if err != nil {
		return receipt{}, err
	}
	if done != nil { // stored by another replica
		done.token = token
		return *done, nil
	}

	var got receipt
	// The committer puts concurrent submissions into one commit, and returns once it is on
	// disk. The function may run more than once; it sets got afresh each time.
	err = s.commit.Update(func(tx *bolt.Tx) error {
		got = receipt{id: c.ID, token: token, status: c.Status}
		if idem != nil {
			prev, err := store.IdempotencyRecord(tx, idem, now)
			if err != nil {
				return err
			}
			// Once the record has expired, the same key from the same person still gives the
			// same token, which opens the first comment (of its id, commentID, or in
			// follow_ups for one stored before).
			if prev == "" {
				if prev, err = threadIn(tx, c.ID, followUp); err != nil {
					return err
				}
			}
			if prev != "" {
				first, err := store.GetComment(tx, prev)
				if err != nil {
					// Not the caller's NotFound: the store lost a comment it had recorded.
					return fmt.Errorf("first comment %s of the idempotency key: %v", prev, err)
				}
				got.id, got.status = first.ID, first.Status
				return unsafeMark(tx, claim, first.ID)
			}
			// The record names the comment: it keeps the day it expires, never the instant
			// (now + TTL would be the comment's exact time).
			if err := store.UnsafePutIdempotency(tx, idem, c.ID, window.Of(window.Day, now.Add(s.cfg.IdempotencyTTL)).End); err != nil {
				return err
			}
		}
		// After the idempotency check, so that a retry does not count twice.
		ok, err := store.UnsafeCountSubmission(tx, rateTag, now, rateExpires, uint32(s.cfg.DailyLimit))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("submitter_ref: %w: at most %d a day", errRateLimited, s.cfg.DailyLimit)
		}
		for _, p := range people {
			if err := store.UnsafeAddPerson(tx, p.seg, month, p.tag); err != nil {
				return err
			}
		}
		if err := store.UnsafePutComment(tx, c); err != nil {
			return err
		}
		if err := unsafeIndexAt(tx, c, dayKey, filters); err != nil {
			return err
		}
		if err := unsafeMark(tx, claim, c.ID); err != nil {
			return err
		}
		return s.host.Outbox.AddRecord(tx, record)
	})
	s.settleMark(claim, err == nil)
	if err != nil {
		return receipt{}, err
	}
	return got, nil
}

// unsafeIndex adds comment c to the by-day index, which serves listings, statistics and
// deadlines, and to by_filter (filters.go). It derives from the stored comment alone, so a
// store migration can call it too.
func (s *Service) unsafeIndex(tx store.WriteTx, c *store.Comment) error {
	return unsafeIndexAt(tx, c, s.dayKey(c), store.Filters(c))
}

// unsafeIndexAt is unsafeIndex with c's by_day key and filters already derived.
func unsafeIndexAt(tx store.WriteTx, c *store.Comment, dayKey []byte, filters []store.Filter) error {
	if err := store.UnsafePutDayEntry(tx, dayKey, c.AuthorSegment.String()); err != nil {
		return err
	}
	return store.UnsafePutFilters(tx, dayKey, filters)
}

// shuffle is the keyed value that orders comments within a day: stable, so paging sees one
// order, and unpredictable without the server secret, so the order says nothing about when
// in the day, or in which order, comments came.
func (s *Service) shuffle(day time.Time, id string) []byte {
	return s.host.Secret.Tag(shufflePurpose+window.Of(window.Day, day).Key(), id)[:store.ShuffleSize]
}
