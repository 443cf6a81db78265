package anonymity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
)

func testSecret(t *testing.T, fill byte) *Secret {
	t.Helper()
	s, err := NewSecret(bytes.Repeat([]byte{fill}, SecretSize))
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	return s
}

func TestTagStableAndScoped(t *testing.T) {
	s := testSecret(t, 1)
	a := s.Tag("wave/s1/1", "U123ABC")
	if len(a) != 32 {
		t.Fatalf("tag is %d bytes, want 32", len(a))
	}
	if !bytes.Equal(a, s.Tag("wave/s1/1", "U123ABC")) {
		t.Fatal("same scope and ref gave different tags")
	}
	for _, other := range [][2]string{
		{"wave/s1/2", "U123ABC"}, // another wave
		{"wave/s1/1", "U123ABD"}, // another person
		{"", "U123ABC"},
	} {
		if bytes.Equal(a, s.Tag(other[0], other[1])) {
			t.Errorf("Tag(%q, %q) equals Tag(wave/s1/1, U123ABC)", other[0], other[1])
		}
	}
	if bytes.Equal(a, testSecret(t, 2).Tag("wave/s1/1", "U123ABC")) {
		t.Error("two secrets gave the same tag")
	}
	// The encoding must be unambiguous where the scope ends and the ref begins.
	if bytes.Equal(s.Tag("ab", "c"), s.Tag("a", "bc")) || bytes.Equal(s.Tag("", "abc"), s.Tag("abc", "")) {
		t.Error("moving bytes between scope and ref does not change the tag")
	}
}

func TestTagDoesNotContainRef(t *testing.T) {
	s := testSecret(t, 7)
	for _, ref := range []string{"U123ABCDEF", "john.doe@example.com", "alice"} {
		tag := s.Tag(WaveScope("survey-1", 3), ref)
		r := []byte(ref)
		encodings := map[string][]byte{
			"raw":       tag,
			"hex":       []byte(hex.EncodeToString(tag)),
			"HEX":       []byte(strings.ToUpper(hex.EncodeToString(tag))),
			"base64":    []byte(base64.StdEncoding.EncodeToString(tag)),
			"base64url": []byte(base64.RawURLEncoding.EncodeToString(tag)),
			"base32":    []byte(base32.StdEncoding.EncodeToString(tag)),
		}
		for name, enc := range encodings {
			for _, needle := range [][]byte{r, []byte(hex.EncodeToString(r)), []byte(base64.RawStdEncoding.EncodeToString(r)), bytes.ToLower(r), bytes.ToUpper(r)} {
				if bytes.Contains(enc, needle) || bytes.Contains(bytes.ToLower(enc), bytes.ToLower(needle)) {
					t.Errorf("tag of %q in %s contains %q", ref, name, needle)
				}
			}
		}
	}
}

func TestScopes(t *testing.T) {
	if got := WaveScope("s-42", 7); got != "wave/s-42/7" {
		t.Errorf("WaveScope = %q", got)
	}
	paris := time.FixedZone("CET", 3600)
	if got := DayScope("ratelimit", time.Date(2026, 11, 24, 0, 30, 0, 0, paris)); got != "ratelimit/2026-11-23" {
		t.Errorf("DayScope = %q, want the UTC day ratelimit/2026-11-23", got)
	}
	if WaveScope("s1", 12) == WaveScope("s11", 2) {
		t.Error("wave scopes of two waves collide")
	}
}

