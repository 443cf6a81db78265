// Package anonymity owns the rules that keep voix anonymous (docs/design.md, Anonymity): the
// server secret, the keyed tags that stand in for a person inside one scope, and the minimum
// group size below which nothing is shown.
//
// A tag is HMAC-SHA256 of the person's opaque reference under the secret, bound to a scope
// (a survey wave, a day, a segment and aggregation window). Inside its scope a tag is stable,
// so duplicates and distinct people can be counted; across scopes two tags of the same person
// look unrelated, so records cannot be joined, and without the secret a tag cannot be
// recomputed from a guessed reference.
package anonymity

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
)

const (
	// DefaultMinGroupSize is k: no result, aggregate or event is shown for fewer distinct
	// people.
	DefaultMinGroupSize = 5
	// DefaultCommentThreshold is the headcount a segment needs before comments are shown
	// under it rather than under its nearest ancestor that has it.
	DefaultCommentThreshold = 10
	// SecretSize is the size of a secret file, and the least key NewSecret accepts.
	SecretSize = 32
)

// tagDomain separates voix tags from any other use of the same key. Changing it, or the
// encoding in Tag, changes every tag: stored duplicate markers would stop matching.
const tagDomain = "voix-tag-v1"

// ErrInvalidSecret is wrapped by the errors of NewSecret and LoadOrCreateSecret when the key
// itself is wrong (too short, a file of the wrong size), as opposed to an I/O failure.
var ErrInvalidSecret = errors.New("invalid anonymity secret")

// Secret is the server key behind every tag. Whoever holds it can recompute a person's tags
// from their reference, so it never leaves the data dir: String and GoString redact it.
type Secret struct {
	key []byte
	// taggers holds keyed HMACs (with their input buffer) for Tag: hmac.New hashes the key
	// and allocates two digests on each call, and a submission makes about twenty tags.
	taggers sync.Pool
	// seal is the AEAD of sealed contributor tags (seal.go), derived once.
	seal     sync.Once
	sealAEAD cipher.AEAD
}

// tagger is a keyed HMAC-SHA256 and the buffer its input is built in.
type tagger struct {
	mac hash.Hash
	buf []byte
}

// NewSecret returns a Secret with a copy of key, which must be at least SecretSize bytes.
// Services load theirs with SecretSource.Load; this is for tests and tools.
func NewSecret(key []byte) (*Secret, error) {
	if len(key) < SecretSize {
		return nil, fmt.Errorf("%w: key is %d bytes, need at least %d", ErrInvalidSecret, len(key), SecretSize)
	}
	return &Secret{key: append([]byte(nil), key...)}, nil
}

// SecretEnv is the environment variable that may hold the deployment's secret itself, base64
// (standard or URL alphabet, padded or not) or hex, instead of a file.
const SecretEnv = "VOIX_SECRET"

// SecretSource says where a service finds the deployment's secret. Every service of one
// deployment must hold the same secret: a person's comment and survey answer are counted as
// one person only if their contributor tags were made with one key. A service therefore never
// makes a secret of its own unless told to (Create), which only the first service of a new
// deployment, or `voix dev`, should be.
type SecretSource struct {
	// Key is the secret itself, encoded as SecretEnv is. When set, File is not read.
	Key string
	// File is the path of the SecretSize-byte key file.
	File string
	// Create makes a new random secret at File when it does not exist (LoadOrCreateSecret).
	Create bool
}

// Load returns the secret. A missing file is an error that says how to share one, unless
// Create is set.
func (src SecretSource) Load() (*Secret, error) {
	if src.Key != "" {
		return ParseSecret(src.Key)
	}
	if src.File == "" {
		return nil, fmt.Errorf("%w: no key and no key file given", ErrInvalidSecret)
	}
	if src.Create {
		return LoadOrCreateSecret(src.File)
	}
	s, err := loadSecret(src.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("anonymity: secret file %s does not exist. Every service of a deployment must share one secret: "+
			"copy the file from the service that created it (--secret-file), or set %s to its base64, "+
			"or start the first service of a new deployment once with --create-secret", src.File, SecretEnv)
	}
	return s, err
}

// ParseSecret decodes a secret written as base64 or hex of exactly SecretSize bytes.
func ParseSecret(encoded string) (*Secret, error) {
	encoded = strings.TrimSpace(encoded)
	for _, dec := range []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString,
	} {
		if key, err := dec(encoded); err == nil && len(key) == SecretSize {
			return &Secret{key: key}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s must be the base64 or hex of exactly %d bytes (e.g. `base64 secret.key`)", ErrInvalidSecret, SecretEnv, SecretSize)
}

// EncodeSecret writes s as SecretEnv takes it (standard base64), for an operator who moves
// the secret into the environment.
func EncodeSecret(s *Secret) string { return base64.StdEncoding.EncodeToString(s.key) }

// LoadOrCreateSecret reads the SecretSize-byte secret at path, creating it with fresh random
// bytes (file mode 0600, missing directories 0700) when it does not exist. Creation is atomic
// and never replaces a file: the key is written to a temporary file that is then hard-linked
// to path, so when several services of one data dir start together they all end up with the
// one secret that won, and a crash leaves either no file or a complete one. On a file system
// without hard links it falls back to a rename, which is atomic but could let a racing
// creator replace a secret that another process has just loaded.
//
// A file of any other size is an error naming the path: truncating or padding it would
// silently change every tag.
func LoadOrCreateSecret(path string) (*Secret, error) {
	s, err := loadSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("anonymity: create directory for secret %s: %w", path, err)
	}
	key := make([]byte, SecretSize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("anonymity: generate secret: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("anonymity: create secret %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after the link, only the temporary name goes
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("anonymity: write secret %s: %w", path, err)
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		// Another process created it first: theirs is the secret.
		return loadSecret(path)
	default:
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, fmt.Errorf("anonymity: create secret %s: %w", path, err)
		}
	}
	syncDir(dir)
	return &Secret{key: key}, nil
}

