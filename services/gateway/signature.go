package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Slack's request signing (https://api.slack.com/authentication/verifying-requests-from-slack).
const (
	HeaderSignature = "X-Slack-Signature"
	HeaderTimestamp = "X-Slack-Request-Timestamp"
	signatureScheme = "v0"
	// MaxSkew is how far a request's timestamp may be from now: older requests are replays.
	MaxSkew = 5 * time.Minute
)

// Reasons a signature is refused. They are logged, never shown: the caller learns only 401.
var (
	errNoSignature  = errors.New("missing signature or timestamp")
	errBadTimestamp = errors.New("timestamp is not a Unix time in seconds")
	errStale        = errors.New("timestamp outside the 5-minute window")
	errBadSignature = errors.New("signature does not match")
)

// sign returns the X-Slack-Signature of body sent at ts: "v0=" and the hex HMAC-SHA256 of
// "v0:<ts>:<body>" under secret.
func sign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signatureScheme + ":" + ts + ":"))
	mac.Write(body)
	return signatureScheme + "=" + hex.EncodeToString(mac.Sum(nil))
}

// verify checks a request's signature and timestamp against secret at now. The comparison is
// constant-time on the MAC bytes, so a forger learns nothing from how long a refusal takes.
func verify(secret []byte, ts, sig string, body []byte, now time.Time) error {
	if ts == "" || sig == "" {
		return errNoSignature
	}
	if len(ts) > 12 || strings.TrimLeft(ts, "0123456789") != "" {
		return errBadTimestamp
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return errStale
	}
	got, ok := strings.CutPrefix(sig, signatureScheme+"=")
	if !ok || len(got) != 2*sha256.Size {
		return errBadSignature
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return errBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signatureScheme + ":" + ts + ":"))
	mac.Write(body)
	if !hmac.Equal(gotMAC, mac.Sum(nil)) {
		return errBadSignature
	}
	return nil
}
