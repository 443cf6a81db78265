package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Closing the loop (issue 15): survey comments waiting for their day to end, and the action
// plans pulse shows at the end of a survey ("you said, we did").
//
//	survey_comments  big-endian unix seconds of its day + random comment id -> SurveyComment:
//	                 a TEXT answer that becomes a feedback
//	                 item, held until the UTC day of its response has ended (no response id, no
//	                 marker, no contributor tag: nothing joins it to the response)
//	plan_news        plan's segment + 0x00 + plan id -> PlanNews, the latest state of an action plan, from the
//	                 feedback service's action_created and action_updated events

// The buckets of this file (listed in Buckets).
var (
	SurveyComments = Bucket("survey_comments")
	PlanNewsBucket = Bucket("plan_news")
)

// SurveyComment is a TEXT answer on its way to the feedback service.
type SurveyComment struct {
	ID           string    `json:"id"`
	Segment      string    `json:"segment"`
	Text         string    `json:"text"`
	Language     string    `json:"language,omitempty"`
	Dimension    int32     `json:"dimension,omitempty"`
	FollowUpHash []byte    `json:"follow_up_hash"`
	Day          time.Time `json:"day"` // a UTC midnight
	SurveyID     string    `json:"survey_id"`
	QuestionID   string    `json:"question_id"`
}

// UnsafePutSurveyComment holds c until it is released.
func UnsafePutSurveyComment(tx WriteTx, c SurveyComment) error {
	bk, err := SurveyComments.writable(tx)
	if err != nil {
		return err
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("store: encode survey comment: %w", err)
	}
	return bk.Put(surveyCommentKey(c.Day, c.ID), v)
}

// surveyCommentKey orders held comments by day, then by their random id.
func surveyCommentKey(day time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(day.Unix())), id...)
}

// SurveyCommentsBefore returns the held comments of days before day: by day, then in the order
// of their random ids. It reads no comment of day or later.
func SurveyCommentsBefore(tx ReadTx, day time.Time) ([]SurveyComment, error) {
	bk, err := SurveyComments.in(tx)
	if err != nil {
		return nil, err
	}
	end := binary.BigEndian.AppendUint64(nil, uint64(day.Unix()))
	var out []SurveyComment
	c := bk.Cursor()
	for k, v := c.First(); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
		var sc SurveyComment
		if err := json.Unmarshal(v, &sc); err != nil {
			return nil, fmt.Errorf("store: survey comment %q: %w", k, err)
		}
		out = append(out, sc)
	}
	return out, nil
}

// UnsafeDeleteSurveyComment forgets a released comment.
func UnsafeDeleteSurveyComment(tx WriteTx, c SurveyComment) error {
	bk, err := SurveyComments.writable(tx)
	if err != nil {
		return err
	}
	return bk.Delete(surveyCommentKey(c.Day, c.ID))
}

// PlanNews is an action plan's latest known state.
type PlanNews struct {
	ID         string    `json:"id"`
	Segment    string    `json:"segment"`
	Dimension  int32     `json:"dimension,omitempty"`
	Title      string    `json:"title"`
	Status     int32     `json:"status"`
	ChangedDay time.Time `json:"changed_day"`
	Seq        uint32    `json:"seq"`
}

func planNewsKey(seg, id string) []byte { return append(append([]byte(seg), 0), id...) }

// GetPlanNews reads plan id of segment seg (a plan's segment never changes), and whether it is
// known.
func GetPlanNews(tx ReadTx, seg, id string) (PlanNews, bool, error) {
	bk, err := PlanNewsBucket.in(tx)
	if err != nil {
		return PlanNews{}, false, err
	}
	v := bk.Get(planNewsKey(seg, id))
	if v == nil {
		return PlanNews{}, false, nil
	}
	var p PlanNews
	if err := json.Unmarshal(v, &p); err != nil {
		return PlanNews{}, false, fmt.Errorf("store: plan %q: %w", id, err)
	}
	return p, true, nil
}

// UnsafePutPlanNews stores p.
func UnsafePutPlanNews(tx WriteTx, p PlanNews) error {
	bk, err := PlanNewsBucket.writable(tx)
	if err != nil {
		return err
	}
	v, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("store: encode plan: %w", err)
	}
	return bk.Put(planNewsKey(p.Segment, p.ID), v)
}

// PlanNewsOf calls fn with every known plan of segment seg (not of its sub-segments).
func PlanNewsOf(tx ReadTx, seg string, fn func(PlanNews) error) error {
	bk, err := PlanNewsBucket.in(tx)
	if err != nil {
		return err
	}
	prefix := planNewsKey(seg, "")
	c := bk.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var p PlanNews
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("store: plan %q: %w", k, err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// UnsafeDeleteInvitation removes the invitation under tag (a repeatable lifecycle survey's,
// used up by its answer).
func UnsafeDeleteInvitation(tx WriteTx, tag []byte) error {
	bk, err := Invitations.writable(tx)
	if err != nil {
		return err
	}
	return bk.Delete(tag)
}

// Reminders records the pulse waves whose reminder was published:
//
//	reminders  survey id + 0x00 + big-endian wave -> empty
var Reminders = Bucket("reminders")

func reminderKey(surveyID string, wave uint32) []byte {
	k := append([]byte(surveyID), 0)
	return append(k, byte(wave>>24), byte(wave>>16), byte(wave>>8), byte(wave))
}

// Reminded reports whether the reminder of the wave was published.
func Reminded(tx ReadTx, surveyID string, wave uint32) (bool, error) {
	bk, err := Reminders.in(tx)
	if err != nil {
		return false, err
	}
	return bk.Get(reminderKey(surveyID, wave)) != nil, nil
}

// UnsafeMarkReminded records that the reminder of the wave was published.
func UnsafeMarkReminded(tx WriteTx, surveyID string, wave uint32) error {
	bk, err := Reminders.writable(tx)
	if err != nil {
		return err
	}
	return bk.Put(reminderKey(surveyID, wave), []byte{})
}
