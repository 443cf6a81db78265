package auth_test

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voix-dev/voix/services/platform/auth"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		tok, err := auth.NewToken()
		if err != nil {
			t.Fatalf("NewToken: %v", err)
		}
		raw, ok := strings.CutPrefix(tok, "voix_")
		if !ok {
			t.Fatalf("token %q lacks the voix_ prefix", tok)
		}
		b, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil || len(b) != 32 {
			t.Fatalf("token %q: body is not 32 bytes of unpadded base64url (%d bytes, %v)", tok, len(b), err)
		}
		if seen[tok] {
			t.Fatalf("NewToken repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestHashToken(t *testing.T) {
	// sha256("abc"), a published test vector.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := auth.HashToken("abc"); got != want {
		t.Fatalf("HashToken(abc) = %s, want %s", got, want)
	}
}

func writeRaw(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

func TestWriteLoadRoundTrip(t *testing.T) {
	hrTok, _ := auth.NewToken()
	adminTok, _ := auth.NewToken()
	path := filepath.Join(t.TempDir(), "auth", "tokens.json") // directory does not exist yet
	err := auth.WriteTokens(path, auth.TokenFile{Tokens: []auth.TokenRecord{
		{Name: "hr-portal", Role: auth.RoleHR, Prefix: "acme", SHA256: auth.HashToken(hrTok)},
		{Name: "root", Role: auth.RoleAdmin, SHA256: strings.ToUpper(auth.HashToken(adminTok))},
	}})
	if err != nil {
		t.Fatalf("WriteTokens: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", info.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), hrTok) || strings.Contains(string(data), adminTok) {
		t.Fatalf("token file holds a plain token:\n%s", data)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after WriteTokens, want only the file (no temp left)", len(entries))
	}

	tokens, err := auth.LoadTokens(path)
	if err != nil {
		t.Fatalf("LoadTokens: %v", err)
	}
	if tokens.Len() != 2 {
		t.Fatalf("Len = %d, want 2", tokens.Len())
	}
	for _, tc := range []struct {
		token string
		want  auth.Principal
		ok    bool
	}{
		{hrTok, auth.Principal{Name: "hr-portal", Role: auth.RoleHR, Prefix: "acme"}, true},
		{adminTok, auth.Principal{Name: "root", Role: auth.RoleAdmin}, true}, // upper-case hex accepted
		{"voix_unknown", auth.Principal{}, false},
		{"", auth.Principal{}, false},
		{auth.HashToken(hrTok), auth.Principal{}, false}, // the hash itself is not a token
	} {
		got, ok := tokens.Lookup(tc.token)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Lookup(%.12q…) = %+v, %v; want %+v, %v", tc.token, got, ok, tc.want, tc.ok)
		}
	}

	// Overwriting replaces the file atomically and revokes what is gone.
	if err := auth.WriteTokens(path, auth.TokenFile{}); err != nil {
		t.Fatalf("WriteTokens(empty): %v", err)
	}
	tokens, err = auth.LoadTokens(path)
	if err != nil {
		t.Fatalf("LoadTokens(empty): %v", err)
	}
	if _, ok := tokens.Lookup(hrTok); ok {
		t.Fatal("token still valid after it was removed from the file")
	}
	// A file an operator made readable by the services' user keeps its mode when replaced.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := auth.WriteTokens(path, auth.TokenFile{}); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o644 {
		t.Fatalf("mode after replacing a 0644 file = %v (%v), want 0644 kept", info.Mode().Perm(), err)
	}
}

