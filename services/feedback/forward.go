package feedback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/page"
	"github.com/voix-dev/voix/services/platform/peers"
)

// Replicas that each take comments for any organisation (--replica) keep a comment in the
// store of the replica that took it. A call about one comment (by its id, or by its author's
// follow-up token) that reaches another replica is answered by the replica that holds it, and
// ListFeedback lists the whole organisation, through core NATS request-reply between the
// replicas (issue 16):
//
//   - Every replica subscribes to events.FeedbackCall(method) and registers its name in the
//     key-value bucket ReplicasBucket (one key per replica, kept until an operator deletes it):
//     the mechanism is services/platform/peers, shared with pulse.
//   - A replica whose own answer is NotFound, and which does not hold the comment or token,
//     sends the request (the marshalled proto as the client sent it) with the caller it
//     authenticated (token name, role, segment prefix, expiry: never anything from the
//     client but the request itself) on the subject. The holder authorizes it as if called
//     directly (the policy's roles, then its handler's segment checks) and answers with the
//     marshalled response or the gRPC status; the others answer "not mine".
//   - The first holder's answer is the answer. Every registered replica said "not mine": the
//     local NotFound stands. No holder within forwardTimeout: Unavailable, naming the
//     replicas that did not answer (one of them may hold it).
//   - A forwarded call runs the holder's local handler, never its forwarder: nothing is
//     forwarded twice, so nothing loops.
//   - ListFeedback asks every other registered replica for the same page and merges the
//     pages in by_day order (the order one store lists in: the keys are made from the day,
//     the comment id and the deployment's secret, the same on every replica), so one page
//     token, the by_day key of the page's last comment, is every replica's position.
//
// Anonymity: the forwarded message holds what the client sent and who the client's token is;
// nothing says who wrote a comment. A follow-up token travels as the caller sent it, over the
// NATS connection the services already use (TLS when configured). The subjects are core NATS,
// captured by no stream; in deploy/nats/accounts.conf only the services' user may publish or
// subscribe on voix.internal.> (the cx and portal users are limited to their own subjects).

// ReplicasBucket is the key-value bucket in which feedback replicas register their names:
// key = replica name, value = a JSON record of when it last started. A replica removed for
// good must be deleted from it (nats kv del voix_replicas_feedback NAME): until then, a call
// about a comment no replica holds waits forwardTimeout and is Unavailable naming it.
const ReplicasBucket = "voix_replicas_feedback"

const (
	// forwardTimeout bounds how long a forwarded call waits for the holder, and a list for
	// every replica's page.
	forwardTimeout = 2 * time.Second
	// forwardWorkers caps the forwarded calls one replica runs at once.
	forwardWorkers = 64
)

// caller is the authenticated caller a forwarded call runs as.
type caller struct {
	Name    string    `json:"name"`
	Role    auth.Role `json:"role"`
	Prefix  string    `json:"prefix"`
	Expires time.Time `json:"expires,omitzero"`
}

// callMsg is a forwarded call (the body of a peers call; peers carries the asking replica).
type callMsg struct {
	Caller caller `json:"caller"`
	Req    []byte `json:"req"`
}

// answerMsg is a replica's answer: Mine false is "not mine"; else Status (a google.rpc.Status,
// absent when OK) or Resp.
type answerMsg struct {
	Replica string
	Mine    bool
	Status  []byte
	Resp    []byte
}

// The first byte of an answer's body: what follows it.
const (
	answerNotMine byte = iota
	answerStatus       // a google.rpc.Status
	answerResp         // the marshalled response
)

// encode is a's body, as peers carries it (in parts when it is larger than one NATS message).
func (a answerMsg) encode() []byte {
	switch {
	case !a.Mine:
		return []byte{answerNotMine}
	case len(a.Status) > 0:
		return append([]byte{answerStatus}, a.Status...)
	}
	return append([]byte{answerResp}, a.Resp...)
}

