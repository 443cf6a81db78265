package peers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/peers"
	"github.com/voix-dev/voix/services/platform/poll"
)

const bucket = "test_replicas"

// start starts replica name on srv, answering with handle.
func start(t *testing.T, srv *server.Server, name string, handle func(ctx context.Context, method, from string, body []byte) ([]byte, error)) *peers.Peers {
	t.Helper()
	b := natstest.Connect(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	p, err := peers.Start(peers.Config{Conn: b.Conn(), JS: b.JetStream(), Bucket: bucket, Name: name, Prefix: "voix.internal.test.call.", Handle: handle},
		func(fn func(context.Context)) { wg.Go(func() { fn(ctx) }) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); wg.Wait() }) // before the connection closes
	return p
}

func TestAskEveryReplica(t *testing.T) {
	srv := natstest.Start(t)
	big := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB: several NATS messages
	a := start(t, srv, "a", nil)
	start(t, srv, "b", func(_ context.Context, method, from string, body []byte) ([]byte, error) {
		if method == "Big" {
			return big, nil
		}
		return fmt.Appendf(nil, "b answers %s from %s: %s", method, from, body), nil
	})
	start(t, srv, "c", func(context.Context, string, string, []byte) ([]byte, error) {
		return nil, errors.New("c cannot")
	})
	ctx := context.Background()
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		others, err := a.Others(ctx)
		if err != nil || !slices.Equal(others, []string{"b", "c"}) {
			return fmt.Errorf("others = %v (%v), want [b c]", others, err)
		}
		return nil
	})

	answers, errs, silent, err := a.Ask(ctx, "Hello", []byte("hi"), []string{"b", "c"}, 5*time.Second)
	if err != nil || len(silent) != 0 {
		t.Fatalf("Ask: %v, silent %v", err, silent)
	}
	if got := string(answers["b"]); got != "b answers Hello from a: hi" {
		t.Fatalf("b's answer = %q", got)
	}
	if errs["c"] != "c cannot" || answers["c"] != nil {
		t.Fatalf("c's answer = %q, error %q; want its error", answers["c"], errs["c"])
	}

	answers, _, _, err = a.Ask(ctx, "Big", nil, []string{"b"}, 10*time.Second)
	if err != nil || !bytes.Equal(answers["b"], big) {
		t.Fatalf("big answer: %d bytes (%v), want %d", len(answers["b"]), err, len(big))
	}

	// A registered replica that does not answer is named.
	answers, _, silent, err = a.Ask(ctx, "Hello", nil, []string{"b", "gone"}, 500*time.Millisecond)
	if err != nil || !slices.Equal(silent, []string{"gone"}) || answers["b"] == nil {
		t.Fatalf("Ask with a silent replica: %v, silent %v, answers %v; want gone silent, b's answer", err, silent, answers)
	}
}

// TestAskEachStopsAtTheAnswerThatSettlesIt: the first answer take accepts ends the call; a
// registered replica that never answers is then not waited for, nor named.
func TestAskEachStopsAtTheAnswerThatSettlesIt(t *testing.T) {
	srv := natstest.Start(t)
	a := start(t, srv, "a", nil)
	for _, name := range []string{"b", "c"} {
		start(t, srv, name, func(_ context.Context, _, _ string, body []byte) ([]byte, error) {
			if string(body) == name {
				return []byte("mine"), nil
			}
			return []byte("not mine"), nil
		})
	}
	ctx := context.Background()
	for _, holder := range []string{"b", "c"} {
		var got []string
		silent, err := a.AskEach(ctx, "Which", []byte(holder), []string{"b", "c", "gone"}, time.Minute, func(r string, body []byte, errText string) bool {
			got = append(got, r+": "+string(body)+errText)
			return string(body) == "mine"
		})
		if err != nil || silent != nil {
			t.Fatalf("AskEach for %s: %v, silent %v; want stopped at its answer", holder, err, silent)
		}
		if last := got[len(got)-1]; last != holder+": mine" || len(got) > 2 {
			t.Fatalf("AskEach for %s took %q, want at most the other's \"not mine\", then %s's \"mine\"", holder, got, holder)
		}
	}
	// Nobody settles it: every answer is taken, and the silent replica is named.
	n := 0
	silent, err := a.AskEach(ctx, "Which", []byte("nobody"), []string{"b", "c", "gone"}, 500*time.Millisecond, func(string, []byte, string) bool {
		n++
		return false
	})
	if err != nil || n != 2 || !slices.Equal(silent, []string{"gone"}) {
		t.Fatalf("AskEach that nobody settles: %v, %d answers, silent %v; want 2 answers, gone silent", err, n, silent)
	}
}

// TestDeletedReplicaIsNoLongerAsked: a replica removed for good is deleted from the bucket
// (nats kv del BUCKET NAME) and leaves Others without a restart.
func TestDeletedReplicaIsNoLongerAsked(t *testing.T) {
	srv := natstest.Start(t)
	a := start(t, srv, "a", nil)
	start(t, srv, "b", nil)
	ctx := context.Background()
	others := func(want []string) {
		t.Helper()
		poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
			got, err := a.Others(ctx)
			if err != nil || !slices.Equal(got, want) {
				return fmt.Errorf("others = %v (%v), want %v", got, err, want)
			}
			return nil
		})
	}
	others([]string{"b"})
	kv, err := natstest.Connect(t, srv).JetStream().KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	others(nil)
}
