package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// reply is Slack's response format for a slash command.
type reply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// ephemeral answers only the person typing: feedback codes and threads are theirs alone.
func ephemeral(format string, args ...any) reply {
	return reply{ResponseType: "ephemeral", Text: fmt.Sprintf(format, args...)}
}

// codeRule is the shape of a follow-up code (the feedback service's token): 26 characters of
// base32. Only a word of that shape makes "status" or "reply" a subcommand, so a comment that
// starts with those words is still a comment.
var codeRule = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// callTimeout bounds a call to the services: Slack waits 3 seconds for an answer.
const callTimeout = 2500 * time.Millisecond

const usage = "Share feedback anonymously with `/feedback <what you want to say>`. " +
	"Follow it with `/feedback status <code>` and answer with `/feedback reply <code> <text>`. " +
	"Set your team once with `/feedback team <team>`, e.g. `/feedback team acme/eng`."

func (s *Service) handleCommand(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if err := verify(s.cfg.SigningSecret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, s.cfg.Now()); err != nil {
		s.cfg.Log.Warn("slash command refused", "reason", err.Error())
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	cmd, err := parseCommand(body)
	if err != nil {
		s.cfg.Log.Warn("slash command refused", "reason", err.Error())
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	var out reply
	switch cmd.Command {
	case "/feedback":
		out = s.feedbackCommand(ctx, cmd, body)
	case "/pulse":
		out = s.pulseCommand(ctx, cmd, body)
	default:
		out = ephemeral("I don't know %s yet. %s", cmd.Command, usage)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// feedbackCommand runs /feedback and its subcommands.
func (s *Service) feedbackCommand(ctx context.Context, cmd command, body []byte) reply {
	text := strings.TrimSpace(cmd.Text)
	verb, rest, _ := strings.Cut(text, " ")
	rest = strings.TrimSpace(rest)
	code, after, _ := strings.Cut(rest, " ")
	switch {
	case text == "" || text == "help":
		return ephemeral("%s", usage)
	case verb == "status" && codeRule.MatchString(rest):
		return s.status(ctx, rest)
	case verb == "reply" && codeRule.MatchString(code) && strings.TrimSpace(after) != "":
		return s.followUp(ctx, code, strings.TrimSpace(after))
	case verb == "team" && !strings.ContainsAny(rest, " \t\n"):
		if p, err := segment.Parse(rest); err == nil {
			return s.pickTeam(cmd, p)
		}
	}
	return s.submit(ctx, cmd, text, body)
}

func (s *Service) pickTeam(cmd command, p segment.Path) reply {
	if err := s.dir.Set([]Entry{{TeamID: cmd.TeamID, UserID: cmd.UserID, Segment: p.String()}}); err != nil {
		s.cfg.Log.Error("directory: set", "err", err)
		return ephemeral("Sorry, I could not save your team. Please try again in a minute.")
	}
	return ephemeral("Got it: your feedback will count for %s. Nobody can see who you are.", p)
}

func (s *Service) submit(ctx context.Context, cmd command, text string, body []byte) reply {
	seg, ok := s.dir.Lookup(cmd.TeamID, cmd.UserID)
	if !ok {
		return ephemeral("I don't know your team yet, so I did not send this. Pick it with `/feedback team <team>` (for example `/feedback team acme/eng`), then send your feedback again.")
	}
	// Slack retries a command whose answer was slow with the same body: the same key makes the
	// retry return the first comment instead of a second one.
	key := sha256.Sum256(body)
	resp, err := s.feedback.SubmitFeedback(ctx, &feedbackv1.SubmitFeedbackRequest{
		Segment:        seg.String(),
		Text:           text,
		Channel:        feedbackv1.Channel_CHANNEL_CHAT,
		SubmitterRef:   submitterRef(cmd),
		IdempotencyKey: "slack-" + hex.EncodeToString(key[:20]),
	})
	if err != nil {
		return s.failed("submit", err)
	}
	return ephemeral("Thank you, your feedback is in, anonymously. Your follow-up code is `%s`: keep it, it is the only way to see answers (`/feedback status %s`). Nobody else has it, us included.",
		resp.FollowUpToken, resp.FollowUpToken)
}

func (s *Service) status(ctx context.Context, code string) reply {
	th, err := s.feedback.GetThread(ctx, &feedbackv1.GetThreadRequest{FollowUpToken: code})
	if err != nil {
		return s.failed("status", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your feedback of %s is *%s*", th.Feedback.CreateDay.AsTime().Format("2 Jan 2006"), statusWord(th.Feedback.Status))
	if th.Feedback.Upvotes > 0 {
		fmt.Fprintf(&b, " (%d people agree)", th.Feedback.Upvotes)
	}
	b.WriteString(".")
	for _, m := range th.Messages {
		who := "You"
		if m.Author == feedbackv1.Author_AUTHOR_RESPONDER {
			who = "Answer"
		}
		fmt.Fprintf(&b, "\n• %s, %s", who, m.CreateDay.AsTime().Format("2 Jan"))
		if m.Status != commonv1.FeedbackStatus_FEEDBACK_STATUS_UNSPECIFIED {
			fmt.Fprintf(&b, " (now %s)", statusWord(m.Status))
		}
		fmt.Fprintf(&b, ": %s", m.Text)
	}
	return ephemeral("%s", b.String())
}

func (s *Service) followUp(ctx context.Context, code, text string) reply {
	if _, err := s.feedback.FollowUp(ctx, &feedbackv1.FollowUpRequest{FollowUpToken: code, Text: text}); err != nil {
		return s.failed("reply", err)
	}
	return ephemeral("Sent, anonymously. See the thread with `/feedback status %s`.", code)
}

// failed turns a service error into a sentence for the person; the details go to the logs
// (without the person: the log line names the action and the status only).
func (s *Service) failed(action string, err error) reply {
	st := status.Convert(err)
	s.cfg.Log.Warn("feedback call failed", "action", action, "code", st.Code().String(), "message", st.Message())
	switch st.Code() {
	case codes.NotFound:
		return ephemeral("I can't find feedback with that code. Check it and try again.")
	case codes.ResourceExhausted:
		return ephemeral("You have shared a lot today, thank you! Please come back tomorrow.")
	case codes.InvalidArgument:
		if field, rule, ok := strings.Cut(st.Message(), ": "); ok && field == "text" {
			return ephemeral("That message can't be sent: it %s.", strings.TrimPrefix(rule, "must "))
		}
		return ephemeral("That can't be sent as it is. Please rephrase and try again.")
	case codes.PermissionDenied:
		return ephemeral("Your team is outside what this app may send to. Pick your team again with `/feedback team <team>`.")
	}
	return ephemeral("Sorry, something went wrong on our side and nothing was sent. Please try again in a minute.")
}

// submitterRef is the person as the feedback service sees them: opaque, never stored there.
func submitterRef(cmd command) string { return "slack:" + cmd.TeamID + ":" + cmd.UserID }

func statusWord(st commonv1.FeedbackStatus) string {
	switch st {
	case commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW:
		return "waiting to be read"
	case commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED:
		return "acknowledged"
	case commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS:
		return "in progress"
	case commonv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED:
		return "resolved"
	case commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED:
		return "declined"
	}
	return "unknown"
}
