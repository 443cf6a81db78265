package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/voix-dev/voix/services/platform/segment"
)

func FuzzCovers(f *testing.F) {
	for _, s := range [][3]string{
		{"manager", "acme/eng", "acme/eng/x"},
		{"manager", "acme/eng", "acme/engineering"},
		{"admin", "", "anything"},
		{"hr", "", "acme"},
		{"hr", "acme", "acme/"},
		{"submitter", "a/b", "a/b//c"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, role, prefix, seg string) {
		p := Principal{Role: Role(role), Prefix: prefix}
		got := p.Covers(seg)
		if p.Global() {
			if !got {
				t.Fatalf("global admin does not cover %q", seg)
			}
			return
		}
		// Anyone else covers exactly its prefix and the paths it is an ancestor of (whole
		// elements); a malformed prefix or segment is covered by nobody.
		pp, perr := segment.Parse(prefix)
		sp, serr := segment.Parse(seg)
		want := false
		if perr == nil && serr == nil {
			for _, a := range sp.Ancestors() {
				want = want || a.Equal(pp)
			}
		}
		if got != want {
			t.Fatalf("%+v.Covers(%q) = %v, want %v", p, seg, got, want)
		}
		if perr == nil && !p.Covers(prefix) {
			t.Fatalf("%+v does not cover its own prefix", p)
		}
	})
}

func FuzzParseTokens(f *testing.F) {
	h := HashToken("t")
	f.Add([]byte(`{"tokens":[{"name":"a","role":"hr","prefix":"acme","sha256":"` + h + `"}]}`))
	f.Add([]byte(`{"tokens":[{"name":"a","role":"admin","prefix":"","sha256":"` + strings.ToUpper(h) + `"}]}`))
	f.Add([]byte(`{"tokens":null}`))
	f.Add([]byte(`{"tokens":[{"role":"manager","prefix":"a/b/c/d/e/f/g/h","sha256":"` + h + `"}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		toks, err := parseTokens(data)
		if err != nil {
			return
		}
		// Whatever was accepted holds only principals LoadTokens promises.
		for hash, p := range toks.byHash {
			if len(hash) != 64 || strings.ToLower(hash) != hash {
				t.Fatalf("accepted hash %q", hash)
			}
			if !p.Role.Valid() {
				t.Fatalf("accepted role %q", p.Role)
			}
			if p.Prefix == "" && p.Role != RoleAdmin {
				t.Fatalf("accepted %s without prefix", p.Role)
			}
			if _, err := segment.Parse(p.Prefix); p.Prefix != "" && err != nil {
				t.Fatalf("accepted malformed prefix %q", p.Prefix)
			}
		}
	})
}

// FuzzCheckSegment: whatever CheckSegment lets a global admin name (the root "" aside) follows
// the segment grammar.
func FuzzCheckSegment(f *testing.F) {
	for _, s := range []string{"acme", "acme/eng", "a/b/c/d/e/f/g/h", "Acme", "a//b", "a/", "-a", "a_b-c"} {
		f.Add(s)
	}
	root := NewContext(context.Background(), Principal{Name: "root", Role: RoleAdmin})
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || CheckSegment(root, "segment", s) != nil {
			return
		}
		elems := strings.Split(s, "/")
		if len(elems) > 8 {
			t.Fatalf("accepted %d levels: %q", len(elems), s)
		}
		for _, e := range elems {
			if e == "" || len(e) > 63 || !(e[0] >= 'a' && e[0] <= 'z' || e[0] >= '0' && e[0] <= '9') {
				t.Fatalf("accepted element %q of %q", e, s)
			}
			if strings.Trim(e, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
				t.Fatalf("accepted element %q of %q", e, s)
			}
		}
	})
}