// readAnswer is the answer body (or error text, errText) of replica.
func readAnswer(replica string, body []byte, errText string) answerMsg {
	a := answerMsg{Replica: replica, Mine: true}
	switch {
	case errText != "":
		a.Status, _ = proto.Marshal(status.Newf(codes.Internal, "feedback: replica %s failed to answer: %s", replica, errText).Proto())
	case len(body) > 0 && body[0] == answerNotMine:
		a.Mine = false
	case len(body) > 0 && body[0] == answerStatus:
		a.Status = body[1:]
	case len(body) > 0 && body[0] == answerResp:
		a.Resp = body[1:]
	default:
		a.Status, _ = proto.Marshal(status.Newf(codes.Internal, "feedback: replica %s answered unreadably", replica).Proto())
	}
	return a
}

// forwarder serves the API of a replica: its own api, and for the calls about a comment it
// does not hold, the holder's answer.
type forwarder struct {
	feedbackv1.FeedbackServiceServer // the local api, for every method not overridden
	local                            *api
	svc                              *Service
	peers                            *peers.Peers
}

// forwarding is the API the service registers: a as is with one replica; with --replica, a
// forwarder around it, registered and subscribed to the calls of the other replicas before
// it returns.
func (s *Service) forwarding(a *api) (feedbackv1.FeedbackServiceServer, error) {
	if s.cfg.Replica.Name == "" {
		return a, nil
	}
	f := &forwarder{FeedbackServiceServer: a, local: a, svc: s}
	p, err := peers.Start(peers.Config{
		Conn: s.host.Bus.Conn(), JS: s.host.Bus.JetStream(),
		Bucket: ReplicasBucket, Description: "voix feedback replicas (forwarded calls)",
		Name: s.cfg.Replica.Name, Replicas: s.cfg.NATS.Replicas, Prefix: events.FeedbackCall(""),
		Handle: f.handle, Workers: forwardWorkers, Log: s.host.Log,
	}, s.host.Go) // calls in flight end before the store closes
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	f.peers = p
	return f, nil
}

// --- The forwarding side ---------------------------------------------------------------

// held says which comment a call is about: by id, or by the author's follow-up token.
type held struct{ id, token string }

// holds reports whether this replica's store holds the comment h names.
func (f *forwarder) holds(h held) bool {
	found := false
	_ = f.svc.host.DB.View(func(tx *bolt.Tx) error {
		if h.token != "" {
			id, err := f.svc.threadOf(tx, tokenHash(normalizeToken(h.token)))
			found = err == nil && id != ""
			return nil
		}
		_, err := store.GetComment(tx, h.id)
		found = err == nil
		return nil
	})
	return found
}

// elsewhere reports whether err, the local answer to a call about h, is a NotFound of a
// comment this replica does not hold: then another replica may.
func (f *forwarder) elsewhere(err error, h held) bool {
	return status.Code(err) == codes.NotFound && !f.holds(h)
}

// one forwards a call about one comment to the replica holding it: local is the local
// NotFound, returned when every registered replica says "not mine".
func one[Req, Resp proto.Message](f *forwarder, ctx context.Context, method string, req Req, local error, h held) (Resp, error) {
	var zero Resp
	others, err := f.peers.Others(ctx)
	if err != nil {
		return zero, status.Errorf(codes.Unavailable, "feedback: the comment may be on another replica, and the replicas (NATS key-value bucket %s) cannot be reached: %v", ReplicasBucket, err)
	}
	if len(others) == 0 {
		return zero, local
	}
	what := "feedback_id: feedback " + fmt.Sprintf("%q", h.id)
	if h.token != "" {
		what = "follow_up_token: the thread"
	}
	var out Resp
	err = f.ask(ctx, method, req, others, func(a answerMsg) (bool, error) {
		if !a.Mine {
			return false, nil
		}
		r, err := decodeAnswer[Resp](a)
		out = r
		return true, err
	}, func(silent []string) error {
		if len(silent) == 0 {
			return local
		}
		return status.Errorf(codes.Unavailable, "%s is not on this replica, and replica %s did not answer; it may hold it: retry later", what, strings.Join(silent, ", "))
	})
	return out, err
}

