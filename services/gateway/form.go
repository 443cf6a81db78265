package gateway

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"unicode/utf8"
)

// command is a validated slash-command form.
type command struct {
	Command   string // "/feedback"
	Text      string
	TeamID    string // may be empty (single-workspace apps)
	UserID    string
	TriggerID string
}

// Limits of a form. The text limit is the feedback service's 4000 characters in bytes of
// UTF-8, so that a too-long comment reaches the service and is refused with its rule.
const (
	maxTextBytes = 4 * 4000
	maxIDBytes   = 128
)

var (
	idRule       = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	commandRule  = regexp.MustCompile(`^/[a-z0-9_-]{1,31}$`)
	errMalformed = errors.New("malformed form")
)

// parseCommand reads an application/x-www-form-urlencoded slash command. It is strict: bad
// escapes, a field given twice (which copy would we trust?), invalid UTF-8 or ids of unexpected
// shape make the whole form malformed, and it is never passed on.
func parseCommand(body []byte) (command, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return command{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	one := func(k string, required bool) (string, error) {
		v := vals[k]
		switch {
		case len(v) > 1:
			return "", fmt.Errorf("%w: %s given %d times", errMalformed, k, len(v))
		case len(v) == 0 && required:
			return "", fmt.Errorf("%w: %s missing", errMalformed, k)
		case len(v) == 0:
			return "", nil
		case !utf8.ValidString(v[0]):
			return "", fmt.Errorf("%w: %s is not UTF-8", errMalformed, k)
		}
		return v[0], nil
	}
	var c command
	if c.Command, err = one("command", true); err != nil {
		return command{}, err
	}
	if !commandRule.MatchString(c.Command) {
		return command{}, fmt.Errorf("%w: command %q", errMalformed, clip(c.Command))
	}
	if c.UserID, err = one("user_id", true); err != nil {
		return command{}, err
	}
	if !idRule.MatchString(c.UserID) {
		return command{}, fmt.Errorf("%w: user_id of unexpected shape", errMalformed)
	}
	if c.TeamID, err = one("team_id", false); err != nil {
		return command{}, err
	}
	if c.TeamID != "" && !idRule.MatchString(c.TeamID) {
		return command{}, fmt.Errorf("%w: team_id of unexpected shape", errMalformed)
	}
	if c.Text, err = one("text", false); err != nil {
		return command{}, err
	}
	if len(c.Text) > maxTextBytes {
		return command{}, fmt.Errorf("%w: text of %d bytes", errMalformed, len(c.Text))
	}
	if c.TriggerID, err = one("trigger_id", false); err != nil {
		return command{}, err
	}
	if len(c.TriggerID) > maxIDBytes {
		return command{}, fmt.Errorf("%w: trigger_id of %d bytes", errMalformed, len(c.TriggerID))
	}
	return c, nil
}

// clip shortens a value quoted in a log line.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
