package events

import (
	"strings"
	"testing"

	"github.com/voix-dev/voix/services/platform/segment"
)

// TestKindsAreInTheirStreams: every kind's subjects fall in its stream's wildcard, types
// follow the subject, and no two kinds share a subject prefix or a type.
func TestKindsAreInTheirStreams(t *testing.T) {
	seg := segment.MustParse("acme/eng/platform")
	seen := map[string]bool{}
	for _, k := range Kinds() {
		base := strings.TrimSuffix(k.Stream.Subjects, ">")
		for _, s := range append(k.Filters(seg), k.Subject(seg), k.All()) {
			if !strings.HasPrefix(s, base) {
				t.Errorf("%s: subject %s is outside stream %s (%s)", k.Type, s, k.Stream.Name, k.Stream.Subjects)
			}
		}
		if got := k.Subject(seg); got != k.Prefix+".acme.eng.platform" {
			t.Errorf("%s: Subject = %s", k.Type, got)
		}
		if k.Type != k.Prefix+".v1" || !strings.HasPrefix(k.Source, "voix/") {
			t.Errorf("%s: type %s, source %s", k.Prefix, k.Type, k.Source)
		}
		if seen[k.Prefix] || seen[k.Type] {
			t.Errorf("%s is defined twice", k.Prefix)
		}
		seen[k.Prefix], seen[k.Type] = true, true
	}
	if got := FeedbackSubmitted.Subject(segment.MustParse("acme")); got != "voix.feedback.submitted.acme" {
		t.Errorf("organisation subject = %s", got)
	}
	if got := SentimentUpdated.Filters(segment.MustParse("acme")); got[0] != "voix.sentiment.updated.acme" || got[1] != "voix.sentiment.updated.acme.>" {
		t.Errorf("filters = %v", got)
	}
}
