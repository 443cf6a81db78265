package poll

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func TestUntil(t *testing.T) {
	n := 0
	Until(t, 5*time.Second, time.Millisecond, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("check called %d times, want 3", n)
	}

	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != r {
				panic(p)
			}
		}()
		Until(r, 20*time.Millisecond, time.Millisecond, func() error { return errors.New("never") })
	}()
	if !strings.Contains(r.failed, "never") || !strings.Contains(r.failed, "20ms") {
		t.Fatalf("failure message %q, want the last error and the wait", r.failed)
	}
}
