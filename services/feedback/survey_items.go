package feedback

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/scrub"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
)

// Survey comments enter the loop (docs/design.md, Survey comments). The pulse service
// publishes a survey TEXT answer as a PulseSurveyComment once the day of its response has
// ended; the durable feedback-survey-comments makes it a comment of channel SURVEY, with the
// follow-up token hash pulse made (the respondent holds the token), under every rule a comment
// has: shown under the segment placement allows, days only, its author's segment stored,
// routed to an owner group by the routing rules (by the question's dimension: survey comments
// are not scored one by one, since their text already counts in the response's aggregates),
// deadlines from its day. The event names no person and no response, so the item holds
// neither. A redelivered event creates nothing twice: consumer.Apply records its id, and the
// comment's id is the event's own, checked before anything is written.

// startSurveyItems starts the consumer of survey comments.
func (s *Service) startSurveyItems() error {
	return s.host.Consume(consumer.Config{
		Stream:         events.PulseSurveyComment.Stream.Name,
		Durable:        events.DurableFeedbackSurveyComments,
		FilterSubjects: []string{events.PulseSurveyComment.All()},
		Handle:         s.applySurveyComment, // writes only in tx: safe in groups
		Log:            s.host.Log,
		Group:          applyGroup, // a day's TEXT answers arrive together when it ends
	})
}

// applySurveyComment creates the comment of one SurveyComment, in tx.
func (s *Service) applySurveyComment(tx *bolt.Tx, ev bus.Event) error {
	var sc eventsv1.SurveyComment
	if err := proto.Unmarshal(ev.Data, &sc); err != nil {
		return fmt.Errorf("decode SurveyComment %s: %v: %w", ev.ID, err, consumer.ErrPermanent)
	}
	bad := func(rule string) error {
		return fmt.Errorf("SurveyComment %s: %s: %w", ev.ID, rule, consumer.ErrPermanent)
	}
	seg, err := segment.Parse(sc.Segment)
	switch {
	case err != nil:
		return bad("segment: " + err.Error())
	case sc.CommentId == "" || len(sc.CommentId) > maxIDBytes || strings.ContainsAny(sc.CommentId, "/\x00"):
		return bad("comment_id: must be 1..64 bytes")
	case len(sc.FollowUpHash) != 32:
		return bad("follow_up_hash: must be a SHA-256")
	case sc.SubmittedDay == nil:
		return bad("submitted_day: required")
	case !utf8.ValidString(sc.Text):
		return bad("text: must be UTF-8")
	}
	// Scrubbed again here: pulse scrubs TEXT answers, and this service stores nothing it has
	// not scrubbed itself.
	text, _ := scrub.Text(strings.TrimSpace(sc.Text))
	if n := utf8.RuneCountInString(text); n == 0 || n > maxTextRunes {
		return bad(fmt.Sprintf("text: must be 1..%d characters", maxTextRunes))
	}
	if _, err := store.GetComment(tx, sc.CommentId); err == nil {
		return nil // created already: a republished event outside the applied-ids memory
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if prev, err := s.threadOf(tx, sc.FollowUpHash); err != nil {
		return err
	} else if prev != "" {
		return bad("follow_up_hash: already opens a thread")
	}
	var dims []commonv1.Dimension
	for _, d := range sc.Dimensions {
		if d != commonv1.Dimension_DIMENSION_UNSPECIFIED && !containsDim(dims, d) {
			if _, ok := commonv1.Dimension_name[int32(d)]; ok {
				dims = append(dims, d)
			}
		}
	}
	day := window.Of(window.Day, sc.SubmittedDay.AsTime()).Start
	c := &store.Comment{
		ID:            sc.CommentId,
		AuthorSegment: seg,
		Text:          text,
		Channel:       feedbackv1.Channel_CHANNEL_SURVEY,
		Status:        commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW,
		Dimensions:    dims,
		CreateDay:     day,
		UpdateDay:     day,
		Language:      sc.Language,
	}
	rules, err := sortedRules(tx)
	if err != nil {
		return err
	}
	c.OwnerGroup = route(rules, seg, dims, nil)
	if err := store.UnsafePutComment(tx, c); err != nil {
		return err
	}
	if err := s.unsafeIndex(tx, c); err != nil {
		return err
	}
	if err := store.UnsafePutFollowUp(tx, sc.FollowUpHash, c.ID); err != nil {
		return err
	}
	if c.OwnerGroup != "" {
		return s.unsafeTellOwner(tx, c)
	}
	return nil
}

func containsDim(ds []commonv1.Dimension, d commonv1.Dimension) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}
