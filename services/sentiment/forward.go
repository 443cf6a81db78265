package sentiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Forwarding of reads between partitioned replicas (Config.Partitions above 1).
//
// A replica's store is complete only for the partitions it owns. A read of one organisation
// (every read names one: a segment, or a segment prefix, whose first element is the
// organisation) asked of a replica that does not own its partition is sent on to the owner,
// found in the lease bucket (partition.Group.Owner), and the owner's answer or status is
// returned unchanged. The call goes through this replica's interceptors first (the caller's
// token is checked here as on any call), then to the owner with the caller's authorization
// metadata exactly as received, and nothing else of the caller's: the owner authenticates and
// authorizes it as if called directly (role and segment prefix), so forwarding never lends the
// caller rights of this replica's. A forwarded call carries forwardedKey and is never forwarded
// again: an owner that lost the partition meanwhile answers Unavailable "partition P moved;
// retry" rather than passing it on. No owner (its lease expired and no replica took it yet),
// or an owner that does not answer within forwardTimeout, is Unavailable naming the partition.
//
// Forwarded: GetSentiment, GetTrend, GetHeatmap, ListAlerts, GetAttentionSymmetry, and a new
// WatchSentiment (relayed: its initial state is the owner's store's; a resumed one is served
// here, since all it sends comes from the stream). Served here as before: AnalyzeText (no
// organisation), RebuildRollups and GetRebuildStatus (this replica's own), RecordCustomerSignal
// (a write every replica accepts).

// forwardedKey marks a forwarded call; its value is the forwarding replica's name.
const forwardedKey = "voix-forwarded-by"

// servedByKey is the trailer an owner sets on a forwarded call, so that the forwarding
// replica tells the owner's status (returned unchanged) from a failure to reach it.
const servedByKey = "voix-served-by"

// forwardTimeout bounds a forwarded call whose caller set no shorter deadline.
const forwardTimeout = 10 * time.Second

// forwardedReads are the methods forwarded, with their answers' types.
var forwardedReads = map[string]func() proto.Message{
	sentimentv1.SentimentService_GetSentiment_FullMethodName:         func() proto.Message { return new(sentimentv1.GetSentimentResponse) },
	sentimentv1.SentimentService_GetTrend_FullMethodName:             func() proto.Message { return new(sentimentv1.GetTrendResponse) },
	sentimentv1.SentimentService_GetHeatmap_FullMethodName:           func() proto.Message { return new(sentimentv1.GetHeatmapResponse) },
	sentimentv1.SentimentService_ListAlerts_FullMethodName:           func() proto.Message { return new(sentimentv1.ListAlertsResponse) },
	sentimentv1.SentimentService_GetAttentionSymmetry_FullMethodName: func() proto.Message { return new(sentimentv1.GetAttentionSymmetryResponse) },
}

// orgOf is the organisation a read names; "" for a request that names none or an invalid
// one (the handler refuses it here, naming the field).
func orgOf(req any) string {
	var s string
	switch r := req.(type) {
	case *sentimentv1.GetSentimentRequest:
		s = r.Segment
	case *sentimentv1.GetTrendRequest:
		s = r.Segment
	case *sentimentv1.GetHeatmapRequest:
		s = r.SegmentPrefix
	case *sentimentv1.ListAlertsRequest:
		s = r.SegmentPrefix
	case *sentimentv1.GetAttentionSymmetryRequest:
		s = r.SegmentPrefix
	case *sentimentv1.WatchSentimentRequest:
		if r.ResumeToken != "" {
			return "" // all it sends comes from the stream, complete on every replica
		}
		s = r.SegmentPrefix
	default:
		return ""
	}
	p, err := segment.Parse(s)
	if err != nil {
		return ""
	}
	return p.Org()
}

