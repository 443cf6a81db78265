package pulse

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/page"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// Paging of GetResults' comments (page package conventions).
const (
	defaultResultsPage = 50
	maxResultsPage     = 500
)

// orderScope keys the order of a survey's TEXT answers in GetResults:
// Tag(orderScope + survey id, "") is the key of an HMAC over the question id and the
// response id. Response ids are random, and the key is secret, so the order says nothing
// about when, or in which order, answers came; the question id is in the input so that the
// answers one response gave to two TEXT questions do not sit at the same place of their two
// listings. It is not a tag of a person.
const orderScope = "pulse/results-order/"

// orderSize is the length of a TEXT answer's order value.
const orderSize = 8

// orderer gives TEXT answers of one survey their order values.
type orderer struct {
	mac hash.Hash
	buf []byte
}

func (s *Service) orderer(surveyID string) *orderer {
	return &orderer{mac: hmac.New(sha256.New, s.host.Secret.Tag(orderScope+surveyID, ""))}
}

// of is the order value of the answer of response responseID to questionID.
func (o *orderer) of(questionID, responseID string) [orderSize]byte {
	o.mac.Reset()
	o.mac.Write([]byte(questionID))
	o.mac.Write([]byte{0})
	o.mac.Write([]byte(responseID))
	o.buf = o.mac.Sum(o.buf[:0])
	return [orderSize]byte(o.buf[:orderSize])
}

// listedText is a TEXT answer with its order value.
type listedText struct {
	text  string
	order [orderSize]byte
}

// resultsKey is what a GetResults computation depends on in the request, once validated.
type resultsKey struct {
	survey       string
	first, last  uint32
	prefix, lang string
}

// resultsStamp is what it depends on in the store and the clock: the survey as stored, each
// wave's version (store.WaveVersion), which waves are live, and for live waves the day (they
// count the days before it) and the segment registry's version (they use today's
// headcounts). Closed waves use the headcounts frozen at their first read, which never change.
type resultsStamp struct {
	raw      []byte
	versions []uint64
	live     []bool
	today    int64
	segments uint64
	remote   string // the other replicas' wave versions (results_replicas.go)
}

func (a *resultsStamp) equal(b *resultsStamp) bool {
	return bytes.Equal(a.raw, b.raw) && slices.Equal(a.versions, b.versions) && slices.Equal(a.live, b.live) &&
		a.today == b.today && a.segments == b.segments && a.remote == b.remote
}

// stampOf reads q's stamp in tx. ok is false when the survey stored is no longer the one q was
// validated with (it changed in between): what is computed then is not cached.
func stampOf(tx *bolt.Tx, q resultsQuery, live []bool, today time.Time) (st resultsStamp, ok bool, err error) {
	raw, err := store.SurveyBytes(tx, q.survey.Id)
	if err != nil {
		return st, false, err
	}
	st = resultsStamp{raw: q.raw, live: live}
	for w := q.first; w <= q.last; w++ {
		v, err := store.WaveVersion(tx, q.survey.Id, w)
		if err != nil {
			return st, false, err
		}
		st.versions = append(st.versions, v)
	}
	if slices.Contains(live, true) {
		st.today = today.Unix()
		if st.segments, err = store.SegmentsVersion(tx); err != nil {
			return st, false, err
		}
	}
	return st, bytes.Equal(raw, q.raw), nil
}

// listed is one comment of a computed result, at its place in the listing: its page key
// (the group's segment, 0x00, the question's index as big-endian uint32, the order value),
// the group (0 the total, i the child i-1) and the question's index.
type listed struct {
	key      []byte
	group, q int
	comment  *pulsev1.TextAnswer
}

// computedResults is one GetResults computation: the response without comments, which is
// shared by every page and never changed, and every comment in listing order.
type computedResults struct {
	resp     *pulsev1.GetResultsResponse
	comments []listed
}

