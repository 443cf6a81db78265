package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/voix-dev/voix/services/platform/anonymity"
)

// Env is an environment variable a command reads that is no flag: a secret, which a flag
// would show in process lists.
type Env struct {
	Name, Usage string
}

// SecretEnv is the variable that may hold the deployment's anonymity secret itself, for the
// usage of every command that loads it (Service.Secret).
var SecretEnv = Env{anonymity.SecretEnv, "the deployment's anonymity secret itself, base64 or hex of its 32 bytes, instead of --secret-file"}

// Command is what a command's usage says beyond its flags.
type Command struct {
	// Name is the command's name ("pulse").
	Name string
	// Summary says what it does, in a sentence or two.
	Summary string
	// Env lists the variables it reads that are no flag.
	Env []Env
}

// Usage writes the command's help to w: its summary, every flag of fs with its VOIX_*
// variable and default, and the variables that are no flag.
func (cmd Command) Usage(w io.Writer, fs *flag.FlagSet) {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s [flags]\n\n", cmd.Name)
	if cmd.Summary != "" {
		fmt.Fprintf(&b, "%s\n\n", cmd.Summary)
	}
	b.WriteString("Every flag can also be set in the environment, as the variable shown with it; a flag\n" +
		"on the command line wins over the environment. An empty variable counts as unset.\n\nflags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s", f.Name)
		if typ != "" {
			fmt.Fprintf(&b, " %s", typ)
		}
		fmt.Fprintf(&b, "\n        %s\n        %s, default %s\n", usage, EnvName(f.Name), defaultText(f))
	})
	if len(cmd.Env) > 0 {
		b.WriteString("\nenvironment only:\n")
		for _, e := range cmd.Env {
			fmt.Fprintf(&b, "  %s\n        %s\n", e.Name, e.Usage)
		}
	}
	io.WriteString(w, b.String())
}

// defaultText is f's default as one would type it: strings quoted, so that an empty default
// shows.
func defaultText(f *flag.Flag) string {
	if typ, _ := flag.UnquoteUsage(f); typ == "string" || typ == "value" {
		return fmt.Sprintf("%q", f.DefValue)
	}
	return f.DefValue
}

// Parse parses args into fs, then the environment into the flags not given (ApplyEnv).
// -h or --help writes the usage to stdout and returns flag.ErrHelp (ExitCode 0). Any other
// problem comes back as a UsageError (ExitCode 2), and nothing is printed: the caller
// prints the error once.
func (cmd Command) Parse(fs *flag.FlagSet, args []string, getenv func(string) string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		cmd.Usage(stdout, fs)
		return flag.ErrHelp
	}
	if err != nil {
		return UsageError(err)
	}
	if fs.NArg() > 0 {
		return UsageError(fmt.Errorf("unexpected argument %q: every setting is a --flag", fs.Arg(0)))
	}
	if err := ApplyEnv(fs, getenv); err != nil {
		return UsageError(err)
	}
	return nil
}

// usageError marks a problem with the command line or the environment.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// UsageError marks err as a problem with the command line or the environment (a bad flag, a
// value Validate refuses): ExitCode makes it 2. nil stays nil.
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// ExitCode is the status a command exits with after err, which it reports on stderr first:
// 0 for nil and flag.ErrHelp (help was asked for and given), 2 for a UsageError, with a hint
// to -h, and 1 for anything else (the service could not start or stop cleanly).
func (cmd Command) ExitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n(%s -h lists the flags)\n", cmd.Name, err, cmd.Name)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", cmd.Name, err)
		return 1
	}
}
