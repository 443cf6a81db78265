package feedback

import (
	"context"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// Every error a client receives starts with the field it is about and comes through the rules
// table. A store that lost what an index points to (a follow-up hash, an idempotency record)
// must not surface as a NotFound naming nothing: the caller's token is NotFound on its field,
// and the idempotency record, which names no field of the caller's, is Internal.
func TestErrorsNameTheirFieldEvenWhenTheStoreIsInconsistent(t *testing.T) {
	env := servicetest.New(t)
	s, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	client := feedbackv1.NewFeedbackServiceClient(servicetest.Dial(t, s.Addr()))
	const token, key, ref = "ABCDEFGHIJKLMNOPQRSTUVWXY2", "retry-1", "U1"
	err = s.host.DB.Update(func(tx *bolt.Tx) error {
		if err := store.UnsafePutFollowUp(tx, tokenHash(token), "GONE"); err != nil {
			return err
		}
		return store.UnsafePutIdempotency(tx, s.host.Secret.Tag(idempotencyPurpose+key, ref), "GONE", s.cfg.Now().AddDate(0, 0, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	sub := env.As(context.Background(), auth.RoleSubmitter)
	_, err = client.GetThread(sub, &feedbackv1.GetThreadRequest{FollowUpToken: token})
	if st := status.Convert(err); st.Code() != codes.NotFound || !strings.HasPrefix(st.Message(), "follow_up_token: ") {
		t.Errorf("GetThread of a token whose comment is gone = %v %q, want NotFound on follow_up_token", st.Code(), st.Message())
	}
	_, err = client.FollowUp(sub, &feedbackv1.FollowUpRequest{FollowUpToken: token, Text: "hello?"})
	if st := status.Convert(err); st.Code() != codes.NotFound || !strings.HasPrefix(st.Message(), "follow_up_token: ") {
		t.Errorf("FollowUp of a token whose comment is gone = %v %q, want NotFound on follow_up_token", st.Code(), st.Message())
	}
	_, err = client.SubmitFeedback(sub, &feedbackv1.SubmitFeedbackRequest{Segment: "acme/eng", Text: "again", SubmitterRef: ref, IdempotencyKey: key})
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != rpcerr.InternalMessage {
		t.Errorf("SubmitFeedback whose idempotency record names a lost comment = %v %q, want a bare Internal", st.Code(), st.Message())
	}
}
