package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voix-dev/voix/services/platform/segment"
)

// ErrInvalidTokens is wrapped by every error about the content of a token file.
var ErrInvalidTokens = errors.New("auth: invalid token file")

// TokenRecord is one token in a token file. The token itself is never stored: only the hex
// SHA-256 of it, as HashToken computes.
type TokenRecord struct {
	Name   string `json:"name"`
	Role   Role   `json:"role"`
	Prefix string `json:"prefix"`
	SHA256 string `json:"sha256"`
	// Expires, when set, is the instant (RFC 3339, e.g. "2026-12-31T00:00:00Z") from which
	// the token is refused as Unauthenticated. Empty: it never expires.
	Expires string `json:"expires,omitempty"`
}

// ExpiresAt is Expires parsed; the zero time when the token never expires or Expires is
// malformed (LoadTokens refuses such a file).
func (r TokenRecord) ExpiresAt() time.Time {
	t, _ := time.Parse(time.RFC3339, r.Expires)
	return t
}

// TokenFile is the JSON document LoadTokens reads and WriteTokens writes.
type TokenFile struct {
	Tokens []TokenRecord `json:"tokens"`
}

// tokenPrefix marks voix tokens, so that secret scanners and people recognise one.
const tokenPrefix = "voix_"

// NewToken returns a fresh bearer token: "voix_" and 32 random bytes in unpadded base64url.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: new token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is the lower-case hex SHA-256 of token, as stored in TokenRecord.SHA256. A plain
// hash is enough: tokens carry 256 random bits, so there is nothing to brute-force.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Errors of Authenticate. Both are Unauthenticated to a caller.
var (
	ErrUnknownToken = errors.New("unknown or revoked bearer token")
	ErrExpiredToken = errors.New("bearer token expired")
)

// DefaultReloadInterval is how often Watch looks at the token file: a token revoked in the
// file is refused within about this long, without a restart.
const DefaultReloadInterval = time.Second

// Tokens is a loaded token file: principals by token hash. Plain tokens are never kept.
// Tokens loaded from a file can follow it (Watch): a new version replaces the tokens at
// once for every caller, and a malformed one is logged and ignored, keeping the previous.
type Tokens struct {
	path  string // the file LoadTokens read; empty for NewTokens
	set   atomic.Pointer[tokenSet]
	clock atomic.Pointer[func() time.Time]

	mu       sync.Mutex  // guards what follows, and serialises Reload
	seen     os.FileInfo // the file as last read, or as last refused
	onChange []func()
}

// tokenSet is one version of the file.
type tokenSet struct {
	byHash map[string]Principal
}

// LoadTokens reads and validates a token file. Every record needs a known role, a 64-digit
// hex sha256 and, unless it is an admin, a well-formed segment prefix; a hash may appear only
// once. Errors wrap ErrInvalidTokens and name the record and field, as in
// "tokens[2].role: ...". Unknown JSON fields are rejected, so that a typo (or a plain "token"
// field) does not pass silently.
func LoadTokens(path string) (*Tokens, error) {
	info, set, err := readTokens(path)
	if err != nil {
		return nil, err
	}
	t := &Tokens{path: path, seen: info}
	t.set.Store(set)
	return t, nil
}

// readTokens stats path, then reads and checks it. The stat comes first, so that a change
// made between the two is seen by the next Reload.
func readTokens(path string) (os.FileInfo, *tokenSet, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: read token file: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return info, nil, fmt.Errorf("auth: read token file: %w", err)
	}
	set, err := parseTokens(data)
	if err != nil {
		return info, nil, fmt.Errorf("%w %s: %w", ErrInvalidTokens, path, err)
	}
	return info, set, nil
}

// ReadTokenFile reads and checks a token file as LoadTokens does, and returns its records:
// for tools that change the file (voix token).
func ReadTokenFile(path string) (TokenFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return TokenFile{}, fmt.Errorf("auth: read token file: %w", err)
	}
	f, err := decodeTokenFile(data)
	if err == nil {
		_, err = buildTokens(f.Tokens)
	}
	if err != nil {
		return TokenFile{}, fmt.Errorf("%w %s: %w", ErrInvalidTokens, path, err)
	}
	return f, nil
}

