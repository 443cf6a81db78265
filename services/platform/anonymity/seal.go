package anonymity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/voix-dev/voix/services/platform/segment"
)

// A contributor tag is stable within its segment and window, which is what lets the sentiment
// service count distinct people; in an event, that same stability would link two comments of
// one person in one week, or a comment and a survey answer, for anyone who reads the streams.
// Events therefore carry each tag sealed: AES-256-GCM under a key derived from the secret,
// with a fresh random nonce, so that two seals of one tag share no byte pattern. Only a holder
// of the secret (the sentiment service) opens them, and it needs them only to count people.
// An operator holding the secret can open them too: sealing protects against readers of the
// streams, backups and freed pages, not against the secret's holder.

const (
	sealDomain = "voix-contributor-seal-v1"
	nonceSize  = 12
	// SealedTagSize is the size of a sealed contributor tag: nonce, the 32-byte tag, GCM tag.
	SealedTagSize = nonceSize + sha256.Size + 16
)

// ErrSealedTag is wrapped by the errors of OpenTag: the bytes are not a tag sealed under this
// secret (tampered, truncated, or from another deployment).
var ErrSealedTag = errors.New("contributor tag cannot be opened")

// sealCipher is the AEAD that seals contributor tags. It is derived once per Secret: the key
// schedule and GCM tables cost more than sealing a tag. The AEAD holds no state between
// calls, so concurrent Seal and Open share it.
func (s *Secret) sealCipher() cipher.AEAD {
	s.seal.Do(func() {
		mac := hmac.New(sha256.New, s.key)
		mac.Write([]byte(sealDomain))
		block, err := aes.NewCipher(mac.Sum(nil))
		if err != nil {
			panic(err) // a 32-byte key is always valid
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			panic(err)
		}
		s.sealAEAD = aead
	})
	return s.sealAEAD
}

// SealTag seals a contributor tag for an event. The scope (segment and window) is bound as
// additional data, so a sealed tag moved to another scope does not open.
func (s *Secret) SealTag(t ContributorTag) []byte {
	nonce := make([]byte, nonceSize, SealedTagSize)
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("anonymity: random nonce: %v", err)) // crypto/rand does not fail on supported platforms
	}
	return s.sealCipher().Seal(nonce, nonce, t.Tag, []byte(contributorScope(t.Segment, t.Window)))
}

// OpenTag returns the tag of segment seg and window win from its sealed form. A 32-byte value
// is a tag written before tags were sealed and is returned as it is, so that older events in a
// stream still count.
func (s *Secret) OpenTag(seg, win string, sealed []byte) ([]byte, error) {
	switch len(sealed) {
	case sha256.Size:
		return sealed, nil
	case SealedTagSize:
	default:
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrSealedTag, len(sealed), SealedTagSize)
	}
	tag, err := s.sealCipher().Open(nil, sealed[:nonceSize], sealed[nonceSize:], []byte(contributorScope(seg, win)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealedTag, err)
	}
	return tag, nil
}

// SealedContributors is Contributors with each tag sealed (SealTag), as events carry them.
func (s *Secret) SealedContributors(ref string, seg segment.Path, t time.Time) []ContributorTag {
	tags := s.Contributors(ref, seg, t)
	for i := range tags {
		tags[i].Tag = s.SealTag(tags[i])
	}
	return tags
}
