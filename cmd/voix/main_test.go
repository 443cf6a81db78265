package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestExitCodes: help asked for exits 0 (an operator's `voix dev -h` is not an error), a
// command line naming no command or an unknown one exits 2 after saying why.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"-h"}, 0, ""},
		{[]string{"dev", "-h"}, 0, ""},
		{nil, 2, ""},
		{[]string{"nonsense"}, 2, "unknown command"},
		{[]string{"dev", "--no-such-flag"}, 2, "no-such-flag"},
	} {
		var out, errb bytes.Buffer
		code := exitCode(run(tc.args, &out, &errb), &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.say) {
			t.Errorf("voix %v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.say)
		}
	}
}