// NewTokens builds Tokens from records, with the checks of LoadTokens.
func NewTokens(records []TokenRecord) (*Tokens, error) {
	set, err := buildTokens(records)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTokens, err)
	}
	t := &Tokens{}
	t.set.Store(set)
	return t, nil
}

// SetClock sets the clock expiries are checked against (default time.Now): for tests.
func (t *Tokens) SetClock(now func() time.Time) { t.clock.Store(&now) }

func (t *Tokens) now() time.Time {
	if t == nil {
		return time.Now()
	}
	if c := t.clock.Load(); c != nil {
		return (*c)()
	}
	return time.Now()
}

// Reload reads the token file again if it changed (another size, modification time or
// inode: an atomic rename is a new file) since it was last read. It reports whether the
// tokens were replaced. A file that cannot be read or is malformed is an error and changes
// nothing: the previous tokens stay in force, and that version of the file is not read again
// (the next change is). Tokens built by NewTokens have no file to reload.
func (t *Tokens) Reload() (bool, error) {
	if t == nil || t.path == "" {
		return false, errors.New("auth: reload: the tokens were not loaded from a file")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	info, err := os.Stat(t.path)
	if err != nil {
		if t.seen == nil {
			return false, nil // already reported
		}
		t.seen = nil
		return false, fmt.Errorf("auth: token file: %w; keeping the previous tokens", err)
	}
	if t.seen != nil && os.SameFile(info, t.seen) && info.Size() == t.seen.Size() && info.ModTime().Equal(t.seen.ModTime()) {
		return false, nil
	}
	info, set, err := readTokens(t.path)
	t.seen = info
	if err != nil {
		return false, fmt.Errorf("%w; keeping the previous tokens", err)
	}
	t.set.Store(set)
	for _, f := range t.onChange {
		f()
	}
	return true, nil
}

// Watch reloads the token file every interval (DefaultReloadInterval when not positive)
// until ctx is done, logging each new version and each version it refused. Polling needs no
// inotify and sees a file replaced by rename (WriteTokens, a Kubernetes secret update).
func (t *Tokens) Watch(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		changed, err := t.Reload()
		switch {
		case err != nil:
			log.Error("token file not reloaded", "file", t.path, "err", err)
		case changed:
			log.Info("token file reloaded", "file", t.path, "tokens", t.Len())
		}
	}
}

// subscribe calls f after each reload that replaced the tokens.
func (t *Tokens) subscribe(f func()) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onChange = append(t.onChange, f)
}

// parseTokens and buildTokens return errors that say what is wrong where; the exported
// functions add ErrInvalidTokens and the file.
func parseTokens(data []byte) (*tokenSet, error) {
	f, err := decodeTokenFile(data)
	if err != nil {
		return nil, err
	}
	return buildTokens(f.Tokens)
}

