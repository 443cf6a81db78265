package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// The records below are the pulse store's own types: the service maps them to and from the
// API and event messages, so that the API, the events and this layout change independently.
// They are encoded as JSON; enumerations are stored by name, so that no value on disk depends
// on a number in a .proto file.

// Text is a text by language ("fr", "en"). A nil Text is "no text"; an empty one is kept as
// such.
type Text map[string]string

// SurveyKind says when a survey is answered.
type SurveyKind string

// The survey kinds.
const (
	KindUnspecified SurveyKind = ""
	KindPulse       SurveyKind = "pulse"
	KindOnboarding  SurveyKind = "onboarding"
	KindExit        SurveyKind = "exit"
	KindDiagnostic  SurveyKind = "diagnostic"
	// Moments of truth beyond onboarding and exit (issue 15).
	KindCandidate       SurveyKind = "candidate"
	KindInternalMove    SurveyKind = "internal_move"
	KindManagerChange   SurveyKind = "manager_change"
	KindReturnFromLeave SurveyKind = "return_from_leave"
	KindAnniversary     SurveyKind = "anniversary"
)

// SurveyState is a survey's lifecycle.
type SurveyState string

// The survey states.
const (
	StateUnspecified SurveyState = ""
	StateActive      SurveyState = "active"
	StateClosed      SurveyState = "closed"
)

// Cadence is how often a survey opens a wave.
type Cadence string

// The cadences.
const (
	CadenceUnspecified Cadence = ""
	CadenceOnce        Cadence = "once"
	CadenceWeekly      Cadence = "weekly"
	CadenceBiweekly    Cadence = "biweekly"
	CadenceMonthly     Cadence = "monthly"
	CadenceQuarterly   Cadence = "quarterly"
)

// QuestionKind is how a question is answered.
type QuestionKind string

// The question kinds.
const (
	QuestionUnspecified QuestionKind = ""
	QuestionScale       QuestionKind = "scale"
	QuestionENPS        QuestionKind = "enps"
	QuestionChoice      QuestionKind = "choice"
	QuestionText        QuestionKind = "text"
)

// Dimension is what a question measures.
type Dimension string

// The dimensions.
const (
	DimensionUnspecified Dimension = ""
	DimensionMeaning     Dimension = "meaning"
	DimensionGrowth      Dimension = "growth"
	DimensionConnections Dimension = "connections"
	DimensionImage       Dimension = "image"
	DimensionEcosystem   Dimension = "ecosystem"
	DimensionRecognition Dimension = "recognition"
	DimensionWorkload    Dimension = "workload"
	DimensionEngagement  Dimension = "engagement"
)

// Survey is a stored survey: its definition, state and waves. Audience is a segment path as
// the service parsed it.
type Survey struct {
	ID               string      `json:"id"`
	Title            Text        `json:"title"`
	Kind             SurveyKind  `json:"kind"`
	Audience         string      `json:"audience"`
	Cadence          Cadence     `json:"cadence"`
	Schedule         Schedule    `json:"schedule"`
	Questions        []Question  `json:"questions"`
	QuestionsPerWave uint32      `json:"questions_per_wave,omitempty"`
	MinGroupSize     uint32      `json:"min_group_size"`
	CommentThreshold uint32      `json:"comment_threshold"`
	DefaultLanguage  string      `json:"default_language"`
	TemplateID       string      `json:"template_id,omitempty"`
	State            SurveyState `json:"state"`
	Waves            []Wave      `json:"waves,omitempty"`
	LiveResults      bool        `json:"live_results,omitempty"`
	Created          time.Time   `json:"created"`
	// LifecycleDelay is set for lifecycle surveys only; nil otherwise, which is not 0.
	LifecycleDelay *time.Duration `json:"lifecycle_delay,omitempty"`
}

// Schedule is when a survey's waves open and for how long.
type Schedule struct {
	FirstOpensAt   time.Time     `json:"first_opens_at"`
	TimeZone       string        `json:"time_zone,omitempty"`
	ResponseWindow time.Duration `json:"response_window"`
}

// Question is one question of a survey's bank.
type Question struct {
	ID           string       `json:"id"`
	Kind         QuestionKind `json:"kind"`
	Dimension    Dimension    `json:"dimension"`
	Text         Text         `json:"text"`
	Options      []Option     `json:"options,omitempty"`
	Multiple     bool         `json:"multiple,omitempty"`
	Always       bool         `json:"always,omitempty"`
	EveryNthWave uint32       `json:"every_nth_wave,omitempty"`
}

// Option is one option of a CHOICE question.
type Option struct {
	ID    string `json:"id"`
	Label Text   `json:"label"`
}

// Wave is one numbered opening of a survey. Closed records an explicit close only: a wave
// whose closing time has passed is closed whatever the flag says.
type Wave struct {
	Number      uint32    `json:"number"`
	OpensAt     time.Time `json:"opens_at"`
	ClosesAt    time.Time `json:"closes_at"`
	QuestionIDs []string  `json:"question_ids,omitempty"`
	Closed      bool      `json:"closed,omitempty"`
}

// Response is one anonymous response. ID, SurveyID and Wave are its key; the value holds the
// rest. Nothing in it names or tags the person who gave it.
type Response struct {
	ID       string `json:"-"`
	SurveyID string `json:"-"`
	Wave     uint32 `json:"-"`
	// Segment is the respondent's segment path.
	Segment string `json:"segment"`
	// Day is the UTC midnight of the day it was given: never a finer time.
	Day     time.Time `json:"day"`
	Answers []Answer  `json:"answers"`
}

// Answer is one scored answer of a response.
type Answer struct {
	QuestionID string       `json:"question_id"`
	Kind       QuestionKind `json:"kind"`
	// Value is the SCALE (1..5) or ENPS (0..10) value.
	Value int32 `json:"value,omitempty"`
	// OptionIDs are the CHOICE options chosen.
	OptionIDs []string `json:"option_ids,omitempty"`
	// Text is the scrubbed TEXT answer.
	Text string `json:"text,omitempty"`
}

// Segment is a segment's entry in the registry, keyed by its path.
type Segment struct {
	// Headcount is the number of people in the segment and below it; 0 means unknown.
	Headcount uint32 `json:"headcount"`
	// Version increases with every change of Headcount; 0 for a segment never counted.
	Version uint64 `json:"version"`
	// Updated is when the entry was last set.
	Updated time.Time `json:"updated"`
}

func encode(what string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s: %w", what, err)
	}
	return b, nil
}

func decode(what string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: decode %s: %w", what, err)
	}
	return nil
}
