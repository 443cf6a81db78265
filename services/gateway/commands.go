package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
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

// callTimeout bounds a call to the services: Slack waits 3 seconds for an answer.
const callTimeout = 2500 * time.Millisecond

// usage is the help of /feedback. It states the rule of parseFeedback in short.
const usage = "Share feedback anonymously with `/feedback <what you want to say>`: I give you a follow-up code. " +
	"See answers with `/feedback status <code>` and answer with `/feedback reply <code> <text>`. " +
	"Keep the code to yourself: a message holding something shaped like a code (26 letters and digits) is never sent as feedback. " +
	"Your team: `/feedback team` shows it and the teams to pick from, `/feedback team <team>` picks one (unless HR set it). " +
	"Language of survey questions: `/feedback lang fr` or `/feedback lang en`. " +
	"What is being done about what people said: `/feedback actions`. " +
	"A message starting with status or reply followed by a code, or of one or two words starting with status, reply, team, lang, actions or help, " +
	"is read as a command and never sent as feedback."

// Help for a malformed subcommand. Each says nothing was sent, and how to send it as feedback
// if that was meant.
var topicHelp = map[string]string{
	kwStatus: "To see the answers to your feedback, send `/feedback status <code>` with the 26-character code I gave you.",
	kwReply:  "To add to your thread, send `/feedback reply <code> <your text>` with the 26-character code I gave you.",
	kwTeam:   "To pick your team, send `/feedback team <team>` with the team alone, e.g. `/feedback team acme/eng`; `/feedback team` lists them.",
	kwLang:   "To choose the language of survey questions, send `/feedback lang fr` or `/feedback lang en`.",
}

const notAComment = " Nothing was sent. If you meant this as feedback, write a longer sentence that does not start with that word."

// codeInText answers a comment that holds something shaped like a follow-up code.
const codeInText = "I did not send this: it looks like it contains a follow-up code, and whoever reads it could read and answer that thread as you. " +
	"To add to a thread, send `/feedback reply <code> <text>`; to share new feedback, send it again without the code."

func (s *Service) handleCommand(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	// Slack checks the endpoint's certificate with a form holding ssl_check=1 (and a token),
	// signed or not, and wants 200 with nothing in it. Such a form is never a command.
	if vals, err := url.ParseQuery(string(body)); err == nil && vals.Has("ssl_check") {
		w.WriteHeader(http.StatusOK)
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
	out.Text = escapeSlack(out.Text)
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out)
}

// feedbackCommand runs /feedback and its subcommands (parseFeedback says which).
func (s *Service) feedbackCommand(ctx context.Context, cmd command, body []byte) reply {
	in := parseFeedback(cmd.Text)
	switch in.verb {
	case verbHelp:
		if h, ok := topicHelp[in.topic]; ok {
			return ephemeral("%s%s", h, notAComment)
		}
		return ephemeral("%s", usage)
	case verbCodeInText:
		return ephemeral("%s", codeInText)
	case verbStatus:
		out := s.status(ctx, in.code)
		if in.extra {
			out.Text += "\n(The words after the code were not sent. To add to the thread, use `/feedback reply <code> <text>`.)"
		}
		return out
	case verbReply:
		if containsCodeShape(in.arg) {
			return ephemeral("%s", codeInText)
		}
		return s.followUp(ctx, in.code, in.arg)
	case verbTeam:
		return s.pickTeam(ctx, cmd, in.arg)
	case verbLang:
		return s.setLanguage(cmd, in.arg, "/feedback")
	case verbActions:
		return s.actions(ctx, cmd)
	}
	return s.submit(ctx, cmd, in.text, body)
}

// setLanguage runs "/feedback lang <fr|en>" and "/pulse lang <fr|en>".
func (s *Service) setLanguage(cmd command, typed, command string) reply {
	lang, ok := parseLanguage(typed)
	if !ok {
		if command == "/pulse" { // in the person's language, like the rest of /pulse (pulse.go)
			cur := "en"
			if m, r := s.lookup(cmd); r == nil {
				cur = botLang(m)
			}
			return ephemeral("%s", pulseTr(cur, "langhelp"))
		}
		return ephemeral("To choose the language of survey questions, send `%s lang fr` or `%s lang en`.%s", command, command, notAComment)
	}
	m, r := s.lookup(cmd)
	if r != nil {
		return *r
	}
	if err := s.dir.SetLanguage(m.org, cmd.TeamID, cmd.UserID, lang); err != nil {
		s.cfg.Log.Error("directory: set language", "err", err)
		return ephemeral("%s", pulseTr(lang, "langfailed"))
	}
	// Said in the language just chosen.
	return ephemeral("%s", pulseTr(lang, "langsaved"))
}

// submit files a comment for the person's segment. The text is never kept here: if the
// person has no team, they are told plainly that it was not sent.
func (s *Service) submit(ctx context.Context, cmd command, text string, body []byte) reply {
	m, r := s.lookup(cmd)
	if r != nil {
		return *r
	}
	seg, r := s.segmentOf(ctx, m, "I did not send this (and kept no copy): send it again once your team is set.")
	if r != nil {
		return *r
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
	// "You said, we did": the action plans HR linked to this comment, as the author may see
	// them (title, status, due day; never the owner group).
	if len(th.ActionPlans) > 0 {
		b.WriteString("\nAction plans started from your feedback:")
		for _, p := range th.ActionPlans {
			fmt.Fprintf(&b, "\n• *%s*: %s, due %s", p.Title, planStatusText("en", p.Status), dayIn("en", p.DueDay.AsTime()))
		}
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
	s.cfg.Log.Warn("feedback call failed", "action", action, "code", st.Code().String(), "message", redactCodes(st.Message()))
	switch st.Code() {
	case codes.NotFound:
		return ephemeral("I can't find feedback with that code. Check it and try again.")
	case codes.ResourceExhausted:
		return ephemeral("You have shared a lot today, thank you! Please come back tomorrow.")
	case codes.InvalidArgument:
		if field, rule, ok := strings.Cut(st.Message(), ": "); ok && field == "text" {
			if strings.HasPrefix(rule, "must ") {
				return ephemeral("That message can't be sent: the text %s.", strings.TrimSuffix(rule, "."))
			}
			return ephemeral("That message can't be sent: %s.", strings.TrimSuffix(rule, "."))
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
