// Package store owns the pulse service's bbolt layout: surveys and their audience index, the
// idempotency keys of CreateSurvey, the segment registry, the "already answered" markers and
// the anonymous responses. Its records are its own types (records.go), which the service maps
// to and from the API and event messages. Buckets are typed values. Reads take a ReadTx, any
// transaction; functions whose name starts with Unsafe write, and need the caller's write
// transaction (etcd style), so that a handler can put an entity, its markers and its outbox
// record in one commit.
//
// Layout (all keys and values are bytes; records are JSON):
//
//	meta             "schema" -> "3"; "segments_version" -> big-endian uint64 (SegmentsVersion)
//	surveys          survey id -> Survey (waves without the derived Closed)
//	survey_audience  audience path + 0x00 + survey id -> empty (scans for lists and pending)
//	survey_keys      caller name + 0x00 + idempotency key -> survey id + 0x00 + sha256(request)
//	segments         segment path -> Segment (headcount, version, last set)
//	markers          Tag(WaveScope(survey, wave), ref) -> Tag(idempotency scope, ref) or empty
//	responses        survey id + 0x00 + big-endian wave + random response id -> Response
//	schedules        survey id -> big-endian uint32 last wave announced open, last announced closed
//	wave_headcounts  survey id + 0x00 + big-endian wave -> JSON {segment path: headcount} under the
//	                 audience when the closed wave's results were first read
//	invitations      Tag("pulse/invite/" + survey id, ref) -> big-endian unix seconds opens, closes
//	                 (lifecycle surveys)
//	tallies          survey id + 0x00 + big-endian wave + 't' + segment path -> Tally of the wave's
//	                 responses in that segment; ... + 'd' + big-endian unix seconds of a day +
//	                 segment path -> Tally of that day's (binary, Tally.MarshalBinary in tally.go);
//	                 ... + 'n' -> big-endian uint64 responses counted in the wave (WaveVersion)
//	config_revisions key of the shared configuration bucket ("survey.<id>") -> big-endian uint64
//	                 revision applied (replicas only, config.go)
//	texts            survey id + 0x00 + big-endian wave + big-endian unix seconds of the day +
//	                 segment path + 0x00 + question id + 0x00 + response id -> a TEXT answer
//
// UnsafePutResponse counts each response in its tallies and keeps its TEXT answers in the same
// transaction, so that results read tallies instead of decoding every response.
//
// Schema 2 had no tallies and texts; Init builds them from the responses (buildTallies).
// Schema 1 had the same buckets and keys, but stored API and event messages as values
// (pulsev1.Survey, pulsev1.Segment, eventsv1.ResponseSubmitted) and no segment versions. Init
// migrates it (migrate.go).
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

	"github.com/voix-dev/voix/services/platform/segment"
)

// SchemaVersion is the layout described in the package comment.
const SchemaVersion = "3"

// ReadTx is what a read needs of a transaction: *bolt.Tx, read-only or writable.
type ReadTx interface {
	Bucket(name []byte) *bolt.Bucket
}

// WriteTx is a writable transaction (*bolt.Tx of Update or Batch): what Unsafe functions need.
type WriteTx interface {
	ReadTx
	Writable() bool
}

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
	Tallies        = Bucket("tallies")
	Texts          = Bucket("texts")
)

// Buckets lists every bucket of the layout.
func Buckets() []Bucket {
	return []Bucket{Meta, Surveys, SurveyAudience, SurveyKeys, Segments, Markers, Responses, Schedules, Invitations, WaveHeadcounts, Tallies, Texts,
		SurveyComments, PlanNewsBucket, Reminders, // loop.go
		ConfigRevisions} // config.go
}

func (b Bucket) in(tx ReadTx) (*bolt.Bucket, error) {
	bk := tx.Bucket(b)
	if bk == nil {
		return nil, fmt.Errorf("store: bucket %q missing: open the store with Init", b)
	}
	return bk, nil
}

// writable is b in a transaction that may write.
func (b Bucket) writable(tx WriteTx) (*bolt.Bucket, error) {
	if !tx.Writable() {
		return nil, fmt.Errorf("store: write to %q in a read-only transaction", b)
	}
	return b.in(tx)
}

