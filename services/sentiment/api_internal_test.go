package sentiment

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// Invalid UTF-8 cannot travel through grpc-go (proto3 strings are checked when marshalled),
// but another client could send it: the handler refuses it itself, before any scoring.
func TestAnalyzeTextRefusesInvalidUTF8(t *testing.T) {
	_, err := (&api{}).AnalyzeText(context.Background(), &sentimentv1.AnalyzeTextRequest{Text: "ok \xff"})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "text:") {
		t.Fatalf("AnalyzeText(invalid UTF-8) = %v, want InvalidArgument on text", err)
	}
}

// A watch that cannot subscribe (here: the service's NATS connection is closed) is Unavailable
// through the rules table, its message naming the field first.
func TestWatchWithoutNATSIsUnavailable(t *testing.T) {
	env := servicetest.New(t)
	s, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig()})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	client := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, s.Addr()))
	s.host.Bus.Conn().Close()

	ctx, cancel := context.WithTimeout(env.As(context.Background(), auth.RoleHR), 10*time.Second)
	defer cancel()
	stream, err := client.WatchSentiment(ctx, &sentimentv1.WatchSentimentRequest{SegmentPrefix: "acme"})
	if err == nil {
		_, err = stream.Recv()
	}
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.HasPrefix(st.Message(), "segment_prefix: ") {
		t.Fatalf("WatchSentiment without NATS = %v, want Unavailable naming segment_prefix", err)
	}
}