func decodeTokenFile(data []byte) (TokenFile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f TokenFile
	if err := dec.Decode(&f); err != nil {
		return TokenFile{}, fmt.Errorf("want {\"tokens\": [{\"name\", \"role\", \"prefix\", \"sha256\", \"expires\"}, ...]}: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return TokenFile{}, errors.New("unexpected data after the JSON object")
	}
	return f, nil
}

func buildTokens(records []TokenRecord) (*tokenSet, error) {
	t := &tokenSet{byHash: make(map[string]Principal, len(records))}
	for i, r := range records {
		if err := checkRecord(r); err != nil {
			return nil, fmt.Errorf("tokens[%d].%w", i, err)
		}
		h := strings.ToLower(r.SHA256)
		if _, dup := t.byHash[h]; dup {
			return nil, fmt.Errorf("tokens[%d].sha256: the same token hash appears twice", i)
		}
		t.byHash[h] = Principal{Name: r.Name, Role: r.Role, Prefix: r.Prefix, Expires: r.ExpiresAt()}
	}
	return t, nil
}

// checkRecord returns an error starting with the field's JSON name.
func checkRecord(r TokenRecord) error {
	if !r.Role.Valid() {
		return fmt.Errorf("role: %q is not a role; want submitter, manager, hr or admin", r.Role)
	}
	if len(r.SHA256) != sha256.Size*2 {
		return fmt.Errorf("sha256: must be 64 hex digits (the SHA-256 of the token), got %d characters", len(r.SHA256))
	}
	if _, err := hex.DecodeString(r.SHA256); err != nil {
		return errors.New("sha256: must be 64 hex digits (the SHA-256 of the token)")
	}
	if r.Expires != "" {
		if _, err := time.Parse(time.RFC3339, r.Expires); err != nil {
			return fmt.Errorf("expires: %q is not an RFC 3339 instant (e.g. 2026-12-31T00:00:00Z)", r.Expires)
		}
	}
	if r.Prefix == "" {
		if r.Role != RoleAdmin {
			return fmt.Errorf("prefix: a %s token must be limited to a segment prefix; only an admin may be global", r.Role)
		}
		return nil
	}
	if _, err := segment.Parse(r.Prefix); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// Lookup returns the principal whose token is bearer, unless it expired. A nil *Tokens
// knows no token.
func (t *Tokens) Lookup(bearer string) (Principal, bool) {
	p, err := t.Authenticate(bearer)
	return p, err == nil
}

// Authenticate returns the principal whose token is bearer, or an error wrapping
// ErrUnknownToken (no such token, or revoked) or ErrExpiredToken.
func (t *Tokens) Authenticate(bearer string) (Principal, error) {
	if t == nil || bearer == "" {
		return Principal{}, ErrUnknownToken
	}
	return t.byHash(HashToken(bearer))
}

// byHash is Authenticate for a token's hash.
func (t *Tokens) byHash(hash string) (Principal, error) {
	if t == nil {
		return Principal{}, ErrUnknownToken
	}
	p, ok := t.set.Load().byHash[hash]
	return t.valid(p, ok)
}

// hashBytes is byHash for a hash in a buffer: the lookup does not copy it into a string.
func (t *Tokens) hashBytes(hash []byte) (Principal, error) {
	if t == nil {
		return Principal{}, ErrUnknownToken
	}
	p, ok := t.set.Load().byHash[string(hash)]
	return t.valid(p, ok)
}

// valid is byHash's answer for a lookup that found p, or nothing.
func (t *Tokens) valid(p Principal, ok bool) (Principal, error) {
	if !ok {
		return Principal{}, ErrUnknownToken
	}
	if p.Expired(t.now()) {
		return Principal{}, fmt.Errorf("%w at %s", ErrExpiredToken, p.Expires.UTC().Format(time.RFC3339))
	}
	return p, nil
}

// Len is the number of tokens, expired ones included.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.set.Load().byHash)
}

// WriteTokens validates f and writes it to path atomically (a temporary file in the same
// directory, synced, then renamed), creating the directory (0700) if needed. A new file gets
// mode 0600; a replaced one keeps its mode (a deployment may have made it readable by the
// services' user). Readers never see a half-written file, and a crash leaves the old one.
func WriteTokens(path string, f TokenFile) (err error) {
	if _, err := NewTokens(f.Tokens); err != nil {
		return err
	}
	if f.Tokens == nil {
		f.Tokens = []TokenRecord{} // "tokens": [] reads better than null
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("auth: encode token file: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("auth: write token file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("auth: write token file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	mode := os.FileMode(0o600)
	if old, err := os.Stat(path); err == nil {
		mode = old.Mode().Perm() // an operator who made it readable by the services' user meant it
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("auth: write token file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("auth: write token file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("auth: write token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("auth: write token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("auth: write token file: %w", err)
	}
	// Sync the directory so that the rename itself survives a crash.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