// Errors callers test with errors.Is.
var (
	// ErrNotFound: no entity under that key.
	ErrNotFound = errors.New("not found")
	// ErrSchema: the file was written by another layout version.
	ErrSchema = errors.New("store: unsupported schema version")
)

var schemaKey = []byte("schema")

// Init creates the buckets and records the schema version, or checks it on an existing file.
// A schema 1 file is migrated in place with v1's conversions, and a schema 1 or 2 file gets
// its tallies, in the same transaction.
func Init(db *bolt.DB, v1 V1) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, name := range Buckets() {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %q: %w", name, err)
			}
		}
		meta := tx.Bucket(Meta)
		switch v := meta.Get(schemaKey); {
		case v == nil:
			return meta.Put(schemaKey, []byte(SchemaVersion))
		case string(v) == "1":
			if err := migrate1(tx, v1); err != nil {
				return err
			}
			if err := buildTallies(tx); err != nil {
				return err
			}
			return meta.Put(schemaKey, []byte(SchemaVersion))
		case string(v) == "2":
			if err := buildTallies(tx); err != nil {
				return err
			}
			return meta.Put(schemaKey, []byte(SchemaVersion))
		case string(v) != SchemaVersion:
			return fmt.Errorf("%w: file has %q, this build reads %q", ErrSchema, v, SchemaVersion)
		}
		return nil
	})
}

// --- surveys ---

// GetSurvey reads a survey; ErrNotFound when absent.
func GetSurvey(tx ReadTx, id string) (Survey, error) {
	bk, err := Surveys.in(tx)
	if err != nil {
		return Survey{}, err
	}
	v := bk.Get([]byte(id))
	if v == nil {
		return Survey{}, fmt.Errorf("%w: survey %q", ErrNotFound, id)
	}
	var s Survey
	if err := decode(fmt.Sprintf("survey %q", id), v, &s); err != nil {
		return Survey{}, err
	}
	return s, nil
}

// SurveyBytes is the stored form of survey id, nil when there is none. It is valid only
// inside tx: a caller that keeps it copies it.
func SurveyBytes(tx ReadTx, id string) ([]byte, error) {
	bk, err := Surveys.in(tx)
	if err != nil {
		return nil, err
	}
	return bk.Get([]byte(id)), nil
}

// UnsafePutSurvey stores s under s.ID and indexes it by audience. The audience of a stored
// survey never changes, so the index entry is written once.
func UnsafePutSurvey(tx WriteTx, s Survey) error {
	if s.ID == "" {
		return errors.New("store: a survey needs an id")
	}
	if _, err := segment.Parse(s.Audience); err != nil {
		return fmt.Errorf("store: survey %q: audience: %w", s.ID, err)
	}
	v, err := encode(fmt.Sprintf("survey %q", s.ID), s)
	if err != nil {
		return err
	}
	bk, err := Surveys.writable(tx)
	if err != nil {
		return err
	}
	if err := bk.Put([]byte(s.ID), v); err != nil {
		return fmt.Errorf("store: put survey %q: %w", s.ID, err)
	}
	idx, err := SurveyAudience.writable(tx)
	if err != nil {
		return err
	}
	return idx.Put(audienceKey(s.Audience, s.ID), nil)
}

func audienceKey(audience, id string) []byte {
	return append(append([]byte(audience), 0), id...)
}

// splitAudienceKey returns the audience and survey id of an index key.
func splitAudienceKey(k []byte) (segment.Path, string, error) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return segment.Path{}, "", fmt.Errorf("store: malformed audience index key %q", k)
	}
	aud, err := segment.Parse(string(k[:i]))
	if err != nil {
		return segment.Path{}, "", fmt.Errorf("store: audience index key %q: %w", k, err)
	}
	return aud, string(k[i+1:]), nil
}

