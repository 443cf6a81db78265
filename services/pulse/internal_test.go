package pulse

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

// Invalid UTF-8 cannot travel through gRPC (protobuf rejects it in proto3 strings on both
// ends), so the server-side checks that back it up are tested here, directly.
func TestInvalidUTF8IsInvalidArgument(t *testing.T) {
	const bad = "caf\xe9"
	check := func(t *testing.T, err error, field string) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), field) || !strings.Contains(st.Message(), "UTF-8") {
			t.Fatalf("got %v %q, want InvalidArgument naming %s and UTF-8", st.Code(), st.Message(), field)
		}
	}
	t.Run("localized text", func(t *testing.T) {
		lt := &commonv1.LocalizedText{Translations: map[string]string{"en": bad}}
		check(t, checkLocalized("survey.title", lt, "en"), `survey.title.translations["en"]`)
	})
	t.Run("text answer", func(t *testing.T) {
		asked := map[string]*pulsev1.Question{"say": {Id: "say", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT}}
		_, err := scoreAnswers([]*pulsev1.Answer{{QuestionId: "say", Value: &pulsev1.Answer_Text{Text: bad}}}, asked)
		check(t, err, "answers[0].text")
	})
}

func TestPathAndAncestors(t *testing.T) {
	got := pathAndAncestors("acme/eng/web")
	want := []string{"acme/eng/web", "acme/eng", "acme"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pathAndAncestors = %v, want %v", got, want)
	}
}
