// Package store owns the pulse service's bbolt layout: surveys and their audience index, the
// idempotency keys of CreateSurvey, segment headcounts, the "already answered" markers and the
// anonymous responses. Buckets are typed values; helpers whose name starts with Unsafe need the
// caller's transaction (etcd style), so that a handler can put an entity, its markers and its
// outbox record in one commit.
//
// Layout (all keys and values are bytes; proto values use deterministic marshalling):
//
//	meta             "schema" -> "1"
//	surveys          survey id -> pulsev1.Survey (normalised, waves without the derived Closed)
//	survey_audience  audience path + 0x00 + survey id -> empty (prefix scans for lists and pending)
//	survey_keys      caller name + 0x00 + idempotency key -> survey id + 0x00 + sha256(request)
//	segments         segment path -> pulsev1.Segment
//	markers          Tag(WaveScope(survey, wave), ref) -> Tag(idempotency scope, ref) or empty
//	responses        survey id + 0x00 + big-endian wave + random response id -> eventsv1.ResponseSubmitted
//	                 (without contributor tags)
//	schedules        survey id -> big-endian uint32 last wave announced open, last announced closed
//	                 (added within schema 1: Init creates it on older files)
//	wave_headcounts  survey id + 0x00 + big-endian wave -> JSON {segment path: headcount} under the
//	                 audience when the closed wave's results were first read (added within schema 1)
//	invitations      Tag("pulse/invite/" + survey id, ref) -> big-endian unix seconds opens, closes
//	                 (lifecycle surveys; added within schema 1 like schedules)
//
// Markers and responses share no key or value: the marker says "this person answered this wave",
// the response says "someone in this segment answered this", and nothing joins them.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

// SchemaVersion is the layout described in the package comment.
const SchemaVersion = "1"

// Bucket is a top-level bbolt bucket of the pulse store.
type Bucket []byte

// The buckets of the layout.
var (
	Meta           = Bucket("meta")
	Surveys        = Bucket("surveys")
	SurveyAudience = Bucket("survey_audience")
	SurveyKeys     = Bucket("survey_keys")
	Segments       = Bucket("segments")
	Markers        = Bucket("markers")
	Responses      = Bucket("responses")
	Schedules      = Bucket("schedules")
	Invitations    = Bucket("invitations")
	WaveHeadcounts = Bucket("wave_headcounts")
)

// Buckets lists every bucket of the layout.
func Buckets() []Bucket {
	return []Bucket{Meta, Surveys, SurveyAudience, SurveyKeys, Segments, Markers, Responses, Schedules, Invitations, WaveHeadcounts}
}

func (b Bucket) in(tx *bolt.Tx) (*bolt.Bucket, error) {
	bk := tx.Bucket(b)
	if bk == nil {
		return nil, fmt.Errorf("store: bucket %q missing: open the store with Init", b)
	}
	return bk, nil
}

// Errors callers test with errors.Is.
var (
	// ErrNotFound: no entity under that key.
	ErrNotFound = errors.New("not found")
	// ErrSchema: the file was written by another layout version.
	ErrSchema = errors.New("store: unsupported schema version")
)

// Init creates the buckets and records the schema version, or checks it on an existing file.
func Init(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, name := range Buckets() {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %q: %w", name, err)
			}
		}
		meta := tx.Bucket(Meta)
		switch v := meta.Get([]byte("schema")); {
		case v == nil:
			return meta.Put([]byte("schema"), []byte(SchemaVersion))
		case string(v) != SchemaVersion:
			return fmt.Errorf("%w: file has %q, this build reads %q", ErrSchema, v, SchemaVersion)
		}
		return nil
	})
}

var marshal = proto.MarshalOptions{Deterministic: true}

// --- surveys ---

// UnsafeGetSurvey reads a survey; ErrNotFound when absent.
func UnsafeGetSurvey(tx *bolt.Tx, id string) (*pulsev1.Survey, error) {
	bk, err := Surveys.in(tx)
	if err != nil {
		return nil, err
	}
	v := bk.Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("survey %q: %w", id, ErrNotFound)
	}
	s := &pulsev1.Survey{}
	// proto.Unmarshal copies what it keeps, so the value may be used after the tx ends.
	if err := proto.Unmarshal(v, s); err != nil {
		return nil, fmt.Errorf("store: decode survey %q: %w", id, err)
	}
	return s, nil
}