// SurveysWithAudience returns the surveys whose audience is exactly path.
func SurveysWithAudience(tx ReadTx, path segment.Path) ([]Survey, error) {
	idx, err := SurveyAudience.in(tx)
	if err != nil {
		return nil, err
	}
	prefix := append([]byte(path.String()), 0)
	var out []Survey
	c := idx.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		s, err := GetSurvey(tx, string(k[len(prefix):]))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ListSurveys returns up to limit surveys whose audience covers prefix or is within it (a
// survey of acme/eng is listed for acme/eng/platform, and for acme), in the order of their
// index keys, starting after the index key after (nil: from the start). next is the index key
// of the last survey returned when more follow, nil at the end. Since the cursor is a key,
// surveys created between two pages are listed or not by where they sort, but none listed
// before is repeated or skipped.
func ListSurveys(tx ReadTx, prefix segment.Path, after []byte, limit int) (_ []Survey, next []byte, _ error) {
	if prefix.IsZero() {
		return nil, nil, errors.New("store: ListSurveys needs a prefix")
	}
	idx, err := SurveyAudience.in(tx)
	if err != nil {
		return nil, nil, err
	}
	// The keys to visit, in key order: each ancestor's own surveys (its path and 0x00, which
	// sorts before any longer path), then every key spelled with the prefix. Within is the
	// judge of what is listed; the spans only bound the scan.
	var spans [][]byte // each span is the keys that start with it
	for _, a := range prefix.Ancestors() {
		if a.Equal(prefix) {
			spans = append(spans, []byte(a.String()))
		} else {
			spans = append(spans, append([]byte(a.String()), 0))
		}
	}
	var out []Survey
	var last []byte
	c := idx.Cursor()
	for _, span := range spans {
		var k []byte
		if after != nil && bytes.Compare(after, span) >= 0 {
			if k, _ = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, _ = c.Next()
			}
		} else {
			k, _ = c.Seek(span)
		}
		for ; k != nil && bytes.HasPrefix(k, span); k, _ = c.Next() {
			aud, id, err := splitAudienceKey(k)
			if err != nil {
				return nil, nil, err
			}
			if !aud.Within(prefix) && !prefix.Within(aud) {
				continue // "acme-corp" for "acme": spelled alike, not related
			}
			if len(out) == limit {
				return out, last, nil // there is at least one more
			}
			s, err := GetSurvey(tx, id)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, s)
			last = bytes.Clone(k)
		}
	}
	return out, nil, nil
}

