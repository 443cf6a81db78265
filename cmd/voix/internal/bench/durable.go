package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/voix-dev/voix/services/platform/groupcommit"
	"github.com/voix-dev/voix/services/platform/store"
)

// durableMethod is the durable-write ceiling: a unary call that stores its request as a
// comment under a random 16-byte id and an outbox record under the next sequence, through the
// services' group committer and store settings, and answers once that transaction is
// committed. It is the least an acknowledged SubmitFeedback must do (the comment and its
// outbox record on disk, no per-request fsync), with no interceptor, validation, index,
// anonymity tag, event or analysis: what this machine can do for a durable write, against
// which ingest_rps is read (ingest_of_durable).
const durableMethod = "/voix.bench.Durable/Store"

var (
	durableComments = []byte("comments")
	durableOutbox   = []byte("outbox")
)

type durableStore struct {
	commit *groupcommit.Committer
}

func (d *durableStore) put(v []byte) error {
	var id [16]byte
	crand.Read(id[:])
	return d.commit.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(durableComments).Put(id[:], v); err != nil {
			return err
		}
		ob := tx.Bucket(durableOutbox)
		seq, err := ob.NextSequence()
		if err != nil {
			return err
		}
		return ob.Put(binary.BigEndian.AppendUint64(nil, seq), v)
	})
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
	if err := store.EnsureBuckets(db, durableComments, durableOutbox); err != nil {
		db.Close()
		return err
	}
	ds := &durableStore{commit: groupcommit.New(db, 0)}
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
	stored, err := countDurable(path)
	if err != nil {
		return err
	}
	if acked := st[rpcDurable].Calls; stored < acked {
		return fmt.Errorf("durable ceiling: %d writes acknowledged, %d in the file after reopening it", acked, stored)
	}
	return nil
}

// countDurable reopens the ceiling's file and counts its comments.
func countDurable(path string) (int, error) {
	db, err := store.Open(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(durableComments).Stats().KeyN
		return nil
	})
	return n, err
}