// ask sends method's req to the replicas others and hands their answers to take until take
// says done (its error is the call's), or every one answered "not mine" or timed out:
// then the call's error is missing(those that did not answer).
func (f *forwarder) ask(ctx context.Context, method string, req proto.Message, others []string, take func(answerMsg) (bool, error), missing func(silent []string) error) error {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "feedback: no authenticated caller to forward")
	}
	body, err := proto.Marshal(req)
	if err != nil {
		return status.Errorf(codes.Internal, "feedback: marshal %s: %v", method, err)
	}
	data, err := json.Marshal(callMsg{Caller: caller{Name: p.Name, Role: p.Role, Prefix: p.Prefix, Expires: p.Expires}, Req: body})
	if err != nil {
		return status.Errorf(codes.Internal, "feedback: marshal %s: %v", method, err)
	}
	stopped := false
	var result error
	silent, err := f.peers.AskEach(ctx, method, data, others, forwardTimeout, func(replica string, body []byte, errText string) bool {
		stopped, result = take(readAnswer(replica, body, errText))
		return stopped
	})
	switch {
	case errors.Is(err, peers.ErrUnreachable):
		return status.Errorf(codes.Unavailable, "feedback: %v", err)
	case err != nil:
		return status.FromContextError(err).Err()
	case stopped:
		return result
	}
	return missing(silent)
}

// decodeAnswer is a holder's answer as the call's result.
func decodeAnswer[Resp proto.Message](a answerMsg) (Resp, error) {
	var zero Resp
	if len(a.Status) > 0 {
		var st spb.Status
		if err := proto.Unmarshal(a.Status, &st); err != nil {
			return zero, status.Errorf(codes.Internal, "feedback: replica %s answered an unreadable status", a.Replica)
		}
		return zero, status.FromProto(&st).Err()
	}
	out := zero.ProtoReflect().New().Interface().(Resp)
	if err := proto.Unmarshal(a.Resp, out); err != nil {
		return zero, status.Errorf(codes.Internal, "feedback: replica %s answered an unreadable %T", a.Replica, out)
	}
	return out, nil
}

// localOrHolder runs a call about one comment here, and when this store does not hold the
// comment (h), on the replica that does (one).
func localOrHolder[Req, Resp proto.Message](f *forwarder, ctx context.Context, method string, req Req, h held, local func(context.Context, Req) (Resp, error)) (Resp, error) {
	resp, err := local(ctx, req)
	if f.elsewhere(err, h) {
		return one[Req, Resp](f, ctx, method, req, err, h)
	}
	return resp, err
}

func (f *forwarder) GetFeedback(ctx context.Context, req *feedbackv1.GetFeedbackRequest) (*feedbackv1.GetFeedbackResponse, error) {
	return localOrHolder(f, ctx, "GetFeedback", req, held{id: req.FeedbackId}, f.local.GetFeedback)
}

func (f *forwarder) UpdateStatus(ctx context.Context, req *feedbackv1.UpdateStatusRequest) (*feedbackv1.UpdateStatusResponse, error) {
	return localOrHolder(f, ctx, "UpdateStatus", req, held{id: req.FeedbackId}, f.local.UpdateStatus)
}

func (f *forwarder) Reply(ctx context.Context, req *feedbackv1.ReplyRequest) (*feedbackv1.ReplyResponse, error) {
	return localOrHolder(f, ctx, "Reply", req, held{id: req.FeedbackId}, f.local.Reply)
}

func (f *forwarder) AssignOwner(ctx context.Context, req *feedbackv1.AssignOwnerRequest) (*feedbackv1.AssignOwnerResponse, error) {
	return localOrHolder(f, ctx, "AssignOwner", req, held{id: req.FeedbackId}, f.local.AssignOwner)
}

func (f *forwarder) Upvote(ctx context.Context, req *feedbackv1.UpvoteRequest) (*feedbackv1.UpvoteResponse, error) {
	return localOrHolder(f, ctx, "Upvote", req, held{id: req.FeedbackId}, f.local.Upvote)
}

func (f *forwarder) FollowUp(ctx context.Context, req *feedbackv1.FollowUpRequest) (*feedbackv1.FollowUpResponse, error) {
	return localOrHolder(f, ctx, "FollowUp", req, held{token: req.FollowUpToken}, f.local.FollowUp)
}

