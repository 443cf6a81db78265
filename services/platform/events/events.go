// Package events is voix's event contract in code: the streams, and for each kind of event its
// stream, subject, CloudEvents type and source, the format of its id, and the durable consumers
// that read it. Every service, the rebuild, the deploy configs' tests and the audit take these
// names from here; none spells a subject.
//
// Subjects end with the segment the event is about, one token per element:
// voix.feedback.submitted.acme.eng.platform. A subscriber picks an organisation or a subtree
// with Kind.Filters. Ids are the CloudEvents id and the Nats-Msg-Id: stable for one fact, so
// that a republished copy is recognised and applied once.
package events

import (
	"fmt"

	"github.com/voix-dev/voix/services/platform/segment"
)

// Stream is a JetStream stream of the contract and the subjects it captures.
type Stream struct {
	// Name is the stream's name, e.g. "FEEDBACK".
	Name string
	// Subjects is the one wildcard subject it captures, e.g. "voix.feedback.>".
	Subjects string
	// Description is shown by the NATS tools.
	Description string
}

// The streams.
var (
	Feedback  = Stream{"FEEDBACK", "voix.feedback.>", "voix feedback events"}
	Pulse     = Stream{"PULSE", "voix.pulse.>", "voix pulse survey events"}
	Sentiment = Stream{"SENTIMENT", "voix.sentiment.>", "voix sentiment events: scores, aggregates, alerts"}
	// CX holds the customer signals CX tools publish (with the cx NATS user, which may
	// publish only there) for the customer mirror of the sentiment service.
	CX = Stream{"CX", "voix.cx.>", "voix customer-experience signals from CX tools"}
)

// Streams lists every stream of the contract.
func Streams() []Stream { return []Stream{Feedback, Pulse, Sentiment, CX} }

// Kind is one kind of event.
type Kind struct {
	// Stream is the stream the kind is stored in.
	Stream Stream
	// Prefix is the subject without its segment, e.g. "voix.feedback.submitted".
	Prefix string
	// Type is the CloudEvents type, e.g. "voix.feedback.submitted.v1".
	Type string
	// Source is the CloudEvents source: the producing service, e.g. "voix/feedback".
	Source string
}

func kind(s Stream, source, name string) Kind {
	prefix := s.Subjects[:len(s.Subjects)-1] + name // "voix.feedback." + "submitted"
	return Kind{Stream: s, Prefix: prefix, Type: prefix + ".v1", Source: source}
}