// forwarder sends reads on to the owners, over one connection per owner, dialled again when
// the owner's address changes.
type forwarder struct {
	svc   *Service
	creds credentials.TransportCredentials // nil: this replica serves TLS and has no PeerTLS

	mu     sync.Mutex
	conns  map[string]*peerConn // by replica name
	closed bool
}

type peerConn struct {
	addr string
	cc   *grpc.ClientConn
}

// forwarding returns desc with the forwarded reads' handlers wrapped (partitioned), or desc
// itself (unpartitioned). The connections close with the service.
func (s *Service) forwarding(desc *grpc.ServiceDesc) *grpc.ServiceDesc {
	if !s.partitioned() {
		return desc
	}
	f := &forwarder{svc: s, conns: map[string]*peerConn{}}
	switch {
	case s.cfg.PeerTLS != nil:
		f.creds = credentials.NewTLS(s.cfg.PeerTLS)
	case s.cfg.Ops.TLS == nil:
		f.creds = insecure.NewCredentials()
	}
	s.host.Go(func(ctx context.Context) {
		<-ctx.Done()
		f.close()
	})
	d := *desc
	d.Methods = slices.Clone(desc.Methods)
	for i, m := range d.Methods {
		method := "/" + d.ServiceName + "/" + m.MethodName
		answer, ok := forwardedReads[method]
		if !ok {
			continue
		}
		d.Methods[i].Handler = f.wrap(method, answer, m.Handler)
	}
	d.Streams = slices.Clone(desc.Streams)
	for i, sd := range d.Streams {
		if method := "/" + d.ServiceName + "/" + sd.StreamName; method == sentimentv1.SentimentService_WatchSentiment_FullMethodName {
			d.Streams[i].Handler = f.wrapWatch(method, sd, sd.Handler)
		}
	}
	return &d
}

// wrap runs orig with the interceptors, whose last step serves the read here or forwards it.
func (f *forwarder) wrap(method string, answer func() proto.Message, orig grpc.MethodHandler) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		if forwardedBy(ctx) != "" {
			// Before the interceptors, so the forwarding replica sees it on a refusal too.
			_ = grpc.SetTrailer(ctx, metadata.Pairs(servedByKey, f.svc.cfg.Replica))
		}
		return orig(srv, ctx, dec, func(ctx context.Context, req any, info *grpc.UnaryServerInfo, local grpc.UnaryHandler) (any, error) {
			last := func(ctx context.Context, req any) (any, error) { return f.route(ctx, method, answer, req, local) }
			if ic == nil {
				return last(ctx, req)
			}
			return ic(ctx, req, info, last)
		})
	}
}

// forwardedBy is the replica that forwarded this call, "" if it came from a client.
func forwardedBy(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(forwardedKey); len(v) > 0 {
		return v[0]
	}
	return ""
}

// route serves req here when this replica owns its organisation's partition (or it names
// none), else forwards it to the owner.
func (f *forwarder) route(ctx context.Context, method string, answer func() proto.Message, req any, local grpc.UnaryHandler) (any, error) {
	fctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	lease, p, err := f.target(fctx, req)
	if err != nil {
		return nil, err
	}
	if lease == nil {
		return local(ctx, req)
	}
	resp, err := f.forward(fctx, method, answer(), req, *lease)
	if err != nil {
		return nil, f.ownerStatus(ctx, err, p, *lease)
	}
	return resp, nil
}

