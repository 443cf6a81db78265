package feedback

import (
	"fmt"
	"strings"
	"unicode/utf8"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/scrub"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Limits of the API (feedback.proto comments).
const (
	maxTextRunes = 4000
	maxRefBytes  = 256
	maxKeyBytes  = 128
	maxIDBytes   = 64
	maxHeadcount = 10_000_000
)

// submission is a validated, scrubbed SubmitFeedback.
type submission struct {
	seg     segment.Path
	text    string // scrubbed
	channel feedbackv1.Channel
	ref     string
	key     string
	dims    []commonv1.Dimension
	lang    string
}

// validateSubmit checks every field of req and scrubs the text. Errors are InvalidArgument
// statuses naming the field and the rule; the segment's place under the caller's token is
// checked by the caller (auth.CheckSegment), after this.
func validateSubmit(req *feedbackv1.SubmitFeedbackRequest) (submission, error) {
	var sub submission
	seg, err := segment.Parse(req.Segment)
	if err != nil {
		return sub, rpcerr.InvalidArgument("segment", err.Error())
	}
	text, err := checkText("text", req.Text)
	if err != nil {
		return sub, err
	}
	if err := checkRef("submitter_ref", req.SubmitterRef); err != nil {
		return sub, err
	}
	if len(req.IdempotencyKey) > maxKeyBytes {
		return sub, rpcerr.InvalidArgument("idempotency_key", fmt.Sprintf("must be at most %d bytes, got %d", maxKeyBytes, len(req.IdempotencyKey)))
	}
	if _, ok := feedbackv1.Channel_name[int32(req.Channel)]; !ok {
		return sub, rpcerr.InvalidArgument("channel", fmt.Sprintf("unknown value %d", req.Channel))
	}
	channel := req.Channel
	if channel == feedbackv1.Channel_CHANNEL_UNSPECIFIED {
		channel = feedbackv1.Channel_CHANNEL_API
	}
	dims, err := checkDimensions("dimensions", req.Dimensions)
	if err != nil {
		return sub, err
	}
	switch req.Language {
	case "", "fr", "en":
	default:
		return sub, rpcerr.InvalidArgument("language", fmt.Sprintf(`must be "fr", "en" or empty, got %q`, clip(req.Language)))
	}
	return submission{
		seg: seg, text: text, channel: channel, ref: req.SubmitterRef,
		key: req.IdempotencyKey, dims: dims, lang: req.Language,
	}, nil
}

// checkText validates a comment and returns it trimmed and scrubbed. The rune limit applies to
// what the author wrote, before scrubbing, so that the rule the caller reads is the one applied.
func checkText(field, s string) (string, error) {
	s, err := checkNote(field, s)
	if err != nil {
		return "", err
	}
	out, _ := scrub.Text(s)
	return out, nil
}

// checkNote validates a responder's text and returns it trimmed. Responders speak for the
// company under their role, so their text is not scrubbed: a contact address in an answer is
// often the point of it.
func checkNote(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", rpcerr.InvalidArgument(field, "must be valid UTF-8")
	}
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "", rpcerr.InvalidArgument(field, fmt.Sprintf("required: 1..%d characters after trimming spaces", maxTextRunes))
	case n > maxTextRunes:
		return "", rpcerr.InvalidArgument(field, fmt.Sprintf("must be at most %d characters, got %d", maxTextRunes, n))
	}
	if strings.ContainsRune(s, 0) {
		return "", rpcerr.InvalidArgument(field, "must not contain NUL characters")
	}
	return s, nil
}

// checkToken validates a follow-up token's shape; whether it opens a thread is the store's
// answer.
func checkToken(field, t string) error {
	switch {
	case t == "":
		return rpcerr.InvalidArgument(field, "required: the token SubmitFeedback returned")
	case len(t) > maxIDBytes:
		return rpcerr.InvalidArgument(field, fmt.Sprintf("must be at most %d bytes", maxIDBytes))
	}
	return nil
}

// checkRef validates a submitter ref, which is never stored.
func checkRef(field, ref string) error {
	switch {
	case ref == "":
		return rpcerr.InvalidArgument(field, "required: the caller's opaque id of the person typing")
	case len(ref) > maxRefBytes:
		return rpcerr.InvalidArgument(field, fmt.Sprintf("must be at most %d bytes, got %d", maxRefBytes, len(ref)))
	}
	return nil
}

// checkStatus validates a target status of UpdateStatus.
func checkStatus(field string, st commonv1.FeedbackStatus) error {
	if _, ok := commonv1.FeedbackStatus_name[int32(st)]; !ok {
		return rpcerr.InvalidArgument(field, fmt.Sprintf("unknown status %d", st))
	}
	if st == commonv1.FeedbackStatus_FEEDBACK_STATUS_UNSPECIFIED {
		return rpcerr.InvalidArgument(field, "required")
	}
	return nil
}

// checkDimensions rejects unknown values, UNSPECIFIED and duplicates.
func checkDimensions(field string, dims []commonv1.Dimension) ([]commonv1.Dimension, error) {
	seen := map[commonv1.Dimension]bool{}
	for i, d := range dims {
		f := fmt.Sprintf("%s[%d]", field, i)
		if _, ok := commonv1.Dimension_name[int32(d)]; !ok {
			return nil, rpcerr.InvalidArgument(f, fmt.Sprintf("unknown dimension %d", d))
		}
		if d == commonv1.Dimension_DIMENSION_UNSPECIFIED {
			return nil, rpcerr.InvalidArgument(f, "must not be DIMENSION_UNSPECIFIED")
		}
		if seen[d] {
			return nil, rpcerr.InvalidArgument(f, fmt.Sprintf("%s is listed twice", d))
		}
		seen[d] = true
	}
	return dims, nil
}

// checkID validates a feedback id as the service issues them.
func checkID(field, id string) error {
	switch {
	case id == "":
		return rpcerr.InvalidArgument(field, "required")
	case len(id) > maxIDBytes:
		return rpcerr.InvalidArgument(field, fmt.Sprintf("must be at most %d bytes", maxIDBytes))
	}
	return nil
}

// clip shortens a bad value quoted back in an error message.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}