func TestLoadTokensErrors(t *testing.T) {
	h := auth.HashToken("t")
	h2 := auth.HashToken("u")
	for _, tc := range []struct {
		name    string
		content string
		want    []string // substrings of the error
	}{
		{"not json", `tokens: []`, []string{"want {"}},
		{"unknown field", `{"tokens":[{"name":"x","role":"hr","prefix":"acme","token":"voix_x","sha256":"` + h + `"}]}`, []string{`unknown field "token"`}},
		{"trailing data", `{"tokens":[]} {}`, []string{"after the JSON object"}},
		{"unknown role", `{"tokens":[{"name":"a","role":"hr","prefix":"acme","sha256":"` + h + `"},{"name":"b","role":"boss","prefix":"acme","sha256":"` + h2 + `"}]}`, []string{"tokens[1].role", `"boss"`}},
		{"short hash", `{"tokens":[{"name":"a","role":"hr","prefix":"acme","sha256":"abc"}]}`, []string{"tokens[0].sha256", "64 hex"}},
		{"non-hex hash", `{"tokens":[{"name":"a","role":"hr","prefix":"acme","sha256":"` + strings.Repeat("zz", 32) + `"}]}`, []string{"tokens[0].sha256", "hex"}},
		{"manager without prefix", `{"tokens":[{"name":"a","role":"manager","prefix":"","sha256":"` + h + `"}]}`, []string{"tokens[0].prefix", "manager"}},
		{"bad prefix", `{"tokens":[{"name":"a","role":"hr","prefix":"Acme/eng","sha256":"` + h + `"}]}`, []string{"tokens[0].prefix", "Acme"}},
		{"prefix with empty element", `{"tokens":[{"name":"a","role":"hr","prefix":"acme//eng","sha256":"` + h + `"}]}`, []string{"tokens[0].prefix"}},
		{"prefix too deep", `{"tokens":[{"name":"a","role":"hr","prefix":"a/b/c/d/e/f/g/h/i","sha256":"` + h + `"}]}`, []string{"tokens[0].prefix", "levels"}},
		{"element too long", `{"tokens":[{"name":"a","role":"hr","prefix":"` + strings.Repeat("a", 64) + `","sha256":"` + h + `"}]}`, []string{"tokens[0].prefix"}},
		{"malformed expiry", `{"tokens":[{"name":"a","role":"hr","prefix":"acme","sha256":"` + h + `","expires":"next tuesday"}]}`, []string{"tokens[0].expires", "RFC 3339"}},
		{"duplicate hash", `{"tokens":[{"name":"a","role":"hr","prefix":"acme","sha256":"` + h + `"},{"name":"b","role":"admin","prefix":"","sha256":"` + strings.ToUpper(h) + `"}]}`, []string{"tokens[1].sha256", "twice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeRaw(t, tc.content)
			_, err := auth.LoadTokens(path)
			if err == nil {
				t.Fatal("LoadTokens accepted the file")
			}
			if !errors.Is(err, auth.ErrInvalidTokens) {
				t.Fatalf("error %v does not wrap ErrInvalidTokens", err)
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadTokensAcceptsLongestPrefix(t *testing.T) {
	prefix := strings.TrimSuffix(strings.Repeat("a"+strings.Repeat("b", 62)+"/", 8), "/")
	path := writeRaw(t, `{"tokens":[{"name":"a","role":"manager","prefix":"`+prefix+`","sha256":"`+auth.HashToken("t")+`"}]}`)
	if _, err := auth.LoadTokens(path); err != nil {
		t.Fatalf("8 levels of 63 characters rejected: %v", err)
	}
}

func TestLoadTokensMissingFile(t *testing.T) {
	_, err := auth.LoadTokens(filepath.Join(t.TempDir(), "nope.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadTokens(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestWriteTokensRejectsInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	err := auth.WriteTokens(path, auth.TokenFile{Tokens: []auth.TokenRecord{{Name: "x", Role: auth.RoleSubmitter, SHA256: auth.HashToken("t")}}})
	if !errors.Is(err, auth.ErrInvalidTokens) || !strings.Contains(err.Error(), "tokens[0].prefix") {
		t.Fatalf("WriteTokens(submitter without prefix) = %v, want ErrInvalidTokens naming tokens[0].prefix", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an invalid token file was written (stat: %v)", err)
	}
}