// UnsafePutSurvey stores s under s.Id and indexes it by audience. The audience of a stored
// survey never changes, so the index entry is written once.
func UnsafePutSurvey(tx *bolt.Tx, s *pulsev1.Survey) error {
	if s.GetId() == "" || s.GetAudience() == "" {
		return errors.New("store: a survey needs an id and an audience")
	}
	v, err := marshal.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: encode survey %q: %w", s.Id, err)
	}
	bk, err := Surveys.in(tx)
	if err != nil {
		return err
	}
	if err := bk.Put([]byte(s.Id), v); err != nil {
		return fmt.Errorf("store: put survey %q: %w", s.Id, err)
	}
	idx, err := SurveyAudience.in(tx)
	if err != nil {
		return err
	}
	return idx.Put(audienceKey(s.Audience, s.Id), nil)
}

func audienceKey(audience, id string) []byte {
	return append(append([]byte(audience), 0), id...)
}

// UnsafeSurveysWithAudience returns the surveys whose audience is exactly path.
func UnsafeSurveysWithAudience(tx *bolt.Tx, path string) ([]*pulsev1.Survey, error) {
	idx, err := SurveyAudience.in(tx)
	if err != nil {
		return nil, err
	}
	prefix := append([]byte(path), 0)
	var out []*pulsev1.Survey
	c := idx.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		s, err := UnsafeGetSurvey(tx, string(k[len(prefix):]))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// UnsafeListSurveys returns up to limit surveys whose audience is prefix or below it, in
// (audience, id) order, starting after the cursor after (nil: from the start). next is the
// cursor of the following page, nil at the end.
func UnsafeListSurveys(tx *bolt.Tx, prefix string, after []byte, limit int) (_ []*pulsev1.Survey, next []byte, _ error) {
	idx, err := SurveyAudience.in(tx)
	if err != nil {
		return nil, nil, err
	}
	// Index keys under prefix start with prefix+0x00 (the prefix itself) or prefix+"/" (below
	// it). Other keys sharing the string prefix ("acme-corp" for "acme") are skipped.
	p := []byte(prefix)
	c := idx.Cursor()
	k, _ := c.Seek(p)
	if after != nil {
		if k, _ = c.Seek(after); k != nil && bytes.Equal(k, after) {
			k, _ = c.Next()
		}
	}
	var out []*pulsev1.Survey
	for ; k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		rest := k[len(p):]
		if len(rest) == 0 || (rest[0] != 0 && rest[0] != '/') {
			continue
		}
		if len(out) == limit {
			return out, next, nil // there is at least one more
		}
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			return nil, nil, fmt.Errorf("store: malformed audience index key %q", k)
		}
		s, err := UnsafeGetSurvey(tx, string(k[i+1:]))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, s)
		next = bytes.Clone(k)
	}
	return out, nil, nil
}

// --- CreateSurvey idempotency ---

// SurveyKey is what an idempotency key of CreateSurvey points to.
type SurveyKey struct {
	SurveyID string
	// RequestHash is the SHA-256 of the request as first received, so that reusing the key for
	// another survey is told apart from a retry.
	RequestHash []byte
}

func surveyKeyKey(caller, key string) []byte {
	return append(append([]byte(caller), 0), key...)
}

// UnsafeGetSurveyKey reads what (caller, key) points to; ErrNotFound when unused.
func UnsafeGetSurveyKey(tx *bolt.Tx, caller, key string) (SurveyKey, error) {
	bk, err := SurveyKeys.in(tx)
	if err != nil {
		return SurveyKey{}, err
	}
	v := bk.Get(surveyKeyKey(caller, key))
	if v == nil {
		return SurveyKey{}, ErrNotFound
	}
	i := bytes.IndexByte(v, 0)
	if i < 0 {
		return SurveyKey{}, fmt.Errorf("store: malformed survey key record for %q", key)
	}
	return SurveyKey{SurveyID: string(v[:i]), RequestHash: bytes.Clone(v[i+1:])}, nil
}

// UnsafePutSurveyKey records that (caller, key) created sk.SurveyID.
func UnsafePutSurveyKey(tx *bolt.Tx, caller, key string, sk SurveyKey) error {
	bk, err := SurveyKeys.in(tx)
	if err != nil {
		return err
	}
	v := append(append([]byte(sk.SurveyID), 0), sk.RequestHash...)
	return bk.Put(surveyKeyKey(caller, key), v)
}

// --- segments ---

// UnsafePutSegment stores a segment's admin record.
func UnsafePutSegment(tx *bolt.Tx, s *pulsev1.Segment) error {
	v, err := marshal.Marshal(s)
	if err != nil {
		return fmt.Errorf("store: encode segment %q: %w", s.GetPath(), err)
	}
	bk, err := Segments.in(tx)
	if err != nil {
		return err
	}
	return bk.Put([]byte(s.GetPath()), v)
}

