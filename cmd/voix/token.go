package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/voix-dev/voix/cmd/voix/internal/tokenfile"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/config"
	"github.com/voix-dev/voix/services/platform/host"
)

const tokenUsage = `usage: voix token <create|list|revoke> [flags]

Manages the bearer tokens of a deployment in its token file (default
<data-dir>/auth/token-hashes.json), which every service reads and reloads within a
second when it changes: a new token works, and a revoked one is refused, without a restart.
Only the SHA-256 of a token is stored; create prints the token once.

  voix token create --role R [--segment S] [--expires 720h|30d|2027-01-31T00:00:00Z] [--name N]
  voix token list
  voix token revoke NAME

Flags of every subcommand: --data-dir (VOIX_DATA_DIR), --tokens-file (VOIX_TOKENS_FILE).
`

// namePattern is what a token's name may look like: it shows in logs and in voix token list.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@/-]{0,63}$`)

// tokenFileFlags are the flags every voix token subcommand takes.
type tokenFileFlags struct {
	dataDir, file string
}

func (f *tokenFileFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", config.DefaultDataDir, "the deployment's data directory")
	fs.StringVar(&f.file, "tokens-file", "", "token hashes file (default <data-dir>/auth/token-hashes.json)")
}

func (f *tokenFileFlags) path() string {
	if f.file != "" {
		return f.file
	}
	return host.DefaultTokensFile(f.dataDir)
}

func runToken(args []string, stdout, stderr io.Writer) error {
	return tokenCommand(args, stdout, stderr, os.Getenv, time.Now)
}

// tokenCommand is voix token with its environment and clock.
func tokenCommand(args []string, stdout, stderr io.Writer, getenv func(string) string, now func() time.Time) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(stderr, tokenUsage)
			return errUsage
		}
		fmt.Fprint(stdout, tokenUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("voix token "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files tokenFileFlags
	files.register(fs)
	parse := func(want int) error {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := config.ApplyEnv(fs, getenv); err != nil {
			return err
		}
		if fs.NArg() != want {
			return fmt.Errorf("voix token %s: want %d argument(s), got %d: %q", sub, want, fs.NArg(), fs.Args())
		}
		return nil
	}
	switch sub {
	case "create":
		role := fs.String("role", "", "submitter, manager, hr or admin (required)")
		seg := fs.String("segment", "", "segment prefix the token is limited to, e.g. acme/engineering (required except for a global admin)")
		expires := fs.String("expires", "", "when the token stops working: a duration from now (720h, 30d) or an RFC 3339 instant (empty: never)")
		name := fs.String("name", "", "the token's name, unique in the file; shown in logs and list, used by revoke (default <role>-<random>)")
		if err := parse(0); err != nil {
			return err
		}
		return createToken(files.path(), *role, *seg, *expires, *name, now(), stdout, stderr)
	case "list":
		if err := parse(0); err != nil {
			return err
		}
		return listTokens(files.path(), now(), stdout)
	case "revoke":
		if err := parse(1); err != nil {
			return err
		}
		return revokeToken(files.path(), fs.Arg(0), stderr)
	}
	fmt.Fprint(stderr, tokenUsage)
	return fmt.Errorf("voix token: unknown subcommand %q; want create, list or revoke", sub)
}

// parseExpiry reads --expires: a Go duration, a number of days ("30d"), or an RFC 3339
// instant. The result must lie after now.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	var at time.Time
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return time.Time{}, fmt.Errorf("--expires: %q is not a positive number of days", s)
		}
		at = now.Add(time.Duration(n) * 24 * time.Hour)
	} else if d, err := time.ParseDuration(s); err == nil {
		at = now.Add(d)
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		at = t
	} else {
		return time.Time{}, fmt.Errorf("--expires: %q is neither a duration (720h, 30d) nor an RFC 3339 instant (2027-01-31T00:00:00Z)", s)
	}
	at = at.UTC().Truncate(time.Second) // the file holds whole seconds
	if !at.After(now) {
		return time.Time{}, fmt.Errorf("--expires: %s is not in the future", at.Format(time.RFC3339))
	}
	return at, nil
}

func createToken(path, role, seg, expires, name string, now time.Time, stdout, stderr io.Writer) error {
	r := auth.Role(role)
	if !r.Valid() {
		return fmt.Errorf("--role: %q is not a role; want submitter, manager, hr or admin", role)
	}
	if seg == "" && r != auth.RoleAdmin {
		return fmt.Errorf("--segment: a %s token must be limited to a segment prefix (e.g. acme); only an admin may be global", r)
	}
	var exp time.Time
	if expires != "" {
		var err error
		if exp, err = parseExpiry(expires, now); err != nil {
			return err
		}
	}
	if name == "" {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		name = role + "-" + hex.EncodeToString(b)
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("--name: %q must be 1..64 letters, digits and . _ @ / -, starting with a letter or digit", name)
	}
	token, err := auth.NewToken()
	if err != nil {
		return err
	}
	rec := auth.TokenRecord{Name: name, Role: r, Prefix: seg, SHA256: auth.HashToken(token)}
	if !exp.IsZero() {
		rec.Expires = exp.Format(time.RFC3339)
	}
	err = updateTokenFile(path, true, func(f *auth.TokenFile) error {
		if slices.ContainsFunc(f.Tokens, func(t auth.TokenRecord) bool { return t.Name == name }) {
			return fmt.Errorf("--name: a token named %q exists already in %s; revoke it or pick another name", name, path)
		}
		f.Tokens = append(f.Tokens, rec)
		return nil
	})
	if err != nil {
		return err
	}
	until := "never expires"
	if !exp.IsZero() {
		until = "expires " + rec.Expires
	}
	fmt.Fprintf(stderr, "token %q (%s, segment %q, %s) added to %s; it is shown once, below\n", name, r, seg, until, path)
	fmt.Fprintln(stdout, token)
	return nil
}

func listTokens(path string, now time.Time, stdout io.Writer) error {
	f, err := auth.ReadTokenFile(path)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tROLE\tSEGMENT\tEXPIRES")
	for _, t := range f.Tokens {
		seg := t.Prefix
		if seg == "" {
			seg = "(global)"
		}
		exp := "never"
		if t.Expires != "" {
			exp = t.Expires
			if !t.ExpiresAt().After(now) {
				exp += " (expired)"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Role, seg, exp)
	}
	return w.Flush()
}

func revokeToken(path, name string, stderr io.Writer) error {
	n := 0
	err := updateTokenFile(path, false, func(f *auth.TokenFile) error {
		before := len(f.Tokens)
		f.Tokens = slices.DeleteFunc(f.Tokens, func(t auth.TokenRecord) bool { return t.Name == name })
		if n = before - len(f.Tokens); n == 0 {
			return fmt.Errorf("revoke: no token named %q in %s (voix token list shows the names)", name, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "token %q revoked in %s: the services refuse it within a few seconds\n", name, path)
	return nil
}

// updateTokenFile changes the token file under the lock voix dev takes too.
func updateTokenFile(path string, create bool, change func(*auth.TokenFile) error) error {
	return tokenfile.Update(path, create, change)
}
