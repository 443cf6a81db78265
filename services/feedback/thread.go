package feedback

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
)

// apiMessage is a thread message as the API shows it.
func apiMessage(m *store.Message) *feedbackv1.Message {
	return &feedbackv1.Message{Id: m.ID, Author: m.Author, Text: m.Text, CreateDay: timestamppb.New(m.Day), Status: m.Status}
}

// reply adds a responder's message to a comment the caller can read.
func (s *Service) reply(ctx context.Context, id, text string) (*store.Message, error) {
	m := &store.Message{ID: rand.Text(), Author: feedbackv1.Author_AUTHOR_RESPONDER, Text: text, Day: today(s.cfg.Now())}
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		c, _, _, err := s.readable(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := unsafeAppend(tx, c, m); err != nil {
			return err
		}
		return store.UnsafePutComment(tx, c)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// byToken returns the comment a follow-up token opens. The token is the author's only
// credential, so the caller's token must still cover the author's segment (a bot of another
// organisation holding a leaked token learns nothing), and a wrong token is NotFound.
func (s *Service) byToken(ctx context.Context, tx store.ReadTx, token string) (*store.Comment, error) {
	notFound := fmt.Errorf("follow_up_token: %w: no thread for this token", errNotFound)
	id, err := s.threadOf(tx, tokenHash(token))
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, notFound
	}
	c, err := store.GetComment(tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if p, _ := auth.FromContext(ctx); !p.Covers(c.AuthorSegment.String()) {
		return nil, notFound
	}
	return c, nil
}

// followUp adds the author's message, already scrubbed, to the thread the token opens.
func (s *Service) followUp(ctx context.Context, token, text string) (*store.Message, error) {
	m := &store.Message{ID: rand.Text(), Author: feedbackv1.Author_AUTHOR_EMPLOYEE, Text: text, Day: today(s.cfg.Now())}
	// Group-committed with the submissions; the function may run twice and starts afresh.
	err := s.commit.Update(func(tx *bolt.Tx) error {
		c, err := s.byToken(ctx, tx, token)
		if err != nil {
			return err
		}
		if _, err := unsafeAppend(tx, c, m); err != nil {
			return err
		}
		return store.UnsafePutComment(tx, c)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// thread is the author's view: the comment as readers see it and every message.
func (s *Service) thread(ctx context.Context, token string) (*feedbackv1.Feedback, []*store.Message, error) {
	var view *feedbackv1.Feedback
	var msgs []*store.Message
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		c, err := s.byToken(ctx, tx, token)
		if err != nil {
			return err
		}
		if view, _, err = s.view(tx, c); err != nil {
			return err
		}
		view.Risks = nil // for readers only (feedback.proto), not the author
		msgs, err = store.ThreadMessages(tx, c.ID)
		return err
	})
	return view, msgs, err
}
