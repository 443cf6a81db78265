package sentiment_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/sentiment"
)

// forwardedKey is the metadata a replica marks a forwarded call with (forward.go).
const forwardedKey = "voix-forwarded-by"

// keeper keeps keys of the lease bucket alive (the bucket's TTL expires them otherwise), as
// a replica alive elsewhere would: a presence, so that the replica left does not take more
// than its share, and optionally a stale lease naming a stopped replica.
type keeper struct {
	kv   jetstream.KeyValue
	mu   sync.Mutex
	vals map[string][]byte
	stop chan struct{}
	done chan struct{}
}

func keep(t *testing.T, js jetstream.JetStream) *keeper {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), partition.BucketName(sentiment.PartitionGroup))
	if err != nil {
		t.Fatal(err)
	}
	k := &keeper{kv: kv, vals: map[string][]byte{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			k.mu.Lock()
			for key, v := range k.vals {
				_, _ = kv.Put(context.Background(), key, v)
			}
			k.mu.Unlock()
			select {
			case <-k.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(k.end)
	return k
}

func (k *keeper) put(t *testing.T, key string, v []byte) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.vals[key] = v
	if _, err := k.kv.Put(context.Background(), key, v); err != nil {
		t.Fatal(err)
	}
}

// end stops renewing and deletes the keys kept.
func (k *keeper) end() {
	select {
	case <-k.stop:
		return
	default:
	}
	close(k.stop)
	<-k.done
	for key := range k.vals {
		_ = k.kv.Delete(context.Background(), key)
	}
}

// TestReadsAreForwardedToTheOwner: two partitioned replicas; a read of acme asked of the one
// that does not own acme's partition returns exactly what the owner returns, and a caller the
// owner refuses is refused the same way; with the owner stopped and its partition not taken,
// the read is Unavailable naming the partition (within the caller's deadline); once the
// other replica takes the partition over, it answers itself.
func TestReadsAreForwardedToTheOwner(t *testing.T) {
	env := servicetest.New(t)
	f := producer(t, env)
	const org = servicetest.Org
	p := partition.Of(org, testPartitions)
	k := anonymity.DefaultMinGroupSize

	a := startReplica(t, env, "r1", env.DataDir)
	waitFor(t, "r1 owns every partition", func() bool { return len(a.Owned()) == testPartitions })
	b := startReplica(t, env, "r2", copyDeployment(t, env.DataDir))
	waitFor(t, "r1 and r2 share the partitions", func() bool {
		return len(a.Owned()) == testPartitions/2 && len(b.Owned()) == testPartitions/2
	})
	owner, other, ownerName := a, b, "r1"
	if !slices.Contains(a.Owned(), p) {
		owner, other, ownerName = b, a, "r2"
	}
	for i := range k + 2 {
		f.comment(t, fmt.Sprintf("person-%d", i), org+"/eng", "the new process is great and I love it")
	}
	waitFor(t, "the owner applied the comments", func() bool { return appliedBy(t, owner) == uint64(k+2) })
	if err := owner.Flush(); err != nil {
		t.Fatal(err)
	}
	toOwner := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, owner.Addr()))
	toOther := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, other.Addr()))
	hr := env.As(context.Background(), auth.RoleHR)

	sentReq := &sentimentv1.GetSentimentRequest{Segment: org + "/eng"}
	heatReq := &sentimentv1.GetHeatmapRequest{SegmentPrefix: org}
	trendReq := &sentimentv1.GetTrendRequest{Segment: org, StartTime: timestamppb.New(now.AddDate(0, 0, -21))}
	direct, err := toOwner.GetSentiment(hr, sentReq)
	if err != nil {
		t.Fatal(err)
	}
	if direct.Aggregate.Hidden || direct.Aggregate.People != uint32(k+2) {
		t.Fatalf("the owner shows %+v; want the %d people released", direct.Aggregate, k+2)
	}
	via, err := toOther.GetSentiment(hr, sentReq)
	if err != nil {
		t.Fatalf("GetSentiment through the other replica: %v", err)
	}
	if !proto.Equal(via, direct) {
		t.Errorf("GetSentiment through the other replica = %v; the owner answers %v", via, direct)
	}
	hmDirect, err := toOwner.GetHeatmap(hr, heatReq)
	if err != nil {
		t.Fatal(err)
	}
	hmVia, err := toOther.GetHeatmap(hr, heatReq)
	if err != nil {
		t.Fatalf("GetHeatmap through the other replica: %v", err)
	}
	if len(hmDirect.Rows) == 0 || !proto.Equal(hmVia, hmDirect) {
		t.Errorf("GetHeatmap through the other replica = %v; the owner answers %v", hmVia, hmDirect)
	}
	trDirect, err := toOwner.GetTrend(hr, trendReq)
	if err != nil {
		t.Fatal(err)
	}
	if trVia, err := toOther.GetTrend(hr, trendReq); err != nil || !proto.Equal(trVia, trDirect) {
		t.Errorf("GetTrend through the other replica = %v, %v; the owner answers %v", trVia, err, trDirect)
	}

	wDirect, err := watchState(hr, toOwner, org)
	if err != nil {
		t.Fatal(err)
	}
	wVia, err := watchState(hr, toOther, org)
	if err != nil {
		t.Fatalf("WatchSentiment through the other replica: %v", err)
	}
	if len(wDirect) == 0 || !slices.EqualFunc(wVia, wDirect, func(a, b *sentimentv1.WatchSentimentResponse) bool {
		return proto.Equal(a.Update, b.Update) && a.Initial == b.Initial && a.CaughtUp == b.CaughtUp
	}) {
		t.Errorf("WatchSentiment through the other replica begins with %d responses %v; the owner's with %d: %v", len(wVia), wVia, len(wDirect), wDirect)
	}
	_, want := watchState(servicetest.WithToken(context.Background(), env.OtherHR), toOwner, org)
	_, got := watchState(servicetest.WithToken(context.Background(), env.OtherHR), toOther, org)
	if want == nil || status.Code(got) != status.Code(want) || status.Convert(got).Message() != status.Convert(want).Message() {
		t.Errorf("WatchSentiment by another organisation's hr: through the other replica %v; the owner answers %v", got, want)
	}

	// Refused callers: a role that may not read, another organisation's hr, a manager of
	// another subtree. The owner decides, on the caller's own token.
	refused := []struct {
		name string
		ctx  context.Context
		req  *sentimentv1.GetHeatmapRequest
	}{
		{"submitter", env.As(context.Background(), auth.RoleSubmitter), heatReq},
		{"hr of another organisation", servicetest.WithToken(context.Background(), env.OtherHR), heatReq},
		{"manager of acme/eng reading acme", servicetest.WithToken(context.Background(), env.SubtreeManager), heatReq},
		{"no token", context.Background(), heatReq},
	}
	for _, c := range refused {
		_, want := toOwner.GetHeatmap(c.ctx, c.req)
		_, got := toOther.GetHeatmap(c.ctx, c.req)
		if want == nil || status.Code(got) != status.Code(want) || status.Convert(got).Message() != status.Convert(want).Message() {
			t.Errorf("%s: through the other replica %v; the owner answers %v", c.name, got, want)
		}
	}

	// A call already forwarded, reaching a replica that does not own the partition (it moved
	// meanwhile), is not forwarded again.
	marked := metadata.AppendToOutgoingContext(hr, forwardedKey, "r9")
	_, err = toOther.GetSentiment(marked, sentReq)
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), fmt.Sprintf("partition %d moved", p)) {
		t.Errorf("a forwarded call reaching a replica without the partition: %v; want Unavailable, partition %d moved", err, p)
	}

	// The owner stops; a third replica, alive elsewhere, keeps the one left at its share (two
	// partitions): nobody takes the owner's partitions.
	kept := keep(t, f.js)
	kept.put(t, "r.r3", []byte(`{"replica":"r3"}`))
	ownerAddr := owner.Addr()
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	unavailable := func(what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(hr, 30*time.Second)
		defer cancel()
		_, err := toOther.GetSentiment(ctx, sentReq)
		t.Logf("%s: %v", what, err)
		if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), fmt.Sprintf("partition %d", p)) {
			t.Errorf("%s: %v; want Unavailable naming partition %d", what, err, p)
		}
	}
	unavailable("no owner")
	// The owner's lease outliving it (it died rather than stopped): its address refuses.
	lease, _ := json.Marshal(partition.Lease{Replica: ownerName, Address: ownerAddr})
	kept.put(t, fmt.Sprintf("p.%d", p), lease)
	unavailable("an owner that is gone")

	// r3 and the stale lease go: the replica left takes every partition and answers itself.
	kept.end()
	waitFor(t, "the replica left takes every partition over", func() bool { return len(other.Owned()) == testPartitions })
	waitFor(t, "the replica left answers as the owner did", func() bool {
		resp, err := toOther.GetSentiment(hr, sentReq)
		return err == nil && proto.Equal(resp, direct)
	})
}

