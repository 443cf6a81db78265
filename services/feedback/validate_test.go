package feedback

import (
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
)

// Invalid UTF-8 cannot travel through grpc-go (proto3 strings are checked when marshalled),
// but another client or a future transport could send it: the validator refuses it itself.
func TestValidateSubmitRefusesInvalidUTF8(t *testing.T) {
	_, err := validateSubmit(&feedbackv1.SubmitFeedbackRequest{Segment: "acme", Text: "caf\xe9", SubmitterRef: "U1"})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "text:") {
		t.Fatalf("validateSubmit(invalid UTF-8) = %v, want InvalidArgument on text", err)
	}
}

// FuzzValidateSubmit checks that no input panics, that every rejection is an InvalidArgument
// naming a field, and that whatever is accepted respects the documented limits.
func FuzzValidateSubmit(f *testing.F) {
	f.Add("acme/eng", "Trop de réunions, écrivez à a@b.fr", "U1", "k", "fr")
	f.Add("acme//x", "\xff", "", strings.Repeat("k", 129), "de")
	f.Add("Acme", "   ", "U1", "", "")
	f.Fuzz(func(t *testing.T, seg, text, ref, key, lang string) {
		sub, err := validateSubmit(&feedbackv1.SubmitFeedbackRequest{
			Segment: seg, Text: text, SubmitterRef: ref, IdempotencyKey: key, Language: lang,
		})
		if err != nil {
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code %v for %q", st.Code(), st.Message())
			}
			field, _, ok := strings.Cut(st.Message(), ": ")
			if !ok || field == "" {
				t.Fatalf("message %q names no field", st.Message())
			}
			return
		}
		if sub.text == "" || !utf8.ValidString(sub.text) || strings.TrimSpace(sub.text) != sub.text {
			t.Fatalf("accepted text %q", sub.text)
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(text)); n < 1 || n > maxTextRunes {
			t.Fatalf("accepted a text of %d runes", n)
		}
		if sub.seg.String() != seg || ref == "" || len(ref) > maxRefBytes || len(key) > maxKeyBytes {
			t.Fatalf("accepted segment %q ref of %d bytes key of %d bytes", seg, len(ref), len(key))
		}
	})
}