func TestContributors(t *testing.T) {
	s := testSecret(t, 3)
	seg := segment.MustParse("acme/eng/platform")
	at := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	got := s.Contributors("U1", seg, at)

	var want []string
	for _, a := range []string{"acme", "acme/eng", "acme/eng/platform"} {
		for _, w := range []string{"day:2026-11-23", "week:2026-W48", "month:2026-11"} {
			want = append(want, a+" "+w)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tags, want %d", len(got), len(want))
	}
	seen := map[string]bool{}
	for i, c := range got {
		if c.Segment+" "+c.Window != want[i] {
			t.Errorf("tag %d is %s %s, want %s", i, c.Segment, c.Window, want[i])
		}
		if seen[string(c.Tag)] {
			t.Errorf("tag %d (%s %s) repeats another: tags of two scopes can be linked", i, c.Segment, c.Window)
		}
		seen[string(c.Tag)] = true
	}

	// Same person, same windows: same tags (so distinct people can be counted); another
	// person: none in common.
	again := s.Contributors("U1", seg, at.Add(time.Hour))
	for i := range got {
		if !bytes.Equal(got[i].Tag, again[i].Tag) {
			t.Errorf("tag %d changed within its windows", i)
		}
	}
	for _, c := range s.Contributors("U2", seg, at) {
		if seen[string(c.Tag)] {
			t.Errorf("U2 shares a tag with U1 at %s %s", c.Segment, c.Window)
		}
	}
	// A sibling segment shares the ancestors' tags and nothing else.
	sib := s.Contributors("U1", segment.MustParse("acme/eng/data"), at)
	for i, c := range sib {
		if shared := seen[string(c.Tag)]; shared != (c.Segment != "acme/eng/data") {
			t.Errorf("sibling tag %d (%s %s): shared=%v", i, c.Segment, c.Window, shared)
		}
	}
	// The next day keeps the week and month tags and changes the day tags.
	next := s.Contributors("U1", seg, at.Add(24*time.Hour))
	for i, c := range next {
		same := bytes.Equal(c.Tag, got[i].Tag)
		if same != !strings.HasPrefix(c.Window, "day:") {
			t.Errorf("next day, tag %d (%s %s): same=%v", i, c.Segment, c.Window, same)
		}
	}
	if s.Contributors("U1", segment.Path{}, at) != nil {
		t.Error("the zero Path has contributors")
	}
}

func TestContributorWindow(t *testing.T) {
	at := time.Date(2024, 12, 30, 8, 0, 0, 0, time.UTC)
	for g, want := range map[window.Granularity]string{window.Day: "day:2024-12-30", window.Week: "week:2025-W01", window.Month: "month:2024-12"} {
		w := window.Of(g, at)
		got := ContributorWindow(w)
		if got != want {
			t.Errorf("ContributorWindow(%v) = %q, want %q", g, got, want)
		}
		back, err := ParseContributorWindow(got)
		if err != nil || back != w {
			t.Errorf("ParseContributorWindow(%q) = %+v, %v", got, back, err)
		}
	}
	for _, bad := range []string{"", "2026-W48", "week:2026-11", "year:2026", "day:2026-W48", "week:"} {
		if _, err := ParseContributorWindow(bad); !errors.Is(err, window.ErrInvalidKey) {
			t.Errorf("ParseContributorWindow(%q) error %v, want window.ErrInvalidKey", bad, err)
		}
	}
}

func TestMeetsMinimum(t *testing.T) {
	for _, tc := range []struct {
		people, k int
		want      bool
	}{
		{4, 5, false}, {5, 5, true}, {6, 5, true},
		{2, 2, true}, {1, 2, false},
		{0, 2, false},
		// A k below 2 fails closed to the default.
		{1, 1, false}, {4, 0, false}, {5, 0, true}, {1, -3, false},
	} {
		if got := MeetsMinimum(tc.people, tc.k); got != tc.want {
			t.Errorf("MeetsMinimum(%d, %d) = %v, want %v", tc.people, tc.k, got, tc.want)
		}
	}
}

func TestNewSecret(t *testing.T) {
	if _, err := NewSecret(make([]byte, 31)); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("31-byte key: error %v, want ErrInvalidSecret", err)
	}
	key := bytes.Repeat([]byte{9}, 40)
	s, err := NewSecret(key)
	if err != nil {
		t.Fatalf("40-byte key: %v", err)
	}
	before := s.Tag("x", "y")
	key[0] = 0
	if !bytes.Equal(before, s.Tag("x", "y")) {
		t.Fatal("NewSecret kept the caller's slice: changing it changed the tags")
	}
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(out, "9 9") || strings.Contains(out, "0x9") || !strings.Contains(out, "redacted") {
			t.Errorf("formatting a Secret printed %q", out)
		}
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "secret.key")
	s1, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat secret: %v", err)
	}
	if fi.Size() != SecretSize || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file is %d bytes, mode %v; want %d bytes, 0600", fi.Size(), fi.Mode().Perm(), SecretSize)
	}
	di, err := os.Stat(dir)
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("secret dir mode %v (%v), want 0700", di.Mode().Perm(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("dir holds %d entries (%v), want only the secret: temporary files left behind", len(entries), err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read secret: %v", err)
	}
	if !bytes.Equal(raw, s1.key) || bytes.Equal(raw, make([]byte, SecretSize)) {
		t.Fatal("file does not hold the secret in use, or it is all zeros")
	}

	s2, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !bytes.Equal(s1.Tag("scope", "ref"), s2.Tag("scope", "ref")) {
		t.Fatal("reloaded secret gives other tags")
	}

	other, err := LoadOrCreateSecret(filepath.Join(t.TempDir(), "secret.key"))
	if err != nil {
		t.Fatalf("second data dir: %v", err)
	}
	if bytes.Equal(s1.Tag("scope", "ref"), other.Tag("scope", "ref")) {
		t.Fatal("two fresh secrets are equal")
	}
}

func TestLoadOrCreateSecretWrongSize(t *testing.T) {
	for _, size := range []int{0, 16, 33} {
		path := filepath.Join(t.TempDir(), "secret.key")
		content := bytes.Repeat([]byte{1}, size)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatalf("write: %v", err)
		}
		_, err := LoadOrCreateSecret(path)
		if !errors.Is(err, ErrInvalidSecret) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%d-byte file: error %v, want ErrInvalidSecret naming %s", size, err, path)
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(after, content) {
			t.Fatalf("%d-byte file was changed to %d bytes", size, len(after))
		}
	}
}

