package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/events"
)

// window is how many bytes two records must share to count as a shared identifier: an id or
// a tag is longer; a run of structure around one random byte coincides by chance.
const window = 16

// record is one thing stored or published: its parts (a header value, a payload, a key, a
// value) as bytes.
type record struct {
	where string
	parts [][]byte
}

// holds reports whether any part of rc holds b.
func (rc record) holds(b []byte) bool {
	for _, p := range rc.parts {
		if bytes.Contains(p, b) {
			return true
		}
	}
	return false
}

// itemEvents maps the ce-types that describe one item to their payloads: their times must be
// days.
var itemEvents = map[string]func() proto.Message{
	events.FeedbackSubmitted.Type:     func() proto.Message { return &eventsv1.FeedbackSubmitted{} },
	events.FeedbackStatusChanged.Type: func() proto.Message { return &eventsv1.FeedbackStatusChanged{} },
	events.FeedbackOverdue.Type:       func() proto.Message { return &eventsv1.FeedbackOverdue{} },
	events.FeedbackRouted.Type:        func() proto.Message { return &eventsv1.FeedbackRouted{} },
	events.PulseResponded.Type:        func() proto.Message { return &eventsv1.ResponseSubmitted{} },
	events.PulseSurveyComment.Type:    func() proto.Message { return &eventsv1.SurveyComment{} },
	events.SentimentScored.Type:       func() proto.Message { return &eventsv1.ItemScored{} },
}

// linkage checks that one person's items cannot be linked: two comments on two days, a
// comment and a survey answer, two waves. Their events and their records in every store must
// share no run of bytes that items of other people do not share too; and no event about an
// item carries a time finer than a day. JetStream's own receive time and sequence are the
// broker's, kept for the streams' retention (see the README): the check covers what voix
// writes.
func (r *run) linkage(ctx context.Context) error {
	events, err := r.events(ctx)
	if err != nil {
		return err
	}
	stored, err := r.stored()
	if err != nil {
		return err
	}
	r.storedTimes(stored)
	surveyPairs := 0
	defer func() {
		if surveyPairs == 0 && len(r.days) > 1 {
			r.res.Hits = append(r.res.Hits, "linkage: no survey comment of a subject with its response was checked: the run did not produce them")
		}
	}()
	for _, id := range r.subjects {
		var comments, waves, surveys []*item
		for _, it := range r.w.items {
			if it.person != id || it.id == "" {
				continue
			}
			switch it.kind {
			case "comment":
				comments = append(comments, it)
			case "survey":
				surveys = append(surveys, it)
			default:
				waves = append(waves, it)
			}
		}
		var pairs [][2]*item
		if len(comments) >= 2 {
			pairs = append(pairs, [2]*item{comments[0], comments[1]})
		}
		if len(comments) >= 1 && len(waves) >= 1 {
			pairs = append(pairs, [2]*item{comments[0], waves[0]})
		}
		if len(waves) >= 2 {
			pairs = append(pairs, [2]*item{waves[0], waves[1]})
		}
		if len(pairs) < 3 {
			return fmt.Errorf("linkage: person %d has %d comments and %d answers with ids: the run did not produce the pairs to check", id, len(comments), len(waves))
		}
		// A survey comment and the response it came from (the person's other answers), and a
		// survey comment and the person's own comment.
		for _, sc := range surveys {
			if sc.from != nil && sc.from.id != "" {
				pairs = append(pairs, [2]*item{sc, sc.from})
				surveyPairs++
			}
			if len(comments) >= 1 {
				pairs = append(pairs, [2]*item{sc, comments[0]})
			}
		}
		for _, p := range pairs {
			for _, src := range []struct {
				name string
				recs []record
			}{{"events", events}, {"stores", stored}} {
				if shared := r.sharedBytes(src.recs, p[0], p[1]); shared != "" {
					r.res.Hits = append(r.res.Hits, fmt.Sprintf("linkage: the %s of person %d's %s of day %d and %s of day %d share %s, which no other person's items share",
						src.name, id, p[0].kind, p[0].day, p[1].kind, p[1].day, shared))
				}
			}
		}
	}
	return nil
}

