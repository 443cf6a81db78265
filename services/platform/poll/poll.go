// Package poll is the one way tests wait for something asynchronous to happen: call a check
// until it passes, and fail with the check's last error, and where it was called from, when it
// never does. It is nats-server's checkFor. A test never sleeps to prove that something did not
// happen: it waits for a later event that would have come after it.
package poll

import (
	"testing"
	"time"
)

// Until calls check every tick until it returns nil, and fails t with check's last error once
// wait has passed.
func Until(t testing.TB, wait, tick time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", wait, err)
		}
		time.Sleep(tick)
	}
}