// Services of one data dir start together and must all end up with the same secret.
func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "secret.key")
		const n = 8
		tags := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				s, err := LoadOrCreateSecret(path)
				errs[i] = err
				if err == nil {
					tags[i] = s.Tag("scope", "ref")
				}
			})
		}
		close(start)
		wg.Wait()
		final, err := LoadOrCreateSecret(path)
		if err != nil {
			t.Fatalf("round %d: reload: %v", round, err)
		}
		want := final.Tag("scope", "ref")
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d, caller %d: %v", round, i, errs[i])
			}
			if !bytes.Equal(tags[i], want) {
				t.Fatalf("round %d, caller %d holds a secret other than the one on disk", round, i)
			}
		}
	}
}

func BenchmarkContributors(b *testing.B) {
	s, _ := NewSecret(bytes.Repeat([]byte{1}, SecretSize))
	seg := segment.MustParse("acme/engineering/platform/core")
	at := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	for b.Loop() {
		s.Contributors("U123ABC", seg, at)
	}
}

// TestSecretSourceNeverInventsASecret: run as separate processes with separate data dirs, each
// service used to make a secret of its own, and one person's comment and survey answer were
// counted as two people. A missing file is now an error that says how to share the secret.
func TestSecretSourceNeverInventsASecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	_, err := SecretSource{File: path}.Load()
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "--create-secret") || !strings.Contains(err.Error(), SecretEnv) {
		t.Fatalf("Load of a missing file = %v, want an error naming the file, --create-secret and %s", err, SecretEnv)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Fatalf("Load without Create wrote %s (%v)", path, statErr)
	}
	made, err := SecretSource{File: path, Create: true}.Load()
	if err != nil {
		t.Fatal(err)
	}
	again, err := SecretSource{File: path}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(made.Tag("s", "r"), again.Tag("s", "r")) {
		t.Fatal("the file loaded is not the secret created")
	}
	// The environment form: the same key, so the same tags.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{EncodeSecret(made), hex.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw) + "\n"} {
		env, err := SecretSource{Key: enc, File: filepath.Join(dir, "absent")}.Load()
		if err != nil {
			t.Fatalf("Load(Key %q): %v", enc, err)
		}
		if !bytes.Equal(env.Tag("s", "r"), made.Tag("s", "r")) {
			t.Fatalf("Key %q gives other tags than the file", enc)
		}
	}
	for _, bad := range []string{"short", base64.StdEncoding.EncodeToString(raw[:16]), hex.EncodeToString(append(raw, 0))} {
		if _, err := (SecretSource{Key: bad}).Load(); !errors.Is(err, ErrInvalidSecret) || strings.Contains(err.Error(), bad) {
			t.Errorf("Load(Key %q) = %v, want ErrInvalidSecret without the value", bad, err)
		}
	}
}

// TestTagIsTheDocumentedHMAC: Tag reuses keyed HMACs and their input buffers across calls
// and goroutines; every tag must still be the HMAC its doc comment defines (stored tags must
// keep matching), whatever the length of the previous input, and under another key another.
func TestTagIsTheDocumentedHMAC(t *testing.T) {
	key := bytes.Repeat([]byte{7}, SecretSize)
	s, other := testSecret(t, 7), testSecret(t, 8)
	want := func(scope, ref string) []byte {
		mac := hmac.New(sha256.New, key)
		var n [8]byte
		mac.Write([]byte(tagDomain))
		binary.BigEndian.PutUint64(n[:], uint64(len(scope)))
		mac.Write(append(n[:], scope...))
		binary.BigEndian.PutUint64(n[:], uint64(len(ref)))
		mac.Write(append(n[:], ref...))
		return mac.Sum(nil)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				// Long and short inputs alternate, so a reused buffer must be cut back.
				scope := fmt.Sprintf("scope/%d/%s", g, strings.Repeat("x", (i*37)%300))
				ref := fmt.Sprintf("U%d", i)
				got := s.Tag(scope, ref)
				if !bytes.Equal(got, want(scope, ref)) {
					t.Errorf("Tag(%q, %q) is not the documented HMAC", scope, ref)
					return
				}
				if bytes.Equal(other.Tag(scope, ref), got) {
					t.Errorf("two keys gave the same tag for (%q, %q)", scope, ref)
					return
				}
			}
		})
	}
	wg.Wait()
}