// computed takes the comments out of a full response into the listing. orders holds each
// group's (total first) order values, by question index, parallel to the comments.
func computed(full *pulsev1.GetResultsResponse, orders [][][][orderSize]byte) *computedResults {
	out := &computedResults{resp: full}
	groups := append([]*pulsev1.GroupResult{full.Total}, full.Children...)
	n, size := 0, 0
	for _, g := range groups {
		for _, qr := range g.GetQuestions() {
			n += len(qr.Comments)
			size += len(qr.Comments) * (len(g.Segment) + 1 + 4 + orderSize)
		}
	}
	out.comments = make([]listed, 0, n)
	keys := make([]byte, 0, size) // one allocation for every key
	for gi, g := range groups {
		for qi, qr := range g.GetQuestions() {
			for ci, c := range qr.Comments {
				from := len(keys)
				keys = append(append(keys, g.Segment...), 0)
				keys = binary.BigEndian.AppendUint32(keys, uint32(qi))
				keys = append(keys, orders[gi][qi][ci][:]...)
				out.comments = append(out.comments, listed{key: keys[from:len(keys):len(keys)], group: gi, q: qi, comment: c})
			}
			qr.Comments = nil
		}
	}
	// Groups come total first, then children in path order, and a child's path extends the
	// total's with "/" (0x00, which ends a key's segment, sorts first): the keys are in byte
	// order already. Sorting makes it so whatever the tree did.
	if !slices.IsSortedFunc(out.comments, compareListed) {
		slices.SortFunc(out.comments, compareListed)
	}
	return out
}

func compareListed(a, b listed) int { return bytes.Compare(a.key, b.key) }

// page is the response holding the comments after the key after (nil: from the first), at
// most size of them, with the token of the next page in listing fp. The shared messages are
// not changed: a group or question holding comments of the page is a shallow copy.
func (c *computedResults) page(size int, after, fp []byte) *pulsev1.GetResultsResponse {
	full := c.resp
	out := &pulsev1.GetResultsResponse{SurveyId: full.SurveyId, Total: full.Total, Children: full.Children, Trend: full.Trend}
	i := 0
	if after != nil {
		i = sort.Search(len(c.comments), func(j int) bool { return bytes.Compare(c.comments[j].key, after) > 0 })
	}
	end := min(i+size, len(c.comments))
	if end < len(c.comments) {
		out.NextPageToken = page.Token(fp, c.comments[end-1].key)
	}
	if i == end {
		return out
	}
	copied := map[int]*pulsev1.GroupResult{}
	childrenCopied := false
	group := func(gi int) *pulsev1.GroupResult {
		if g, ok := copied[gi]; ok {
			return g
		}
		src := full.Total
		if gi > 0 {
			src = full.Children[gi-1]
		}
		g := shallow(src)
		g.Questions = slices.Clone(src.Questions)
		if gi == 0 {
			out.Total = g
		} else {
			if !childrenCopied {
				out.Children, childrenCopied = slices.Clone(full.Children), true
			}
			out.Children[gi-1] = g
		}
		copied[gi] = g
		return g
	}
	for _, l := range c.comments[i:end] {
		g := group(l.group)
		qr := g.Questions[l.q]
		if qr == c.question(l.group, l.q) {
			qr = shallow(qr)
			qr.Comments = nil
			g.Questions[l.q] = qr
		}
		qr.Comments = append(qr.Comments, l.comment)
	}
	return out
}

// question is the shared question qi of group gi.
func (c *computedResults) question(gi, qi int) *pulsev1.QuestionResult {
	if gi == 0 {
		return c.resp.Total.Questions[qi]
	}
	return c.resp.Children[gi-1].Questions[qi]
}

// shallow copies m's fields into a new message: its lists and messages are m's own.
func shallow[M proto.Message](m M) M {
	src := m.ProtoReflect()
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
	return dst.Interface().(M)
}

