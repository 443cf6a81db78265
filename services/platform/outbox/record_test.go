package outbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/poll"
)

// storedValues returns the values of the outbox bucket, in key order.
func storedValues(t *testing.T, db *bolt.DB) [][]byte {
	t.Helper()
	var vs [][]byte
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(outbox.BucketName)).ForEach(func(_, v []byte) error {
			vs = append(vs, bytes.Clone(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// A record decodes to the event that was added (its time cut to the day), whatever the sizes
// of its fields; no prefix of a record decodes, nor does a record with bytes after its end.
func TestRecordsDecodeToTheirEvent(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, natstest.Connect(t, natstest.Start(t)))
	var evs []bus.Event
	for i, data := range [][]byte{nil, {0}, []byte("payload"), bytes.Repeat([]byte{0xff}, 300)} {
		ev := event(fmt.Sprintf("e%d-%s", i, strings.Repeat("x", i*70)))
		ev.Data = data
		ev.Time = time.Date(2026, 11, 30, 23, 59, 59, 999, time.FixedZone("x", 3600))
		evs = append(evs, ev)
	}
	add(t, db, o, evs...)
	vs := storedValues(t, db)
	if len(vs) != len(evs) {
		t.Fatalf("%d records for %d events", len(vs), len(evs))
	}
	for i, v := range vs {
		got, err := outbox.DecodeRecord(v)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		want := evs[i]
		want.Time = bus.Day(want.Time)
		if got.ID != want.ID || got.Type != want.Type || got.Source != want.Source || got.Subject != want.Subject ||
			!got.Time.Equal(want.Time) || got.Time.Location() != time.UTC || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("record %d decodes to %+v, want %+v", i, got, want)
		}
		for n := range len(v) {
			if _, err := outbox.DecodeRecord(v[:n]); err == nil {
				t.Errorf("record %d: its first %d of %d bytes decode", i, n, len(v))
			}
		}
		if _, err := outbox.DecodeRecord(append(bytes.Clone(v), 0)); err == nil {
			t.Errorf("record %d with a byte after its end decodes", i)
		}
	}
}

// Records written in JSON by an earlier version still drain, in order with the new ones, with
// the same envelope; an undecodable record goes to the dead bucket without holding the others.
func TestRecordsWrittenInJSONStillRelay(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o := newOutbox(t, db, b)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	old := func(ev bus.Event) []byte { // the JSON form records had before
		v, err := json.Marshal(map[string]any{"id": ev.ID, "type": ev.Type, "source": ev.Source, "subject": ev.Subject, "time": day, "data": ev.Data})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	err := db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(outbox.BucketName))
		for _, v := range [][]byte{old(event("old-1")), {0x01, 0x05, 'x'}, old(event("old-2"))} {
			seq, _ := bk.NextSequence()
			k := []byte{0, 0, 0, 0, 0, 0, 0, byte(seq)}
			if err := bk.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := event("new-1")
	ev.Time = day.Add(5 * time.Hour)
	add(t, db, o, ev)
	run(t, o)
	poll.Until(t, wait, tick, drained(t, o, b, 3))
	msgs := stored(t, b)
	if got := fmt.Sprint(ids(msgs)); got != "[old-1 old-2 new-1]" {
		t.Fatalf("stream holds %s, want [old-1 old-2 new-1]", got)
	}
	for _, m := range msgs {
		id := m.Header.Get("ce-id")
		if m.Header.Get("ce-time") != "2026-03-04T00:00:00Z" || string(m.Data) != "payload-"+id || m.Subject != ev.Subject {
			t.Errorf("%s: ce-time %q, data %q, subject %s", id, m.Header.Get("ce-time"), m.Data, m.Subject)
		}
	}
	var dead int
	if err := db.View(func(tx *bolt.Tx) error { dead = tx.Bucket([]byte(outbox.DeadBucketName)).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	if dead != 1 {
		t.Errorf("dead bucket holds %d records, want the undecodable one", dead)
	}
}

// BenchmarkRecordCodec encodes and decodes one FeedbackSubmitted-sized record (a 400-byte
// payload) in the binary form and, for comparison, in the JSON form records had before (which
// DecodeRecord still reads).
func BenchmarkRecordCodec(b *testing.B) {
	ev := event("VJ5ZKQ3M7W2XHTRN4C6YBAPLDE")
	ev.Data = bytes.Repeat([]byte{0x5a}, 400)
	ev.Time = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := outbox.Prepare(ev)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := outbox.DecodeRecord(outbox.RecordBytes(r)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-before", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := json.Marshal(struct {
				ID      string    `json:"id"`
				Type    string    `json:"type"`
				Source  string    `json:"source"`
				Subject string    `json:"subject"`
				Time    time.Time `json:"time"`
				Data    []byte    `json:"data,omitempty"`
			}{ev.ID, ev.Type, ev.Source, ev.Subject, ev.Time, ev.Data})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := outbox.DecodeRecord(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