// events reads every message of the three streams, checking the time of those about an item.
func (r *run) events(ctx context.Context) ([]record, error) {
	var out []record
	for _, name := range []string{events.Feedback.Name, events.Pulse.Name, events.Sentiment.Name} {
		st, err := r.js.Stream(ctx, name)
		if err != nil {
			return nil, err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return nil, err
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			rc := record{where: fmt.Sprintf("%s #%d", name, seq), parts: [][]byte{[]byte(m.Subject), m.Data}}
			for _, vs := range m.Header {
				for _, v := range vs {
					rc.parts = append(rc.parts, []byte(v))
				}
			}
			out = append(out, rc)
			typ := m.Header.Get(bus.HeaderType)
			if mk, ok := itemEvents[typ]; ok {
				r.checkEventTimes(name, seq, typ, m.Header.Get(bus.HeaderTime), m.Data, mk())
			}
		}
	}
	return out, nil
}

// checkEventTimes reports a ce-time or a payload timestamp that is not a UTC midnight.
func (r *run) checkEventTimes(stream string, seq uint64, typ, ceTime string, data []byte, m proto.Message) {
	where := fmt.Sprintf("%s #%d (%s)", stream, seq, typ)
	if t, err := time.Parse(time.RFC3339Nano, ceTime); err != nil || !t.Equal(bus.Day(t)) {
		r.res.Hits = append(r.res.Hits, fmt.Sprintf("%s: ce-time %q is not a day", where, ceTime))
	}
	if err := proto.Unmarshal(data, m); err != nil {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s: undecodable payload: %v", where, err))
		return
	}
	var walk func(protoreflect.Message)
	walk = func(msg protoreflect.Message) {
		msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
				return true
			}
			visit := func(sub protoreflect.Message) {
				if ts, ok := sub.Interface().(*timestamppb.Timestamp); ok {
					if t := ts.AsTime(); !t.Equal(bus.Day(t)) {
						r.res.Hits = append(r.res.Hits, fmt.Sprintf("%s: %s is %s, not a day", where, fd.Name(), t.Format(time.RFC3339Nano)))
					}
					return
				}
				walk(sub)
			}
			if fd.IsList() {
				for i := range v.List().Len() {
					visit(v.List().Get(i).Message())
				}
			} else {
				visit(v.Message())
			}
			return true
		})
	}
	walk(m.ProtoReflect())
}

// storedTimes reports a record about an item that keeps an instant: a value that is, or starts
// or ends with, an 8-byte Unix time in seconds or nanoseconds within the run's days and not a
// UTC midnight, or an RFC 3339 time of day other than midnight.
func (r *run) storedTimes(recs []record) {
	lo, hi := r.w.day(r.days[0]-2), time.Now().Add(48*time.Hour)
	instant := func(t time.Time) bool { return t.After(lo) && t.Before(hi) && !t.Equal(bus.Day(t)) }
	rfc := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	for _, it := range r.w.items {
		if it.id == "" {
			continue
		}
		for _, rc := range recs {
			if !rc.holds([]byte(it.id)) {
				continue
			}
			v := rc.parts[len(rc.parts)-1]
			var ends [][]byte
			switch {
			case len(v) == 8:
				ends = append(ends, v)
			case len(v) > 8:
				ends = append(ends, v[:8], v[len(v)-8:])
			}
			for _, e := range ends {
				for _, n := range []uint64{binary.BigEndian.Uint64(e), binary.LittleEndian.Uint64(e)} {
					if instant(time.Unix(int64(n), 0)) || instant(time.Unix(0, int64(n))) {
						r.res.Hits = append(r.res.Hits, fmt.Sprintf("%s: the record of %s %s keeps an instant (%x)", rc.where, it.kind, it.id, e))
					}
				}
			}
			for _, m := range rfc.FindAll(v, -1) {
				if t, err := time.Parse(time.RFC3339Nano, string(m)); err == nil && instant(t) {
					r.res.Hits = append(r.res.Hits, fmt.Sprintf("%s: the record of %s %s keeps the instant %s", rc.where, it.kind, it.id, m))
				}
			}
		}
	}
}

// stored reads every key and value of every bbolt store of the run.
func (r *run) stored() ([]record, error) {
	var out []record
	err := filepath.WalkDir(r.cfg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".db") {
			return err
		}
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer db.Close()
		rel, _ := filepath.Rel(r.cfg.Dir, path)
		return db.View(func(tx *bolt.Tx) error {
			var walk func(prefix string, b *bolt.Bucket) error
			walk = func(prefix string, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					if v == nil {
						return walk(prefix+"/"+string(k), b.Bucket(k))
					}
					out = append(out, record{rel + ":" + prefix, [][]byte{bytes.Clone(k), bytes.Clone(v)}})
					return nil
				})
			}
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
		})
	})
	return out, err
}

