package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/groupcommit"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/store"
)

// durableMethod is the durable-write ceiling: a unary call that stores its request as a
// comment under a random 16-byte id and as an event in the services' outbox (outbox.Prepare,
// then AddRecord in the transaction, as SubmitFeedback does), through the services' group
// committer and store settings, and answers once that transaction is committed. It is the
// least an acknowledged SubmitFeedback must do (the comment and its outbox record on disk, no
// per-request fsync), with no interceptor, validation, index, anonymity tag, relay, event on
// NATS or analysis: what this machine can do for a durable write, against which ingest_rps is
// read (ingest_of_durable).
const durableMethod = "/voix.bench.Durable/Store"

var durableComments = []byte("comments")

type durableStore struct {
	commit *groupcommit.Committer
	outbox *outbox.Outbox
}

func (d *durableStore) put(v []byte) error {
	var id [16]byte
	crand.Read(id[:])
	rec, err := outbox.Prepare(bus.Event{ID: hex.EncodeToString(id[:]), Type: "voix.bench.stored.v1", Source: "voix/bench",
		Subject: "voix.bench.stored", Data: v})
	if err != nil {
		return err
	}
	return d.commit.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(durableComments).Put(id[:], v); err != nil {
			return err
		}
		return d.outbox.AddRecord(tx, rec)
	})
}

// unrelayed is the ceiling outbox's Publisher. The relay is not run: in voix it works after
// the acknowledgement, and its events would need NATS, which is not the ceiling's to measure.
type unrelayed struct{}

func (unrelayed) Publish(context.Context, bus.Event) error {
	return errors.New("bench: the durable-write ceiling's outbox is not relayed")
}

type durableService interface{}

var durableDesc = grpc.ServiceDesc{
	ServiceName: "voix.bench.Durable",
	HandlerType: (*durableService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Store",
		Handler: func(srv any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			if err := srv.(*durableStore).put(in.Value); err != nil {
				return nil, err
			}
			return new(emptypb.Empty), nil
		},
	}},
}

// durablePhase measures the durable-write ceiling for d with the echo phase's payload,
// clients and connections, in a store of its own under dir (removed after). Every call
// acknowledged must be in the file once it is reopened, or the phase fails: a ceiling that
// did not write would flatter nothing but itself.
func durablePhase(ctx context.Context, cfg Config, d time.Duration, dir string, res *Result) error {
	tmp, err := os.MkdirTemp(dir, "durable-ceiling-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "ceiling.db")
	db, err := store.Open(path)
	if err != nil {
		return err
	}
	ob, err := outbox.New(db, unrelayed{}, nil)
	if err == nil {
		err = store.EnsureBuckets(db, durableComments)
	}
	if err != nil {
		db.Close()
		return err
	}
	ds := &durableStore{commit: groupcommit.New(db, 0), outbox: ob}
	addr, stop, err := serveCeiling(&durableDesc, ds)
	if err != nil {
		ds.commit.Close()
		db.Close()
		return err
	}
	cs, err := conns(addr, cfg.Conns)
	if err != nil {
		stop()
		ds.commit.Close()
		db.Close()
		return err
	}
	payload := &wrapperspb.BytesValue{Value: make([]byte, res.EchoPayload)}
	rec := newRecorder()
	el, err := drive(ctx, cfg.Clients, d, cfg.Seed, func(*rand.Rand) op {
		return func(ctx context.Context, w int, _ *rand.Rand) error {
			t := time.Now()
			err := cs[w%len(cs)].Invoke(ctx, durableMethod, payload, new(emptypb.Empty))
			if ctx.Err() == nil {
				rec.add(rpcDurable, time.Since(t), err)
			}
			return err
		}
	})
	closeAll(cs)
	stop()
	ds.commit.Close()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	st := rec.stats(el)
	res.Phases["durable"] = st
	res.DurableRPS, res.DurableP99MS = st[rpcDurable].RPS, st[rpcDurable].P99MS
	if err != nil {
		return err
	}
	stored, records, err := countDurable(path)
	if err != nil {
		return err
	}
	if acked := st[rpcDurable].Calls; stored < acked || records != stored {
		return fmt.Errorf("durable ceiling: %d writes acknowledged; after reopening the file, %d comments and %d outbox records", acked, stored, records)
	}
	return nil
}

// countDurable reopens the ceiling's file and counts its comments and outbox records.
func countDurable(path string) (comments, records int, err error) {
	db, err := store.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	ob, err := outbox.New(db, unrelayed{}, nil)
	if err != nil {
		return 0, 0, err
	}
	if records, err = ob.Pending(); err != nil {
		return 0, 0, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		comments = tx.Bucket(durableComments).Stats().KeyN
		return nil
	})
	return comments, records, err
}