func (f *forwarder) GetThread(ctx context.Context, req *feedbackv1.GetThreadRequest) (*feedbackv1.GetThreadResponse, error) {
	return localOrHolder(f, ctx, "GetThread", req, held{token: req.FollowUpToken}, f.local.GetThread)
}

// ListFeedback lists the organisation's comments held by every replica: this replica's page
// and every other one's for the same request, merged in by_day order. A replica that does
// not answer makes the list Unavailable, naming it: a list silently missing its comments
// would read as complete.
func (f *forwarder) ListFeedback(ctx context.Context, req *feedbackv1.ListFeedbackRequest) (*feedbackv1.ListFeedbackResponse, error) {
	mine, err := f.local.ListFeedback(ctx, req)
	if err != nil {
		return nil, err
	}
	others, err := f.peers.Others(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "feedback: the comments of the other replicas (NATS key-value bucket %s) cannot be reached: %v", ReplicasBucket, err)
	}
	if len(others) == 0 {
		return mine, nil
	}
	pages := []*feedbackv1.ListFeedbackResponse{mine}
	var failed error
	err = f.ask(ctx, "ListFeedback", req, others, func(a answerMsg) (bool, error) {
		p, err := decodeAnswer[*feedbackv1.ListFeedbackResponse](a)
		if err != nil {
			failed = err
			return true, err
		}
		pages = append(pages, p)
		return false, nil
	}, func(silent []string) error {
		if len(silent) == 0 {
			return nil
		}
		return status.Errorf(codes.Unavailable, "feedback: replica %s did not answer; the list would miss the comments it holds: retry later", strings.Join(silent, ", "))
	})
	if err != nil {
		return nil, err
	}
	if failed != nil {
		return nil, failed
	}
	return f.merge(req, pages)
}