// watchState watches prefix and returns the responses up to the first caught_up one.
func watchState(ctx context.Context, c sentimentv1.SentimentServiceClient, prefix string) ([]*sentimentv1.WatchSentimentResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := c.WatchSentiment(ctx, &sentimentv1.WatchSentimentRequest{SegmentPrefix: prefix})
	if err != nil {
		return nil, err
	}
	var out []*sentimentv1.WatchSentimentResponse
	for {
		r, err := w.Recv()
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if r.CaughtUp {
			return out, nil
		}
	}
}

// BenchmarkForwardedRead: a GetSentiment asked of the owner of its organisation's partition,
// and of the other replica, which looks the owner up in the lease bucket and forwards it.
func BenchmarkForwardedRead(b *testing.B) {
	env := servicetest.New(b)
	start := func(name, dir string) *sentiment.Service {
		svc, err := sentiment.Start(context.Background(), sentiment.Config{
			Listen: "127.0.0.1:0", DataDir: dir, NATS: env.NATSConfig(),
			Now: func() time.Time { return now }, PublishInterval: time.Hour,
			Partitions: testPartitions, Replica: name, LeaseTTL: 2 * time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { svc.Close() })
		return svc
	}
	dir2 := b.TempDir()
	for _, f := range []func(string) string{host.DefaultSecretFile, host.DefaultTokensFile} {
		data, err := os.ReadFile(f(env.DataDir))
		if err == nil {
			err = os.MkdirAll(filepath.Dir(f(dir2)), 0o700)
		}
		if err == nil {
			err = os.WriteFile(f(dir2), data, 0o600)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	r1, r2 := start("r1", env.DataDir), start("r2", dir2)
	for deadline := time.Now().Add(60 * time.Second); len(r1.Owned()) != testPartitions/2 || len(r2.Owned()) != testPartitions/2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the replicas never shared the partitions")
		}
	}
	owner, other := r1, r2
	if !slices.Contains(r1.Owned(), partition.Of(servicetest.Org, testPartitions)) {
		owner, other = r2, r1
	}
	hr := env.As(context.Background(), auth.RoleHR)
	req := &sentimentv1.GetSentimentRequest{Segment: servicetest.Org + "/eng"}
	for _, c := range []struct {
		name string
		svc  *sentiment.Service
	}{{"owner", owner}, {"forwarded", other}} {
		client := sentimentv1.NewSentimentServiceClient(servicetest.Dial(b, c.svc.Addr()))
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := client.GetSentiment(hr, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// relay is a TCP relay standing for an address translation (NAT, a container's published
// port): it accepts on an address of its own and relays to the target set later, counting
// the connections.
type relay struct {
	ln     net.Listener
	target atomic.Pointer[string]
	conns  atomic.Int64
}

func startRelay(t *testing.T) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			target := r.target.Load()
			if target == nil {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", *target)
			if err != nil {
				c.Close()
				continue
			}
			r.conns.Add(1)
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return r
}

// TestReplicaOnEveryInterfaceIsDialledAtItsAdvertisedAddress: two replicas listen on
// 0.0.0.0 and are reached through relays (as through NAT) whose addresses they advertise: the
// leases name the relays, and a read asked of the replica that does not own the partition is
// forwarded through the owner's relay and answered as the owner answers. Without Advertise, a
// replica listening on 0.0.0.0 refuses to start, naming it.
func TestReplicaOnEveryInterfaceIsDialledAtItsAdvertisedAddress(t *testing.T) {
	env := servicetest.New(t)
	f := producer(t, env)
	const org = servicetest.Org
	p := partition.Of(org, testPartitions)
	k := anonymity.DefaultMinGroupSize

	start := func(name, dir, advertise string) (*sentiment.Service, error) {
		svc, err := sentiment.Start(context.Background(), sentiment.Config{
			Listen: "0.0.0.0:0", Advertise: advertise, DataDir: dir, NATS: env.NATSConfig(),
			Now: func() time.Time { return now }, PublishInterval: time.Hour,
			Partitions: testPartitions, Replica: name, LeaseTTL: 2 * time.Second,
		})
		if err == nil {
			t.Cleanup(func() { svc.Close() })
		}
		return svc, err
	}
	if svc, err := start("r0", copyDeployment(t, env.DataDir), ""); err == nil || !strings.Contains(err.Error(), "Advertise") ||
		!strings.Contains(err.Error(), "0.0.0.0:0") {
		if svc != nil {
			svc.Close()
		}
		t.Fatalf("a replica on 0.0.0.0 without Advertise: %v; want refused naming Advertise and the listen address", err)
	}

	relays := map[string]*relay{"r1": startRelay(t), "r2": startRelay(t)}
	a, err := start("r1", env.DataDir, relays["r1"].ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	relays["r1"].target.Store(ptr(a.Addr()))
	waitFor(t, "r1 owns every partition", func() bool { return len(a.Owned()) == testPartitions })
	b, err := start("r2", copyDeployment(t, env.DataDir), relays["r2"].ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	relays["r2"].target.Store(ptr(b.Addr()))
	waitFor(t, "r1 and r2 share the partitions", func() bool {
		return len(a.Owned()) == testPartitions/2 && len(b.Owned()) == testPartitions/2
	})
	owner, other, ownerName := a, b, "r1"
	if !slices.Contains(a.Owned(), p) {
		owner, other, ownerName = b, a, "r2"
	}
	kv, err := f.js.KeyValue(context.Background(), partition.BucketName(sentiment.PartitionGroup))
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), fmt.Sprintf("p.%d", p))
	if err != nil {
		t.Fatal(err)
	}
	var lease partition.Lease
	if err := json.Unmarshal(e.Value(), &lease); err != nil {
		t.Fatal(err)
	}
	if want := relays[ownerName].ln.Addr().String(); lease.Replica != ownerName || lease.Address != want {
		t.Fatalf("partition %d's lease: %+v; want %s at its advertised %s (it listens on %s)", p, lease, ownerName, want, owner.Addr())
	}

	for i := range k + 2 {
		f.comment(t, fmt.Sprintf("person-%d", i), org+"/eng", "the new process is great and I love it")
	}
	waitFor(t, "the owner applied the comments", func() bool { return appliedBy(t, owner) == uint64(k+2) })
	if err := owner.Flush(); err != nil {
		t.Fatal(err)
	}
	hr := env.As(context.Background(), auth.RoleHR)
	req := &sentimentv1.GetSentimentRequest{Segment: org + "/eng"}
	direct, err := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, owner.Addr())).GetSentiment(hr, req)
	if err != nil {
		t.Fatal(err)
	}
	before := relays[ownerName].conns.Load()
	via, err := sentimentv1.NewSentimentServiceClient(servicetest.Dial(t, other.Addr())).GetSentiment(hr, req)
	if err != nil {
		t.Fatalf("GetSentiment through the other replica: %v", err)
	}
	if direct.Aggregate.People != uint32(k+2) || !proto.Equal(via, direct) {
		t.Errorf("GetSentiment through the other replica = %v; the owner answers %v", via, direct)
	}
	if relays[ownerName].conns.Load() == before {
		t.Errorf("the read was answered without a connection to the owner's advertised address %s", relays[ownerName].ln.Addr())
	}
}

func ptr[T any](v T) *T { return &v }
