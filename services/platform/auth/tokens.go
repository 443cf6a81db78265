package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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

// Tokens is a loaded token file: principals by token hash. Plain tokens are never kept.
type Tokens struct {
	byHash map[string]Principal
}

// LoadTokens reads and validates a token file. Every record needs a known role, a 64-digit
// hex sha256 and, unless it is an admin, a well-formed segment prefix; a hash may appear only
// once. Errors wrap ErrInvalidTokens and name the record and field, as in
// "tokens[2].role: ...". Unknown JSON fields are rejected, so that a typo (or a plain "token"
// field) does not pass silently.
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read token file: %w", err)
	}
	t, err := parseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrInvalidTokens, path, err)
	}
	return t, nil
}

// NewTokens builds Tokens from records, with the checks of LoadTokens.
func NewTokens(records []TokenRecord) (*Tokens, error) {
	t, err := buildTokens(records)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTokens, err)
	}
	return t, nil
}

// parseTokens and buildTokens return errors that say what is wrong where; the exported
// functions add ErrInvalidTokens and the file.
func parseTokens(data []byte) (*Tokens, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f TokenFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("want {\"tokens\": [{\"name\", \"role\", \"prefix\", \"sha256\"}, ...]}: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return buildTokens(f.Tokens)
}

func buildTokens(records []TokenRecord) (*Tokens, error) {
	t := &Tokens{byHash: make(map[string]Principal, len(records))}
	for i, r := range records {
		if err := checkRecord(r); err != nil {
			return nil, fmt.Errorf("tokens[%d].%w", i, err)
		}
		h := strings.ToLower(r.SHA256)
		if _, dup := t.byHash[h]; dup {
			return nil, fmt.Errorf("tokens[%d].sha256: the same token hash appears twice", i)
		}
		t.byHash[h] = Principal{Name: r.Name, Role: r.Role, Prefix: r.Prefix}
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

// Lookup returns the principal whose token is bearer. A nil *Tokens knows no token.
func (t *Tokens) Lookup(bearer string) (Principal, bool) {
	if t == nil || bearer == "" {
		return Principal{}, false
	}
	p, ok := t.byHash[HashToken(bearer)]
	return p, ok
}

// Len is the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byHash)
}

// WriteTokens validates f and writes it to path atomically (a temporary file in the same
// directory, synced, then renamed) with mode 0600, creating the directory (0700) if needed.
// Readers never see a half-written file, and a crash leaves the old one.
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
	if err := tmp.Chmod(0o600); err != nil {
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
