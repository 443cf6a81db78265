package outbox_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/poll"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) count(msg string) int {
	return strings.Count(b.String(), fmt.Sprintf("msg=%q", msg))
}

// TestOutageIsLoggedOnce: a NATS outage is one warning when the first publish fails and one
// info line when publishing works again, however many retries fail in between.
func TestOutageIsLoggedOnce(t *testing.T) {
	s := natstest.Start(t)
	b := natstest.Connect(t, s)
	counts := &countingPublisher{bus: b}
	logs := &syncBuffer{}
	db := openDB(t, filepath.Join(t.TempDir(), "svc.db"))
	o, err := outbox.New(db, counts, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	run(t, o)

	dir, port := natstest.StoreDir(t, s), natstest.Port(t, s)
	natstest.Stop(s)
	poll.Until(t, wait, tick, func() error {
		if b.Conn().IsConnected() {
			return errors.New("the client has not seen the outage")
		}
		return nil
	})
	add(t, db, o, event("during-outage"))
	poll.Until(t, wait, tick, func() error {
		if n := counts.failures.Load(); n < 3 {
			return fmt.Errorf("%d failed publish attempts, want at least 3", n)
		}
		return nil
	})
	natstest.StartAt(t, dir, port)
	poll.Until(t, wait, tick, drained(t, o, b, 0))
	poll.Until(t, wait, tick, func() error {
		if n := logs.count("outbox relay: publishing again"); n != 1 {
			return fmt.Errorf("%d lines 'publishing again', want 1", n)
		}
		return nil
	})
	if n := logs.count("outbox relay: publish failed; records kept, retrying"); n != 1 {
		t.Fatalf("%d warnings for %d failed attempts, want 1; log:\n%s", n, counts.failures.Load(), logs)
	}
}
