package feedback

import (
	"strings"
	"unicode"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/rpcerr"
)

// codeLen is the length of a follow-up token: 26 characters of base32 (tokenEncoding).
const codeLen = 26

// normalizeToken reads a follow-up token as people paste it: in any case, in backticks or
// quotes, with trailing punctuation, in full-width characters. Tokens are upper-case base32.
func normalizeToken(t string) string {
	t = strings.Map(foldCodeRune, t)
	t = strings.Trim(t, " \t\r\n`'\"<>*_.,;:!?()[]{}")
	return strings.ToUpper(t)
}

// foldCodeRune maps full-width ASCII to ASCII and drops invisible characters, so that a code
// typed or pasted through a phone keyboard reads as the code.
func foldCodeRune(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFF01 + '!'
	case r == '\u200B', r == '\u200C', r == '\u200D', r == '\u2060', r == '\uFEFF', r == '\u00AD':
		return -1
	}
	return r
}

// codeCandidates returns the words of text that have the shape of a follow-up token (26
// characters of A-Z and 2-7, in any case), upper-cased.
func codeCandidates(text string) []string {
	text = strings.Map(foldCodeRune, text)
	var out []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return r > unicode.MaxASCII || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		if len(w) != codeLen {
			continue
		}
		w = strings.ToUpper(w)
		if strings.IndexFunc(w, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '7') }) < 0 {
			out = append(out, w)
		}
	}
	return out
}

// checkNoCodeIn refuses a text that holds a follow-up token of any thread. Filed as a
// comment, the code would be read by everyone who reads comments, and whoever reads it could
// follow and answer the author's thread and link the two comments. The check runs on what the
// author typed, before scrubbing; the scrubber then removes anything else of that shape.
func (s *Service) checkNoCodeIn(tx store.ReadTx, field, text string) error {
	for _, c := range codeCandidates(text) {
		id, err := s.threadOf(tx, tokenHash(c))
		if err != nil {
			return err
		}
		if id != "" {
			return rpcerr.InvalidArgument(field, "must not contain a follow-up code: it is the author's secret, and filed as text anyone reading it could open the thread; "+
				"send follow-ups with FollowUp (in chat: /feedback reply <code> <text>)")
		}
	}
	return nil
}

// checkNoCode is checkNoCodeIn in a read transaction of its own.
func (s *Service) checkNoCode(field, text string) error {
	if len(codeCandidates(text)) == 0 {
		return nil
	}
	return s.host.DB.View(func(tx *bolt.Tx) error { return s.checkNoCodeIn(tx, field, text) })
}