func loadSecret(path string) (*Secret, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("anonymity: read secret %s: %w", path, err)
	}
	if len(key) != SecretSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, want exactly %d: restore the original file (replacing it makes every stored tag stop matching)",
			ErrInvalidSecret, path, len(key), SecretSize)
	}
	return &Secret{key: key}, nil
}

// syncDir makes the new directory entry durable. It is best effort: some platforms cannot
// fsync a directory, and the file itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// String redacts the key, so that logging a Secret by mistake leaks nothing.
func (s *Secret) String() string { return "anonymity.Secret(redacted)" }

// GoString redacts the key for %#v too.
func (s *Secret) GoString() string { return s.String() }

// Tag returns HMAC-SHA256(key, "voix-tag-v1" || len(scope) || scope || len(ref) || ref), the
// lengths as 8-byte big-endian integers, so that no two (scope, ref) pairs share an input:
// ("ab", "c") and ("a", "bc") give different tags. The result is 32 bytes.
func (s *Secret) Tag(scope, ref string) []byte {
	t, _ := s.taggers.Get().(*tagger)
	if t == nil {
		t = &tagger{mac: hmac.New(sha256.New, s.key)}
	} else {
		t.mac.Reset() // back to the keyed state
	}
	b := append(t.buf[:0], tagDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(scope)))
	b = append(b, scope...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(ref)))
	b = append(b, ref...)
	t.mac.Write(b)
	out := t.mac.Sum(make([]byte, 0, sha256.Size))
	t.buf = b
	s.taggers.Put(t)
	return out
}

// WaveScope is the scope of "this person answered this wave": "wave/<surveyID>/<wave>".
func WaveScope(surveyID string, wave uint32) string {
	return "wave/" + surveyID + "/" + strconv.FormatUint(uint64(wave), 10)
}

// DayScope is the scope of a per-day check such as a rate limit: "<purpose>/<UTC day>",
// e.g. "ratelimit/2026-11-23".
func DayScope(purpose string, t time.Time) string {
	return purpose + "/" + window.Of(window.Day, t).Key()
}

// ContributorTag lets an aggregate count distinct people in one segment and window without
// being able to follow them into another: its scope is exactly that segment and window.
type ContributorTag struct {
	// Segment is the segment the tag counts for: the contributor's own or an ancestor.
	Segment string
	// Window is ContributorWindow of the aggregation window: "week:2026-W48".
	Window string
	// Tag is the keyed tag of the person under that segment and window.
	Tag []byte
}

// Contributors returns the tags of the person ref contributing at time t in seg: one for
// each ancestor of seg (the organisation first, seg itself last) and each of the day, week
// and month windows containing t, in that order. The scope of each tag is its segment and
// window, so tags from different segments or windows cannot be linked. It returns nil for the
// zero Path.
func (s *Secret) Contributors(ref string, seg segment.Path, t time.Time) []ContributorTag {
	anc := seg.Ancestors()
	if len(anc) == 0 {
		return nil
	}
	wins := [...]string{
		ContributorWindow(window.Of(window.Day, t)),
		ContributorWindow(window.Of(window.Week, t)),
		ContributorWindow(window.Of(window.Month, t)),
	}
	out := make([]ContributorTag, 0, len(anc)*len(wins))
	for _, a := range anc {
		for _, w := range wins {
			out = append(out, ContributorTag{Segment: a.String(), Window: w, Tag: s.Tag(contributorScope(a.String(), w), ref)})
		}
	}
	return out
}

// contributorScope is "contributor/<segment>@<window>"; a segment never contains '@'.
func contributorScope(seg, win string) string { return "contributor/" + seg + "@" + win }

// ContributorWindow names a window as ContributorTag.Window does: "<granularity>:<key>",
// e.g. "day:2026-11-23", "week:2026-W48", "month:2026-11".
func ContributorWindow(w window.Window) string { return w.Granularity.String() + ":" + w.Key() }

// ParseContributorWindow is the inverse of ContributorWindow. Errors wrap
// window.ErrInvalidKey.
func ParseContributorWindow(s string) (window.Window, error) {
	gs, key, ok := strings.Cut(s, ":")
	if !ok {
		return window.Window{}, fmt.Errorf("%w: %q must be <granularity>:<key>, e.g. week:2026-W48", window.ErrInvalidKey, s)
	}
	g, err := window.ParseGranularity(gs)
	if err != nil {
		return window.Window{}, err
	}
	w, err := window.ParseKey(key)
	if err != nil {
		return window.Window{}, err
	}
	if w.Granularity != g {
		return window.Window{}, fmt.Errorf("%w: %q: key %q is a %v, not a %v", window.ErrInvalidKey, s, key, w.Granularity, g)
	}
	return w, nil
}

// MeetsMinimum reports whether a group of people distinct people may be shown under the
// minimum group size k. It fails closed: a k below 2 (an unset or nonsensical setting, since
// a group of one is a person) counts as DefaultMinGroupSize, and an empty group is never
// shown. Callers should still reject such a k where it is configured.
func MeetsMinimum(people, k int) bool {
	if k < 2 {
		k = DefaultMinGroupSize
	}
	return people > 0 && people >= k
}