// The kinds of event, with their payloads in proto/voix/events/v1.
var (
	// FeedbackSubmitted (FeedbackSubmitted) is a stored comment, on its author's segment.
	FeedbackSubmitted = kind(Feedback, "voix/feedback", "submitted")
	// FeedbackStatusChanged (FeedbackStatusChanged) is a workflow step, on the segment the
	// comment is shown under.
	FeedbackStatusChanged = kind(Feedback, "voix/feedback", "status_changed")
	// FeedbackOverdue (FeedbackOverdue) is a missed deadline, on the shown segment.
	FeedbackOverdue = kind(Feedback, "voix/feedback", "overdue")
	// FeedbackRouted (FeedbackRouted) is a comment given an owner group by the routing rules
	// (at scoring or applied to open comments), a risk flag or hr's AssignOwner, on the shown
	// segment.
	FeedbackRouted = kind(Feedback, "voix/feedback", "routed")
	// FeedbackActionCreated, FeedbackActionUpdated and FeedbackActionDue (ActionPlanChanged)
	// are an action plan created, moved or annotated, and still open past its due day; on the
	// plan's segment.
	FeedbackActionCreated = kind(Feedback, "voix/feedback", "action_created")
	FeedbackActionUpdated = kind(Feedback, "voix/feedback", "action_updated")
	FeedbackActionDue     = kind(Feedback, "voix/feedback", "action_due")
	// PulseWaveOpened and PulseWaveClosed (WaveOpened, WaveClosed) are on the audience.
	PulseWaveOpened = kind(Pulse, "voix/pulse", "wave_opened")
	PulseWaveClosed = kind(Pulse, "voix/pulse", "wave_closed")
	// PulseWaveReminder (WaveReminder) is a pulse wave half over, on the audience: bots remind
	// the people it is still pending for, each in their own message.
	PulseWaveReminder = kind(Pulse, "voix/pulse", "wave_reminder")
	// PulseResponded (ResponseSubmitted) is a stored survey response, on its segment.
	PulseResponded = kind(Pulse, "voix/pulse", "responded")
	// PulseSegmentUpserted (SegmentUpserted) is a headcount set in the segment registry,
	// which pulse owns; on the segment.
	PulseSegmentUpserted = kind(Pulse, "voix/pulse", "segment_upserted")
	// PulseSurveyComment (SurveyComment) is a survey TEXT answer entering the loop as a
	// feedback item, published after the day of the response; on the respondent's segment.
	PulseSurveyComment = kind(Pulse, "voix/pulse", "survey_comment")
	// SentimentScored (ItemScored) is one item's score, for the feedback service only.
	SentimentScored = kind(Sentiment, "voix/sentiment", "scored")
	// SentimentUpdated (SentimentUpdated) is a released aggregate, for portals.
	SentimentUpdated = kind(Sentiment, "voix/sentiment", "updated")
	// SentimentAlert (SentimentAlert) is a significant drop, for portals.
	SentimentAlert = kind(Sentiment, "voix/sentiment", "alert")
	// CXSignal (voix.sentiment.v1.CustomerSignal, protobuf or its JSON form) is a team's
	// customer metric from a CX tool, on the team's segment: voix.cx.acme.support. Its
	// publisher sets ce-type to Type and Nats-Msg-Id (or ce-id) to CXSignalID.
	CXSignal = Kind{Stream: CX, Prefix: "voix.cx", Type: "voix.cx.v1", Source: "voix/cx"}
)

// Kinds lists every kind of event.
func Kinds() []Kind {
	return []Kind{FeedbackSubmitted, FeedbackStatusChanged, FeedbackOverdue, FeedbackRouted,
		FeedbackActionCreated, FeedbackActionUpdated, FeedbackActionDue, PulseWaveOpened, PulseWaveClosed,
		PulseWaveReminder, PulseResponded, PulseSegmentUpserted, PulseSurveyComment, SentimentScored, SentimentUpdated, SentimentAlert, CXSignal}
}

// Subject is the subject of an event of kind k about seg: "voix.feedback.submitted.acme.eng".
func (k Kind) Subject(seg segment.Path) string {
	if seg.IsZero() {
		return k.Prefix
	}
	return k.Prefix + "." + seg.Subject()
}

// All is the filter of every event of kind k: "voix.feedback.submitted.>".
func (k Kind) All() string { return k.Prefix + ".>" }

// Filters are the subjects of every event of kind k about seg or below it: NATS's ">" needs
// one more token, so seg itself has a subject of its own.
func (k Kind) Filters(seg segment.Path) []string {
	s := k.Subject(seg)
	return []string{s, s + ".>"}
}

// Durable consumers. Changing a name makes its consumer replay its stream from the start.
const (
	// DurableSentimentFeedback applies FeedbackSubmitted in the sentiment service.
	DurableSentimentFeedback = "sentiment-feedback"
	// DurableSentimentPulse applies PulseResponded in the sentiment service.
	DurableSentimentPulse = "sentiment-pulse"
	// DurableFeedbackScored applies SentimentScored in the feedback service.
	DurableFeedbackScored = "feedback-scored"
	// DurableFeedbackSegments applies PulseSegmentUpserted in the feedback service.
	DurableFeedbackSegments = "feedback-segments"
	// DurableFeedbackNotify turns FeedbackRouted, FeedbackOverdue and the action plan events
	// into deliveries to owner groups' notification targets in the feedback service.
	DurableFeedbackNotify = "feedback-notify"
	// DurableFeedbackSurveyComments turns PulseSurveyComment into feedback items (channel
	// SURVEY) in the feedback service.
	DurableFeedbackSurveyComments = "feedback-survey-comments"
	// DurablePulseActions keeps, in the pulse service, the action plans' titles and statuses
	// from FeedbackActionCreated and FeedbackActionUpdated, for "you said, we did".
	DurablePulseActions = "pulse-actions"
	// DurableSentimentCX applies CXSignal in the sentiment service (the customer mirror).
	DurableSentimentCX = "sentiment-cx"
	// DurableSentimentSegments applies PulseSegmentUpserted in the sentiment service, which
	// records customer signals only for registered segments.
	DurableSentimentSegments = "sentiment-segments"
)