// target is where req is served: here (nil), or by the owner of its organisation's partition
// p; or the status refusing it.
func (f *forwarder) target(ctx context.Context, req any) (*partition.Lease, int, error) {
	org := orgOf(req)
	if org == "" {
		return nil, 0, nil
	}
	p := partition.Of(org, f.svc.cfg.Partitions)
	g := f.svc.parts.Load()
	if g == nil {
		return nil, p, status.Errorf(codes.Unavailable, "partition %d: this replica has not joined the sentiment replicas yet; retry", p)
	}
	if g.Owns(org) {
		return nil, p, nil
	}
	if forwardedBy(ctx) != "" {
		return nil, p, status.Errorf(codes.Unavailable, "partition %d moved; retry", p)
	}
	lease, p, err := g.Owner(ctx, org)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, p, status.Errorf(codes.Unavailable, "partition %d has no owner: its replica stopped and no other took it over yet; retry", p)
	case err != nil:
		return nil, p, status.Errorf(codes.Unavailable, "partition %d: owner unknown (lease bucket %s: %v); retry", p, partition.BucketName(PartitionGroup), err)
	case lease.Replica == f.svc.cfg.Replica || lease.Address == "":
		// This replica's lease from before a restart, not held again yet, or an owner that
		// named no address.
		return nil, p, status.Errorf(codes.Unavailable, "partition %d moved; retry", p)
	}
	return &lease, p, nil
}

// outgoing is the metadata of a forwarded call: the caller's authorization, exactly as
// received, and the forwarded mark; nothing else of the caller's or of this replica's.
func (f *forwarder) outgoing(ctx context.Context) context.Context {
	in, _ := metadata.FromIncomingContext(ctx)
	out := metadata.Pairs(forwardedKey, f.svc.cfg.Replica)
	if v := in.Get("authorization"); len(v) > 0 {
		out.Set("authorization", v...)
	}
	return metadata.NewOutgoingContext(ctx, out)
}

// forward calls the owner with the caller's authorization metadata, exactly as received,
// and the forwarded mark.
func (f *forwarder) forward(ctx context.Context, method string, resp proto.Message, req any, lease partition.Lease) (proto.Message, error) {
	cc, err := f.conn(lease)
	if err != nil {
		return nil, err
	}
	var trailer metadata.MD
	err = cc.Invoke(f.outgoing(ctx), method, req, resp, grpc.Trailer(&trailer))
	if err != nil && len(trailer.Get(servedByKey)) > 0 {
		return nil, &ownerError{err}
	}
	return resp, err
}

// ownerError is a status the owner answered with.
type ownerError struct{ err error }

func (e *ownerError) Error() string { return e.err.Error() }

// ownerStatus is the status of a failed forward: the owner's own, unchanged; the caller's
// deadline or cancellation; or Unavailable naming the partition and the owner.
func (f *forwarder) ownerStatus(parent context.Context, err error, p int, lease partition.Lease) error {
	var own *ownerError
	if errors.As(err, &own) {
		return own.err
	}
	if errors.Is(err, errNoPeerTLS) {
		return status.Errorf(codes.Unavailable, "partition %d is owned by %s at %s: this replica serves TLS and has no client TLS settings to forward with; call the owner",
			p, lease.Replica, lease.Address)
	}
	if parent.Err() != nil { // the caller's deadline or cancellation
		return status.FromContextError(parent.Err()).Err()
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		default:
			return err // the answer of an owner that sets no trailer
		}
		return status.Errorf(codes.Unavailable, "partition %d: owner %s at %s did not answer (%s: %s); retry, or wait for another replica to take it over",
			p, lease.Replica, lease.Address, st.Code(), st.Message())
	}
	return status.Errorf(codes.Unavailable, "partition %d: owner %s at %s: %v; retry", p, lease.Replica, lease.Address, err)
}

var errNoPeerTLS = errors.New("sentiment: no client TLS settings (Config.PeerTLS) to forward with")

// conn is the connection to lease's replica, dialled again (the old one closed) when its
// address changed.
func (f *forwarder) conn(lease partition.Lease) (*grpc.ClientConn, error) {
	if f.creds == nil {
		return nil, errNoPeerTLS
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, status.Error(codes.Unavailable, "sentiment: closing")
	}
	if c := f.conns[lease.Replica]; c != nil {
		if c.addr == lease.Address {
			return c.cc, nil
		}
		_ = c.cc.Close()
		delete(f.conns, lease.Replica)
	}
	cc, err := grpc.NewClient(lease.Address, grpc.WithTransportCredentials(f.creds))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", lease.Address, err)
	}
	f.conns[lease.Replica] = &peerConn{addr: lease.Address, cc: cc}
	return cc, nil
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for name, c := range f.conns {
		_ = c.cc.Close()
		delete(f.conns, name)
	}
}