// SurveyIDs lists the ids of every stored survey.
func SurveyIDs(tx ReadTx) ([]string, error) {
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

// GetSurveyKey reads what (caller, key) points to; ErrNotFound when unused.
func GetSurveyKey(tx ReadTx, caller, key string) (SurveyKey, error) {
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
func UnsafePutSurveyKey(tx WriteTx, caller, key string, sk SurveyKey) error {
	bk, err := SurveyKeys.writable(tx)
	if err != nil {
		return err
	}
	v := append(append([]byte(sk.SurveyID), 0), sk.RequestHash...)
	return bk.Put(surveyKeyKey(caller, key), v)
}

// --- segment registry ---

// GetSegment reads a segment's registry entry, and whether there is one.
func GetSegment(tx ReadTx, path segment.Path) (Segment, bool, error) {
	bk, err := Segments.in(tx)
	if err != nil {
		return Segment{}, false, err
	}
	v := bk.Get([]byte(path.String()))
	if v == nil {
		return Segment{}, false, nil
	}
	var s Segment
	if err := decode(fmt.Sprintf("segment %q", path), v, &s); err != nil {
		return Segment{}, false, err
	}
	return s, true, nil
}

// UnsafePutSegment stores a segment's registry entry.
func UnsafePutSegment(tx WriteTx, path segment.Path, s Segment) error {
	if path.IsZero() {
		return errors.New("store: a segment needs a path")
	}
	v, err := encode(fmt.Sprintf("segment %q", path), s)
	if err != nil {
		return err
	}
	bk, err := Segments.writable(tx)
	if err != nil {
		return err
	}
	if err := bk.Put([]byte(path.String()), v); err != nil {
		return err
	}
	n, err := SegmentsVersion(tx)
	if err != nil {
		return err
	}
	meta, err := Meta.writable(tx)
	if err != nil {
		return err
	}
	return meta.Put(segmentsVersionKey, binary.BigEndian.AppendUint64(nil, n+1))
}

var segmentsVersionKey = []byte("segments_version")

// SegmentsVersion is the version of the segment registry: UnsafePutSegment bumps it in the
// transaction that changes an entry (0 before the first), so that what was computed from the
// headcounts a transaction sees stays true for any transaction that reads the same version.
func SegmentsVersion(tx ReadTx) (uint64, error) {
	bk, err := Meta.in(tx)
	if err != nil {
		return 0, err
	}
	v := bk.Get(segmentsVersionKey)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("store: segments version has %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// HeadcountsUnder returns the headcount of prefix and of every segment within it that has a
// registry entry, by path.
func HeadcountsUnder(tx ReadTx, prefix segment.Path) (map[string]uint32, error) {
	bk, err := Segments.in(tx)
	if err != nil {
		return nil, err
	}
	out := map[string]uint32{}
	p := []byte(prefix.String())
	c := bk.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		path, err := segment.Parse(string(k))
		if err != nil {
			return nil, fmt.Errorf("store: segment key %q: %w", k, err)
		}
		if !path.Within(prefix) {
			continue // "acme-corp" for "acme"
		}
		var s Segment
		if err := decode(fmt.Sprintf("segment %q", k), v, &s); err != nil {
			return nil, err
		}
		out[path.String()] = s.Headcount
	}
	return out, nil
}

// --- markers ---

// GetMarker returns the value stored under a marker tag, and whether there is one. The
// value is copied.
func GetMarker(tx ReadTx, tag []byte) ([]byte, bool, error) {
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
func UnsafePutMarker(tx WriteTx, tag, value []byte) error {
	bk, err := Markers.writable(tx)
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

// UnsafePutResponse stores an anonymous response and counts it in its tallies. A response is
// put once: its id is new (random).
func UnsafePutResponse(tx WriteTx, r Response) error {
	if r.ID == "" || r.SurveyID == "" || r.Wave == 0 {
		return errors.New("store: a response needs an id, a survey and a wave")
	}
	v, err := encode("response", r)
	if err != nil {
		return err
	}
	bk, err := Responses.writable(tx)
	if err != nil {
		return err
	}
	if err := bk.Put(append(ResponsePrefix(r.SurveyID, r.Wave), r.ID...), v); err != nil {
		return err
	}
	return unsafeTally(tx, r)
}

// CountResponses counts the responses stored for one wave.
func CountResponses(tx ReadTx, surveyID string, wave uint32) (int, error) {
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

// ForEachResponse calls fn with each response stored for one wave, in key order (random ids,
// so no order of arrival). Each response is decoded afresh: fn may keep it.
func ForEachResponse(tx ReadTx, surveyID string, wave uint32, fn func(Response) error) error {
	bk, err := Responses.in(tx)
	if err != nil {
		return err
	}
	p := ResponsePrefix(surveyID, wave)
	c := bk.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		r := Response{ID: string(k[len(p):]), SurveyID: surveyID, Wave: wave}
		if err := decode(fmt.Sprintf("response %q", k), v, &r); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// HasResponses reports whether any response to the survey is stored.
func HasResponses(tx ReadTx, surveyID string) (bool, error) {
	bk, err := Responses.in(tx)
	if err != nil {
		return false, err
	}
	p := append([]byte(surveyID), 0)
	k, _ := bk.Cursor().Seek(p)
	return k != nil && bytes.HasPrefix(k, p), nil
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

// GetScheduleState reads a survey's scheduler state; the zero state when none.
func GetScheduleState(tx ReadTx, surveyID string) (ScheduleState, error) {
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
func UnsafePutScheduleState(tx WriteTx, surveyID string, st ScheduleState) error {
	bk, err := Schedules.writable(tx)
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

// GetInvitation reads the invitation under tag, and whether there is one.
func GetInvitation(tx ReadTx, tag []byte) (Invitation, bool, error) {
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
func UnsafePutInvitation(tx WriteTx, tag []byte, inv Invitation) error {
	bk, err := Invitations.writable(tx)
	if err != nil {
		return err
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(inv.Opens.Unix()))
	return bk.Put(tag, binary.BigEndian.AppendUint64(v, uint64(inv.Closes.Unix())))
}

// --- headcounts frozen per wave ---

// GetWaveHeadcounts reads the headcounts frozen for a wave, and whether there are any.
func GetWaveHeadcounts(tx ReadTx, surveyID string, wave uint32) (map[string]uint32, bool, error) {
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
func UnsafePutWaveHeadcounts(tx WriteTx, surveyID string, wave uint32, m map[string]uint32) error {
	bk, err := WaveHeadcounts.writable(tx)
	if err != nil {
		return err
	}
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: encode headcounts: %w", err)
	}
	return bk.Put(ResponsePrefix(surveyID, wave), v)
}