// merge is one page of the comments of pages, each a replica's page of the same request, in
// by_day order. A page with a next page token ends at its last comment: no comment after it
// may be taken from the others, since that page's next comments may come first.
func (f *forwarder) merge(req *feedbackv1.ListFeedbackRequest, pages []*feedbackv1.ListFeedbackResponse) (*feedbackv1.ListFeedbackResponse, error) {
	q, fp, err := validateList(req)
	if err != nil {
		return nil, err
	}
	type keyed struct {
		key []byte
		fb  *feedbackv1.Feedback
	}
	key := func(fb *feedbackv1.Feedback) []byte {
		day := fb.CreateDay.AsTime()
		return store.DayKey(q.prefix.Org(), day, f.svc.shuffle(day, fb.Id), fb.Id)
	}
	var all []keyed
	var bound []byte // the first last comment of a page that has more
	seen := map[string]bool{}
	for _, p := range pages {
		if n := len(p.Feedback); p.NextPageToken != "" && n > 0 {
			if k := key(p.Feedback[n-1]); bound == nil || bytes.Compare(k, bound) < 0 {
				bound = k
			}
		}
		for _, fb := range p.Feedback {
			if !seen[fb.Id] {
				seen[fb.Id] = true
				all = append(all, keyed{key(fb), fb})
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return bytes.Compare(all[i].key, all[j].key) < 0 })
	n := len(all)
	if bound != nil {
		n = sort.Search(len(all), func(i int) bool { return bytes.Compare(all[i].key, bound) > 0 })
	}
	n = min(n, q.size)
	out := &feedbackv1.ListFeedbackResponse{}
	for _, k := range all[:n] {
		out.Feedback = append(out.Feedback, k.fb)
	}
	if (n < len(all) || bound != nil) && n > 0 {
		out.NextPageToken = page.Token(fp, all[n-1].key)
	}
	return out, nil
}

// GetLoopStats tells how the organisation's comments within the prefix are answered, from
// the parts of every replica's store (loopParts): counts and open loops summed, medians of
// every comment's times. Whether comments can be shown under the prefix is this replica's
// copy of the segment registry. The people behind the comments are counted with month-scoped
// keyed tags that stay in each store: the count used is the largest of one replica's, a lower
// bound of the deployment's, so a group is never shown below the minimum group size, though
// one whose people are split over replicas, each below it, stays hidden.
func (f *forwarder) GetLoopStats(ctx context.Context, req *feedbackv1.GetLoopStatsRequest) (*feedbackv1.GetLoopStatsResponse, error) {
	prefix, err := checkPrefix(ctx, "segment_prefix", req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	others, err := f.peers.Others(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "feedback: the comments of the other replicas (NATS key-value bucket %s) cannot be reached: %v", ReplicasBucket, err)
	}
	if len(others) == 0 {
		return f.local.GetLoopStats(ctx, req)
	}
	merged, err := f.svc.loopParts(prefix, true)
	if err != nil {
		return nil, toStatus(err)
	}
	if merged.Shown {
		err = f.ask(ctx, loopPartsMethod, req, others, func(a answerMsg) (bool, error) {
			if len(a.Status) > 0 || !a.Mine {
				_, err := decodeAnswer[*feedbackv1.GetLoopStatsResponse](a)
				if !a.Mine {
					err = status.Errorf(codes.Internal, "feedback: replica %s did not answer for its loop statistics", a.Replica)
				}
				return true, err
			}
			var p loopParts
			if err := json.Unmarshal(a.Resp, &p); err != nil {
				return true, status.Errorf(codes.Internal, "feedback: replica %s answered unreadable loop statistics", a.Replica)
			}
			merged.People = max(merged.People, p.People)
			merged.Total += p.Total
			merged.Open += p.Open
			merged.ToAck = append(merged.ToAck, p.ToAck...)
			merged.ToClose = append(merged.ToClose, p.ToClose...)
			for k, v := range p.ByStatus {
				if merged.ByStatus == nil {
					merged.ByStatus = map[string]uint32{}
				}
				merged.ByStatus[k] += v
			}
			return false, nil
		}, func(silent []string) error {
			if len(silent) == 0 {
				return nil
			}
			return status.Errorf(codes.Unavailable, "feedback: replica %s did not answer; the statistics would miss the comments it holds: retry later", strings.Join(silent, ", "))
		})
	}
	if err != nil {
		return nil, err
	}
	resp := f.svc.loopResult(prefix, merged)
	if err := f.svc.planStats(prefix, resp); err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// --- The holding side ------------------------------------------------------------------

// handle answers a call another replica forwards (peers.Config.Handle).
func (f *forwarder) handle(_ context.Context, method, _ string, body []byte) ([]byte, error) {
	var c callMsg
	if json.Unmarshal(body, &c) != nil {
		return answerMsg{}.encode(), nil // not a call this version reads: not mine
	}
	return f.answer(method, c).encode(), nil
}

// answer runs call c of method on this replica's own api, as the caller c names, if it
// holds the comment the call is about (ListFeedback: always).
func (f *forwarder) answer(method string, c callMsg) answerMsg {
	p := auth.Principal{Name: c.Caller.Name, Role: c.Caller.Role, Prefix: c.Caller.Prefix, Expires: c.Caller.Expires}
	full := "/" + feedbackv1.FeedbackService_ServiceDesc.ServiceName + "/" + method
	if method == loopPartsMethod {
		full = feedbackv1.FeedbackService_GetLoopStats_FullMethodName
	}
	allowed, known := policy[full]
	switch {
	case !known || !forwardable[method]:
		return answerMsg{} // not a call this version forwards: not mine
	case !p.Role.Valid() || !slices.Contains(allowed, p.Role):
		return result(nil, status.Errorf(codes.PermissionDenied, "role %q may not call %s", p.Role, full))
	case p.Expired(time.Now()):
		return result(nil, status.Error(codes.Unauthenticated, auth.ErrExpiredToken.Error()+"; ask for a new one"))
	}
	ctx, cancel := context.WithTimeout(auth.NewContext(context.Background(), p), forwardTimeout)
	defer cancel()
	a := f.local
	switch method {
	case "GetFeedback":
		return holderCall(f, ctx, c.Req, func(r *feedbackv1.GetFeedbackRequest) held { return held{id: r.FeedbackId} }, a.GetFeedback)
	case "UpdateStatus":
		return holderCall(f, ctx, c.Req, func(r *feedbackv1.UpdateStatusRequest) held { return held{id: r.FeedbackId} }, a.UpdateStatus)
	case "Reply":
		return holderCall(f, ctx, c.Req, func(r *feedbackv1.ReplyRequest) held { return held{id: r.FeedbackId} }, a.Reply)
	case "AssignOwner":
		return holderCall(f, ctx, c.Req, func(r *feedbackv1.AssignOwnerRequest) held { return held{id: r.FeedbackId} }, a.AssignOwner)
	case "Upvote":
		return holderCall(f, ctx, c.Req, func(r *feedbackv1.UpvoteRequest) held { return held{id: r.FeedbackId} }, a.Upvote)
	case "FollowUp":
		return holderCall(f, ctx, c.Req, func(r *feedbackv1.FollowUpRequest) held { return held{token: r.FollowUpToken} }, a.FollowUp)
	case "GetThread":
		return holderCall(f, ctx, c.Req, func(r *feedbackv1.GetThreadRequest) held { return held{token: r.FollowUpToken} }, a.GetThread)
	case "ListFeedback":
		return holderCall(f, ctx, c.Req, nil, a.ListFeedback) // in parts when large (peers)
	case loopPartsMethod:
		return f.answerLoopParts(ctx, c.Req)
	}
	return answerMsg{}
}

// answerLoopParts answers loopPartsMethod: this store's parts of the statistics a
// GetLoopStatsRequest asks, for a caller covering its prefix.
func (f *forwarder) answerLoopParts(ctx context.Context, data []byte) answerMsg {
	var req feedbackv1.GetLoopStatsRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		return answerMsg{}
	}
	prefix, err := checkPrefix(ctx, "segment_prefix", req.SegmentPrefix)
	if err != nil {
		return result(nil, err)
	}
	p, err := f.svc.loopParts(prefix, true)
	if err != nil {
		return result(nil, toStatus(err))
	}
	b, err := json.Marshal(p)
	if err != nil {
		return result(nil, status.Errorf(codes.Internal, "feedback: marshal loop statistics: %v", err))
	}
	return answerMsg{Mine: true, Resp: b}
}

// forwardable are the methods a replica forwards and answers for another.
var forwardable = map[string]bool{
	"GetFeedback": true, "UpdateStatus": true, "Reply": true, "AssignOwner": true, "Upvote": true,
	"FollowUp": true, "GetThread": true, "ListFeedback": true, loopPartsMethod: true,
}

// loopPartsMethod is the internal call that asks a replica for its parts of GetLoopStats
// (loopParts): the statistics' medians cannot be merged from the replicas' answers.
const loopPartsMethod = "LoopParts"

// holderCall decodes a forwarded request and, when this replica holds what about names (nil:
// every replica answers), runs call on it.
func holderCall[Req, Resp proto.Message](f *forwarder, ctx context.Context, data []byte, about func(Req) held, call func(context.Context, Req) (Resp, error)) answerMsg {
	var zero Req
	req := zero.ProtoReflect().New().Interface().(Req)
	if err := proto.Unmarshal(data, req); err != nil {
		return answerMsg{} // unreadable: not mine to answer
	}
	if about != nil && !f.holds(about(req)) {
		return answerMsg{}
	}
	resp, err := call(ctx, req)
	return result(resp, err)
}

// result is a holder's answer: resp, or err's status.
func result(resp proto.Message, err error) answerMsg {
	if err != nil {
		b, merr := proto.Marshal(status.Convert(err).Proto())
		if merr != nil {
			b, _ = proto.Marshal(status.New(codes.Internal, "feedback: unmarshallable status").Proto())
		}
		return answerMsg{Mine: true, Status: b}
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		b, _ = proto.Marshal(status.New(codes.Internal, "feedback: unmarshallable response").Proto())
		return answerMsg{Mine: true, Status: b}
	}
	return answerMsg{Mine: true, Resp: b}
}