// Event ids, one function per kind: the fact an event states names it.

// SubmittedID is the id of FeedbackSubmitted for comment feedbackID.
func SubmittedID(feedbackID string) string { return "feedback.submitted/" + feedbackID }

// StatusChangedID is the id of the status change numbered seq in the thread of feedbackID.
func StatusChangedID(feedbackID string, seq uint64) string {
	return fmt.Sprintf("feedback.status_changed/%s/%d", feedbackID, seq)
}

// OverdueID is the id of FeedbackOverdue for feedbackID and deadline ("acknowledge" or
// "resolve").
func OverdueID(feedbackID, deadline string) string {
	return "feedback.overdue/" + feedbackID + "/" + deadline
}

// RoutedID is the id of FeedbackRouted for feedbackID given to owner group owner.
func RoutedID(feedbackID, owner string) string {
	return "feedback.routed/" + feedbackID + "/" + owner
}

// ActionCreatedID is the id of the creation of action plan planID.
func ActionCreatedID(planID string) string { return "feedback.action_created/" + planID }

// ActionUpdatedID is the id of change seq (1, 2, …) of action plan planID.
func ActionUpdatedID(planID string, seq uint32) string {
	return fmt.Sprintf("feedback.action_updated/%s/%d", planID, seq)
}

// ActionDueID is the id of the notice that plan planID is still open past due day day
// ("2006-01-02"): a new due day is a new fact.
func ActionDueID(planID, day string) string { return "feedback.action_due/" + planID + "/" + day }

// WaveOpenedID and WaveClosedID name a wave of a survey.
func WaveOpenedID(surveyID string, wave uint32) string {
	return fmt.Sprintf("pulse.wave_opened/%s/%d", surveyID, wave)
}

// WaveClosedID is the id of WaveClosed.
func WaveClosedID(surveyID string, wave uint32) string {
	return fmt.Sprintf("pulse.wave_closed/%s/%d", surveyID, wave)
}

// WaveReminderID is the id of WaveReminder.
func WaveReminderID(surveyID string, wave uint32) string {
	return fmt.Sprintf("pulse.wave_reminder/%s/%d", surveyID, wave)
}

// RespondedID is the id of ResponseSubmitted for responseID.
func RespondedID(responseID string) string { return "pulse.responded/" + responseID }

// SegmentUpsertedID names version version of a segment's registry entry.
func SegmentUpsertedID(path string, version uint64) string {
	return fmt.Sprintf("pulse.segment_upserted/%s/%d", path, version)
}

// SurveyCommentID is the id of SurveyComment for the feedback item commentID.
func SurveyCommentID(commentID string) string { return "pulse.survey_comment/" + commentID }

// ScoredID is the id of ItemScored for a comment.
func ScoredID(feedbackID string) string { return "sentiment.scored/feedback/" + feedbackID }

// UpdatedID names a release: segment, dimension, window and version.
func UpdatedID(seg string, dim int32, window string, version uint64) string {
	return fmt.Sprintf("sentiment.updated/%s/%d/%s/%d", seg, dim, window, version)
}

// AlertID is the id of SentimentAlert alertID.
func AlertID(alertID string) string { return "sentiment.alert/" + alertID }

// CXSignalID is the id of the customer signal that source (the CX tool's source_id) gives
// for metric (the CustomerMetric's name) of seg at time (RFC 3339): the fact the signal states.
func CXSignalID(seg, metric, time, source string) string {
	return "cx.signal/" + seg + "/" + metric + "/" + time + "/" + source
}