// UnsafeGetSegment reads a segment's admin record; ErrNotFound when never set.
func UnsafeGetSegment(tx *bolt.Tx, path string) (*pulsev1.Segment, error) {
	bk, err := Segments.in(tx)
	if err != nil {
		return nil, err
	}
	v := bk.Get([]byte(path))
	if v == nil {
		return nil, fmt.Errorf("segment %q: %w", path, ErrNotFound)
	}
	s := &pulsev1.Segment{}
	if err := proto.Unmarshal(v, s); err != nil {
		return nil, fmt.Errorf("store: decode segment %q: %w", path, err)
	}
	return s, nil
}

// --- markers ---

// UnsafeGetMarker returns the value stored under a marker tag, and whether there is one. The
// value is copied.
func UnsafeGetMarker(tx *bolt.Tx, tag []byte) ([]byte, bool, error) {
	bk, err := Markers.in(tx)
	if err != nil {
		return nil, false, err
	}
	v := bk.Get(tag)
	if v == nil {
		return nil, false, nil
	}
	return bytes.Clone(v), true, nil
}

// UnsafePutMarker stores a marker. value may be empty (no idempotency key was given); it is
// stored as an empty, non-nil value so that the marker exists.
func UnsafePutMarker(tx *bolt.Tx, tag, value []byte) error {
	bk, err := Markers.in(tx)
	if err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return bk.Put(tag, value)
}

// --- responses ---

// ResponsePrefix is the key prefix of the responses to one wave.
func ResponsePrefix(surveyID string, wave uint32) []byte {
	k := append([]byte(surveyID), 0)
	return binary.BigEndian.AppendUint32(k, wave)
}

// UnsafePutResponse stores an anonymous response. Its contributor tags are dropped: they only
// travel in the event, where the aggregator needs them.
func UnsafePutResponse(tx *bolt.Tx, r *eventsv1.ResponseSubmitted) error {
	if r.GetResponseId() == "" || r.GetSurveyId() == "" || r.GetWave() == 0 {
		return errors.New("store: a response needs an id, a survey and a wave")
	}
	if len(r.Contributors) > 0 {
		r = proto.CloneOf(r)
		r.Contributors = nil
	}
	v, err := marshal.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: encode response: %w", err)
	}
	bk, err := Responses.in(tx)
	if err != nil {
		return err
	}
	return bk.Put(append(ResponsePrefix(r.SurveyId, r.Wave), r.ResponseId...), v)
}

// UnsafeCountResponses counts the responses stored for one wave.
func UnsafeCountResponses(tx *bolt.Tx, surveyID string, wave uint32) (int, error) {
	bk, err := Responses.in(tx)
	if err != nil {
		return 0, err
	}
	p := ResponsePrefix(surveyID, wave)
	n := 0
	c := bk.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		n++
	}
	return n, nil
}

