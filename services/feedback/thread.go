package feedback

import (
	"context"
	"crypto/rand"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
)

// reply adds a responder's message to a comment the caller can read.
func (s *Service) reply(ctx context.Context, id, text string) (*feedbackv1.Message, error) {
	m := &feedbackv1.Message{
		Id: rand.Text(), Author: feedbackv1.Author_AUTHOR_RESPONDER, Text: text,
		CreateDay: timestamppb.New(today(s.cfg.Now())),
	}
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		c, _, _, err := s.unsafeReadable(ctx, tx, id)
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

// unsafeByToken returns the comment a follow-up token opens. The token is the author's only
// credential, so the caller's token must still cover the author's segment (a bot of another
// organisation holding a leaked token learns nothing), and a wrong token is NotFound.
func (s *Service) unsafeByToken(ctx context.Context, tx *bolt.Tx, token string) (*feedbackv1.Feedback, error) {
	notFound := fmt.Errorf("follow_up_token: %w: no thread for this token", errNotFound)
	id, err := store.UnsafeFollowUp(tx, tokenHash(token))
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, notFound
	}
	c, err := store.UnsafeGetComment(tx, id)
	if err != nil {
		return nil, err
	}
	if p, _ := auth.FromContext(ctx); !p.Covers(c.Segment) {
		return nil, notFound
	}
	return c, nil
}

// followUp adds the author's message, already scrubbed, to the thread the token opens.
func (s *Service) followUp(ctx context.Context, token, text string) (*feedbackv1.Message, error) {
	m := &feedbackv1.Message{
		Id: rand.Text(), Author: feedbackv1.Author_AUTHOR_EMPLOYEE, Text: text,
		CreateDay: timestamppb.New(today(s.cfg.Now())),
	}
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		c, err := s.unsafeByToken(ctx, tx, token)
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
func (s *Service) thread(ctx context.Context, token string) (*feedbackv1.GetThreadResponse, error) {
	var out *feedbackv1.GetThreadResponse
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		c, err := s.unsafeByToken(ctx, tx, token)
		if err != nil {
			return err
		}
		view, _, err := s.unsafeView(tx, c)
		if err != nil {
			return err
		}
		msgs, err := store.UnsafeMessages(tx, c.Id)
		if err != nil {
			return err
		}
		out = &feedbackv1.GetThreadResponse{Feedback: view, Messages: msgs}
		return nil
	})
	return out, err
}
