package sentiment

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
)

// Invalid UTF-8 cannot travel through grpc-go (proto3 strings are checked when marshalled),
// but another client could send it: the handler refuses it itself, before any scoring.
func TestAnalyzeTextRefusesInvalidUTF8(t *testing.T) {
	_, err := (&api{}).AnalyzeText(context.Background(), &sentimentv1.AnalyzeTextRequest{Text: "ok \xff"})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "text:") {
		t.Fatalf("AnalyzeText(invalid UTF-8) = %v, want InvalidArgument on text", err)
	}
}
