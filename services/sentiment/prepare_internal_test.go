package sentiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// TestPreparedGroupsApplyAsSerial: comments prepared ahead, on several goroutines (as the live
// feedback consumer prepares each group), leave the same store, byte for byte,
// and queue the same ItemScored records in the same order, as the same events scored one by
// one inside the transaction.
func TestPreparedGroupsApplyAsSerial(t *testing.T) {
	env := servicetest.New(t)
	now := time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)
	start := func(dir string) *Service {
		s, err := Start(context.Background(), Config{Listen: "127.0.0.1:0", DataDir: dir, NATS: env.NATSConfig(),
			Now: func() time.Time { return now }, PublishInterval: time.Hour,
			TokensFile: host.DefaultTokensFile(env.DataDir), Secret: anonymity.SecretSource{File: host.DefaultSecretFile(env.DataDir)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	serial, prepared := start(env.DataDir), start(t.TempDir())
	secret := serial.host.Secret
	segs := benchTeamPaths()[:12]

	type kind struct {
		durable string
		event   pipelineEvent
	}
	for _, k := range []kind{{events.DurableSentimentFeedback, commentEvent}} {
		var evs []bus.Event
		for i := range 700 {
			evs = append(evs, k.event(t, secret, i, i%90, segs[i%len(segs)], now))
		}
		// The items each transaction queued in the outbox, in order.
		apply := func(s *Service, evs []bus.Event, queued *[][]byte) {
			t.Helper()
			src := s.sources()[0]
			if k.durable != src.durable {
				src = s.sources()[1]
			}
			h := s.grouped(s.liveHandler(src))
			capture := func(tx *bolt.Tx, ev bus.Event) error {
				before, _ := tx.Bucket([]byte(outbox.BucketName)).Cursor().Last()
				before = bytes.Clone(before)
				if err := h(tx, ev); err != nil {
					return err
				}
				if k, v := tx.Bucket([]byte(outbox.BucketName)).Cursor().Last(); !bytes.Equal(k, before) {
					*queued = append(*queued, bytes.Clone(v))
				}
				return nil
			}
			flush := func(tx *bolt.Tx) error { return errors.Join(s.flushLog(tx), s.flushWriter(tx)) }
			if _, err := consumer.ApplyGroupFlush(s.host.DB, k.durable, capture, flush, evs); err != nil {
				t.Fatal(err)
			}
		}
		var want, got [][]byte
		for lo := 0; lo < len(evs); lo += 256 {
			apply(serial, evs[lo:min(lo+256, len(evs))], &want)
		}
		procs := runtime.GOMAXPROCS(4)
		for lo := 0; lo < len(evs); lo += 256 {
			group := evs[lo:min(lo+256, len(evs))]
			release := prepared.livePrepare(k.durable)(group)
			for _, ev := range group {
				if !prepared.isPrepared(k.durable, ev) {
					t.Fatalf("%s: event %s not held prepared", k.durable, ev.ID)
				}
			}
			apply(prepared, group, &got)
			release()
		}
		runtime.GOMAXPROCS(procs)
		if len(got) != len(want) {
			t.Fatalf("%s: %d outbox records prepared, %d serial", k.durable, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s: outbox record %d differs prepared and serial", k.durable, i)
			}
		}
	}
	a, b := dumpStore(t, serial.host.DB), dumpStore(t, prepared.host.DB)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("serial store has %d records, prepared %d", len(a), len(b))
	}
	var diff []string
	for k, v := range a {
		w, ok := b[k]
		if strings.HasPrefix(k, "rollup_member_log/") {
			// The contributor log holds the same members, in the order of the writer's memory,
			// under keys of the store's identity: the same records, of the same sizes.
			ok = ok && len(w) == len(v)
			w = v
		}
		if !ok || w != v {
			diff = append(diff, fmt.Sprintf("%q (%d, %d bytes)", k, len(v), len(w)))
		}
	}
	if len(diff) > 0 {
		t.Fatalf("%d of %d records differ: %v", len(diff), len(a), diff[:min(len(diff), 10)])
	}
}

// isPrepared reports whether ev is held prepared for the live consumer durable.
func (s *Service) isPrepared(durable string, ev bus.Event) bool {
	if durable != events.DurableSentimentFeedback {
		return false
	}
	_, ok := s.preparedComments.get(ev)
	return ok
}

// dumpStore is every record of db by bucket path and key, but the applied ids (dated by the
// real day) and the outbox (its publisher drains it meanwhile).
func dumpStore(t *testing.T, db *bolt.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(path string, b *bolt.Bucket) error
	walk = func(path string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(path+"/"+string(k), b.Bucket(k))
			}
			out[path+"/"+string(k)] = string(v)
			return nil
		})
	}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			switch string(name) {
			case consumer.ProcessedBucketName, outbox.BucketName, outbox.DeadBucketName:
				return nil
			}
			return walk(string(name), b)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