// wrapWatch serves a WatchSentiment here, or relays the owner's: a new watch's first, current
// state is the owner's store's. A resumed watch (resume_token) is served here: everything it
// sends comes from the stream, which every replica reads whole. The handler runs inside the
// stream interceptors: the caller's token is checked (and its streams counted) here too.
func (f *forwarder) wrapWatch(method string, sd grpc.StreamDesc, orig grpc.StreamHandler) grpc.StreamHandler {
	return func(srv any, ss grpc.ServerStream) error {
		ctx := ss.Context()
		if forwardedBy(ctx) != "" {
			ss.SetTrailer(metadata.Pairs(servedByKey, f.svc.cfg.Replica))
		}
		req := new(sentimentv1.WatchSentimentRequest)
		if err := ss.RecvMsg(req); err != nil {
			return err
		}
		lctx, cancel := context.WithTimeout(ctx, forwardTimeout)
		lease, p, err := f.target(lctx, req)
		cancel()
		if err != nil {
			return err
		}
		if lease == nil {
			return orig(srv, &received{ServerStream: ss, first: req})
		}
		if err := f.relay(ctx, ss, method, sd, req, *lease); err != nil {
			return f.ownerStatus(ctx, err, p, *lease)
		}
		return nil
	}
}

// errOwnerSlow ends a forwarded watch whose owner did not start it within forwardTimeout.
var errOwnerSlow = status.Error(codes.Unavailable, "no answer")

// relay opens the watch on the owner and sends on what it sends: its headers (the watch is
// in place), its responses, until it ends or the caller leaves.
func (f *forwarder) relay(ctx context.Context, ss grpc.ServerStream, method string, sd grpc.StreamDesc, req proto.Message, lease partition.Lease) error {
	cc, err := f.conn(lease)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	slow := time.AfterFunc(forwardTimeout, func() { cancel(errOwnerSlow) })
	defer slow.Stop()
	cs, err := cc.NewStream(f.outgoing(sctx), &sd, method)
	if err != nil {
		if errors.Is(context.Cause(sctx), errOwnerSlow) {
			return errOwnerSlow
		}
		return err
	}
	// A failed send or header read ends the stream: RecvMsg below returns its status.
	if cs.SendMsg(req) == nil {
		_ = cs.CloseSend()
	}
	hdr, err := cs.Header()
	slow.Stop()
	if err == nil && hdr != nil {
		if err := ss.SendHeader(hdr); err != nil {
			return &ownerError{err} // the caller left
		}
	}
	for {
		m := new(sentimentv1.WatchSentimentResponse)
		if err := cs.RecvMsg(m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return f.streamErr(sctx, cs, err)
		}
		if err := ss.SendMsg(m); err != nil {
			return &ownerError{err} // the caller left
		}
	}
}

// streamErr is the error a forwarded stream ended with: the owner's status (its trailer says
// it served the call), or a failure to reach it.
func (f *forwarder) streamErr(ctx context.Context, cs grpc.ClientStream, err error) error {
	if errors.Is(context.Cause(ctx), errOwnerSlow) {
		return errOwnerSlow
	}
	if len(cs.Trailer().Get(servedByKey)) > 0 {
		return &ownerError{err}
	}
	return err
}

// received is a server stream whose first message, already received, is first.
type received struct {
	grpc.ServerStream
	first proto.Message
}

func (r *received) RecvMsg(m any) error {
	if r.first == nil {
		return r.ServerStream.RecvMsg(m)
	}
	proto.Merge(m.(proto.Message), r.first)
	r.first = nil
	return nil
}
