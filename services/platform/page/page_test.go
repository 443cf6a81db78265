package page

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
)

func TestTokensAreBoundToTheirListing(t *testing.T) {
	list := &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 10, PageToken: "x"}
	fp, err := Fingerprint(list)
	if err != nil {
		t.Fatal(err)
	}
	// Paging fields do not count; filters and the request type do.
	same, _ := Fingerprint(&feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 50})
	other, _ := Fingerprint(&feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme/eng"})
	rules, _ := Fingerprint(&feedbackv1.ListRoutingRulesRequest{SegmentPrefix: "acme"})
	if string(fp) != string(same) || string(fp) == string(other) || string(fp) == string(rules) {
		t.Fatalf("fingerprints: %x same %x other %x rules %x", fp, same, other, rules)
	}
	key := []byte("2026-11-23/abc")
	tok := Token(fp, key)
	got, err := Read(tok, fp, "ListFeedback")
	if err != nil || string(got) != string(key) {
		t.Fatalf("Read(Token) = %q, %v", got, err)
	}
	if got, err := Read("", fp, "ListFeedback"); got != nil || err != nil {
		t.Fatalf("no token = %q, %v", got, err)
	}
	for _, bad := range []string{Token(other, key), "!!", Token(fp, nil)} {
		_, err := Read(bad, fp, "ListFeedback")
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "page_token: ") {
			t.Errorf("Read(%q) = %v, want InvalidArgument on page_token", bad, err)
		}
	}
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		n    int32
		want int
		ok   bool
	}{{0, 50, true}, {1, 1, true}, {200, 200, true}, {201, 0, false}, {-1, 0, false}} {
		got, err := Size("page_size", tc.n, 50, 200)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Size(%d) = %d, %v", tc.n, got, err)
		}
		if err != nil && !strings.HasPrefix(status.Convert(err).Message(), "page_size: ") {
			t.Errorf("Size(%d) error %v does not name the field", tc.n, err)
		}
	}
}

// TestOpen: a request's paging fields read in one call, each error naming its field.
func TestOpen(t *testing.T) {
	first := &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"}
	size, fp, after, err := Open(first, "ListFeedback", 50, 200)
	if err != nil || size != 50 || after != nil || len(fp) != FingerprintSize {
		t.Fatalf("Open(first page) = %d, %x, %q, %v", size, fp, after, err)
	}
	next := &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 7, PageToken: Token(fp, []byte("k"))}
	if size, _, after, err := Open(next, "ListFeedback", 50, 200); err != nil || size != 7 || string(after) != "k" {
		t.Fatalf("Open(next page) = %d, %q, %v", size, after, err)
	}
	for field, req := range map[string]*feedbackv1.ListFeedbackRequest{
		"page_size":  {SegmentPrefix: "acme", PageSize: 201},
		"page_token": {SegmentPrefix: "acme/eng", PageToken: Token(fp, []byte("k"))},
	} {
		_, _, _, err := Open(req, "ListFeedback", 50, 200)
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), field+": ") {
			t.Errorf("Open(bad %s) = %v, want InvalidArgument naming it", field, err)
		}
	}
}