// known are the strings anyone's items of the same segment and day share, or that people chose
// to write: segment paths and subjects, window and day keys, the survey's ids, event types,
// and every text. They are cut out of records before comparing, so that what is left to share
// is what identifies.
func (r *run) known() [][]byte {
	var out []string
	for seg := range r.w.segments() {
		out = append(out, seg, strings.ReplaceAll(seg, "/", "."))
	}
	for d := r.days[0] - 7; d <= r.days[len(r.days)-1]+7; d++ {
		t := r.w.day(d)
		y, wk := t.ISOWeek()
		out = append(out, t.Format(time.DateOnly), fmt.Sprintf("%04d-W%02d", y, wk), t.Format("2006-01"), t.Format("20060102"))
	}
	out = append(out, r.surveyID, events.SubmittedID(""), events.StatusChangedID("", 0)[:len("feedback.status_changed/")],
		events.OverdueID("", ""), events.RespondedID(""), events.ScoredID(""), events.SurveyCommentID(""))
	for _, q := range questions {
		out = append(out, q.id, q.fr, q.en)
	}
	for typ := range itemEvents {
		out = append(out, typ)
	}
	for _, it := range r.w.items {
		// Ids are cut out too: a record naming two items is checked on its own, and a run
		// across an id and its neighbours only shows that two ids begin alike.
		out = append(out, it.text, it.id)
	}
	for t := range r.textAuthor {
		out = append(out, t)
	}
	var bs [][]byte
	for _, s := range out {
		if len(s) >= 4 {
			bs = append(bs, []byte(s))
		}
	}
	// Longest first, so that a path is cut before its prefix.
	slices.SortFunc(bs, func(a, b []byte) int { return len(b) - len(a) })
	return bs
}

// derived matches the fields of a stored comment that the analyzer derives from its text
// (score, label, dimensions, language, risk flags), with their values. Like the text, they are
// content, shown to the comment's readers: two comments of one person that are both negative
// share them because of what was written, not because voix joined them. They are cut out with
// the known strings, so that the check does not depend on how the model reads this week's texts.
var derived = regexp.MustCompile(`"(sentiment_score|sentiment_label|dimensions|language|risks)":(\[[^\]]*\]|"[^"]*"|[-+0-9.eE]+),?`)

// fragments are a record's parts with every known string and derived field cut out.
func fragments(rc record, known [][]byte) [][]byte {
	var out [][]byte
	for _, p := range rc.parts {
		last := 0
		for _, loc := range derived.FindAllIndex(p, -1) {
			out = append(out, p[last:loc[0]])
			last = loc[1]
		}
		out = append(out, p[last:])
	}
	for _, k := range known {
		var next [][]byte
		for _, p := range out {
			next = append(next, bytes.Split(p, k)...)
		}
		out = next
	}
	return out
}

// sharedBytes looks for a run of window bytes in a record about a and in a record about b
// that no record about another person's item holds, once known strings are cut out. A record
// is about an item when it holds the item's id. It returns the first such run, described, or
// "".
func (r *run) sharedBytes(recs []record, a, b *item) string {
	known := r.known()
	about := func(it *item) []record {
		var out []record
		for _, rc := range recs {
			if rc.holds([]byte(it.id)) {
				out = append(out, rc)
			}
		}
		return out
	}
	runs := func(rs []record) map[string]string {
		m := map[string]string{}
		for _, rc := range rs {
			for _, f := range fragments(rc, known) {
				for i := 0; i+window <= len(f); i++ {
					m[string(f[i:i+window])] = rc.where
				}
			}
		}
		return m
	}
	ra, rb := runs(about(a)), runs(about(b))
	var others []record
	for _, it := range r.w.items {
		if it.person != a.person && it.id != "" {
			others = append(others, about(it)...)
		}
	}
	background := runs(others)
	for s, where := range ra {
		if _, ok := rb[s]; ok && background[s] == "" {
			return fmt.Sprintf("the bytes %q (in %s and %s)", s, where, rb[s])
		}
	}
	for _, rc := range about(a) {
		if rc.holds([]byte(b.id)) {
			return "a record naming both: " + rc.where
		}
	}
	return ""
}