// resultsCache keeps computed results by request, each with the stamp it was computed at: a
// closed wave's results are computed once, an open wave's again when a response or headcount
// changed or the day turned. Computed results are never changed once cached: readers share
// them.
type resultsCache struct {
	mu       sync.Mutex
	m        map[resultsKey]*cachedResults
	comments int    // held by every entry
	tick     uint64 // last use
	hits     atomic.Int64
	off      atomic.Bool // tests: compute every call afresh
}

type cachedResults struct {
	stamp resultsStamp
	res   *computedResults
	used  uint64
}

// Bounds of the cache: entries, and comments over all entries (a comment costs ~150 bytes).
const (
	maxCachedResults  = 32
	maxCachedComments = 200_000
)

func (c *resultsCache) get(k resultsKey, st *resultsStamp) (*computedResults, bool) {
	if c.off.Load() {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !e.stamp.equal(st) {
		return nil, false
	}
	c.tick++
	e.used = c.tick
	c.hits.Add(1)
	return e.res, true
}

// put caches r, computed at stamp st, for k, dropping the least recently used entries beyond
// the bounds.
func (c *resultsCache) put(k resultsKey, st resultsStamp, r *computedResults) {
	if len(r.comments) > maxCachedComments || c.off.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[resultsKey]*cachedResults{}
	}
	if old, ok := c.m[k]; ok {
		c.comments -= len(old.res.comments)
		delete(c.m, k)
	}
	for len(c.m) >= maxCachedResults || (len(c.m) > 0 && c.comments+len(r.comments) > maxCachedComments) {
		var lru resultsKey
		oldest := uint64(0)
		first := true
		for key, e := range c.m {
			if first || e.used < oldest {
				lru, oldest, first = key, e.used, false
			}
		}
		c.comments -= len(c.m[lru].res.comments)
		delete(c.m, lru)
	}
	c.tick++
	c.m[k] = &cachedResults{stamp: st, res: r, used: c.tick}
	c.comments += len(r.comments)
}

// surveyMemos keeps the surveys GetResults read, each with its stored bytes, decoded once
// while the bytes stay the same. What get returns is shared: read it, never change it.
type surveyMemos struct {
	mu sync.Mutex
	m  map[string]memoSurvey
}

type memoSurvey struct {
	raw []byte
	sv  *survey
}

// maxMemoSurveys bounds the surveys kept; beyond, the memo starts over.
const maxMemoSurveys = 256

// get returns survey id as stored in tx, and its stored bytes (not to be changed).
func (m *surveyMemos) get(tx store.ReadTx, id string) (*survey, []byte, error) {
	raw, err := store.SurveyBytes(tx, id)
	if err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	e, ok := m.m[id]
	m.mu.Unlock()
	if ok && raw != nil && bytes.Equal(e.raw, raw) {
		return e.sv, e.raw, nil
	}
	sv, err := getSurvey(tx, id)
	if err != nil {
		return nil, nil, err
	}
	e = memoSurvey{raw: bytes.Clone(raw), sv: sv}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) >= maxMemoSurveys {
		m.m = map[string]memoSurvey{}
	}
	m.m[id] = e
	return e.sv, e.raw, nil
}

// visibleResultsSurvey is visibleSurvey for GetResults, through the memo of the surveys it
// read with their stored bytes: a dashboard reads one survey's results again and again, and
// decoding the survey took a fifth of a call's CPU. The survey returned is shared: results
// only reads it. raw is the survey's stored bytes, which the results cache checks.
func (s *Service) visibleResultsSurvey(ctx context.Context, id string) (sv *survey, raw []byte, err error) {
	err = s.host.DB.View(func(tx *bolt.Tx) (err error) {
		sv, raw, err = s.resultsSurvey.get(tx, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if !overlaps(ctx, sv.audience) {
		return nil, nil, surveyNotFound(id)
	}
	return sv, raw, nil
}