// UnsafeForEachResponse calls fn with each response stored for one wave, in key order (random
// ids, so no order of arrival). fn must not keep the transaction's memory: the response is
// decoded into a fresh value.
func UnsafeForEachResponse(tx *bolt.Tx, surveyID string, wave uint32, fn func(*eventsv1.ResponseSubmitted) error) error {
	bk, err := Responses.in(tx)
	if err != nil {
		return err
	}
	p := ResponsePrefix(surveyID, wave)
	c := bk.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		r := &eventsv1.ResponseSubmitted{}
		if err := proto.Unmarshal(v, r); err != nil {
			return fmt.Errorf("store: decode response %q: %w", k, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// UnsafeHeadcountsUnder returns the headcount of prefix and of every segment below it that has
// an admin record.
func UnsafeHeadcountsUnder(tx *bolt.Tx, prefix string) (map[string]uint32, error) {
	bk, err := Segments.in(tx)
	if err != nil {
		return nil, err
	}
	out := map[string]uint32{}
	p := []byte(prefix)
	c := bk.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if len(k) > len(p) && k[len(p)] != '/' {
			continue // "acme-corp" for "acme"
		}
		s := &pulsev1.Segment{}
		if err := proto.Unmarshal(v, s); err != nil {
			return nil, fmt.Errorf("store: decode segment %q: %w", k, err)
		}
		out[s.Path] = s.Headcount
	}
	return out, nil
}

// UnsafeHasResponses reports whether any response to the survey is stored.
func UnsafeHasResponses(tx *bolt.Tx, surveyID string) (bool, error) {
	bk, err := Responses.in(tx)
	if err != nil {
		return false, err
	}
	p := append([]byte(surveyID), 0)
	k, _ := bk.Cursor().Seek(p)
	return k != nil && bytes.HasPrefix(k, p), nil
}

// UnsafeSurveyIDs lists the ids of every stored survey.
func UnsafeSurveyIDs(tx *bolt.Tx) ([]string, error) {
	bk, err := Surveys.in(tx)
	if err != nil {
		return nil, err
	}
	var out []string
	err = bk.ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out, err
}

// --- scheduler ---

// ScheduleState is what the scheduler has announced for a survey: each wave's opening and
// closing is published once, by wave number, whatever restarts happen in between.
type ScheduleState struct {
	// Opened is the last wave whose WaveOpened event is in the outbox; 0 for none.
	Opened uint32
	// Closed is the last wave whose WaveClosed event is in the outbox; 0 for none.
	Closed uint32
}

// UnsafeGetScheduleState reads a survey's scheduler state; the zero state when none.
func UnsafeGetScheduleState(tx *bolt.Tx, surveyID string) (ScheduleState, error) {
	bk, err := Schedules.in(tx)
	if err != nil {
		return ScheduleState{}, err
	}
	v := bk.Get([]byte(surveyID))
	switch len(v) {
	case 0:
		return ScheduleState{}, nil
	case 8:
		return ScheduleState{Opened: binary.BigEndian.Uint32(v), Closed: binary.BigEndian.Uint32(v[4:])}, nil
	}
	return ScheduleState{}, fmt.Errorf("store: malformed schedule state for survey %q", surveyID)
}

// UnsafePutScheduleState stores a survey's scheduler state.
func UnsafePutScheduleState(tx *bolt.Tx, surveyID string, st ScheduleState) error {
	bk, err := Schedules.in(tx)
	if err != nil {
		return err
	}
	v := binary.BigEndian.AppendUint32(nil, st.Opened)
	return bk.Put([]byte(surveyID), binary.BigEndian.AppendUint32(v, st.Closed))
}

// --- lifecycle invitations ---

// Invitation is when a lifecycle survey is pending for one person, known only by a tag.
type Invitation struct {
	Opens, Closes time.Time
}

// UnsafeGetInvitation reads the invitation under tag, and whether there is one.
func UnsafeGetInvitation(tx *bolt.Tx, tag []byte) (Invitation, bool, error) {
	bk, err := Invitations.in(tx)
	if err != nil {
		return Invitation{}, false, err
	}
	v := bk.Get(tag)
	if v == nil {
		return Invitation{}, false, nil
	}
	if len(v) != 16 {
		return Invitation{}, false, errors.New("store: malformed invitation")
	}
	return Invitation{
		Opens:  time.Unix(int64(binary.BigEndian.Uint64(v)), 0).UTC(),
		Closes: time.Unix(int64(binary.BigEndian.Uint64(v[8:])), 0).UTC(),
	}, true, nil
}

// UnsafePutInvitation stores an invitation under tag, to the second.
func UnsafePutInvitation(tx *bolt.Tx, tag []byte, inv Invitation) error {
	bk, err := Invitations.in(tx)
	if err != nil {
		return err
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(inv.Opens.Unix()))
	return bk.Put(tag, binary.BigEndian.AppendUint64(v, uint64(inv.Closes.Unix())))
}

// --- headcounts frozen per wave ---

// UnsafeGetWaveHeadcounts reads the headcounts frozen for a wave, and whether there are any.
func UnsafeGetWaveHeadcounts(tx *bolt.Tx, surveyID string, wave uint32) (map[string]uint32, bool, error) {
	bk, err := WaveHeadcounts.in(tx)
	if err != nil {
		return nil, false, err
	}
	v := bk.Get(ResponsePrefix(surveyID, wave))
	if v == nil {
		return nil, false, nil
	}
	m := map[string]uint32{}
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, false, fmt.Errorf("store: decode headcounts of survey %q wave %d: %w", surveyID, wave, err)
	}
	return m, true, nil
}

// UnsafePutWaveHeadcounts freezes a wave's headcounts.
func UnsafePutWaveHeadcounts(tx *bolt.Tx, surveyID string, wave uint32, m map[string]uint32) error {
	bk, err := WaveHeadcounts.in(tx)
	if err != nil {
		return err
	}
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: encode headcounts: %w", err)
	}
	return bk.Put(ResponsePrefix(surveyID, wave), v)
}
