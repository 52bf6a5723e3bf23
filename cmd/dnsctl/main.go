// Command dnsctl is the operators' tool for the DNS config repo: check a
// revision (every validation rule, as CI and the nodes apply them), diff two
// revisions (a record-level plan for a pull request), draw the forwarder
// graph, verify a revision on staging and promote it.
//
// # Adding a subcommand
//
// Each subcommand lives in its own file and registers itself from that
// file's init function; main.go knows none of them:
//
//	func init() {
//		register(command{
//			name:     "verify",
//			usage:    "verify [flags] [REV]",
//			summary:  "probe every staging node and check it serves REV",
//			args:     []string{"REV  the revision every node must serve"},
//			examples: []string{"dnsctl verify --cluster staging HEAD"},
//			exits:    "a node does not serve REV or fails a check", // what exit 1 means
//			run:      runVerify,
//		})
//	}
//
// --help, `dnsctl help verify` and the bash completion (completion.go) are
// generated from that entry and the subcommand's own flag set.
//
//	func runVerify(e *env, args []string) int {
//		fs, common := e.flags("verify", "human", "human", "json") // -C DIR, --format
//		// add the subcommand's own flags to fs here
//		pos, code, ok := e.parseAll(fs, args) // flags may follow REV
//		if !ok {
//			return code
//		}
//		repo, err := e.openRepo(common.dir)  // finds the repo root (DetectDotGit)
//		if err != nil {
//			return e.fail(err)                // prints "dnsctl verify: ..." and returns exitCannotRun
//		}
//		rev, findings, err := repo.load("HEAD") // the config folder of that commit
//		...
//		return exitOK
//	}
//
// Shared pieces: env (stdout, stderr, the working directory — tests run
// subcommands in-process with their own), env.flags (a flag.FlagSet with -C
// and --format, checked against the formats the subcommand allows), env.parseAll
// (flags before or after the positional arguments),
// env.openRepo / repoCtx.resolve / repoCtx.load (the repository containing
// the -C folder, and the config folder of any revision), printFindings (the
// human, json and github formats of findings) and the exit codes exitOK (0),
// exitFindings (1: errors found, or a failed verify) and exitCannotRun (2).
//
// A global -C DIR before the subcommand is accepted too, as with git.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// Exit codes (DESIGN.md "Interfaces v1").
const (
	exitOK        = 0
	exitFindings  = 1
	exitCannotRun = 2
)

// command is one subcommand.
type command struct {
	name     string
	usage    string   // e.g. "check [--base REV] [REV]"
	summary  string   // one line for the usage message
	args     []string // the positional arguments, "NAME  what it is", one per line of --help
	examples []string // command lines of --help, each "dnsctl ...  # what it does"
	exits    string   // what exit status 1 means for this command ("" = findings of severity error)
	run      func(e *env, args []string) int
}

// commands holds every subcommand, filled by each file's init.
var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("dnsctl: subcommand registered twice: " + c.name)
	}
	commands[c.name] = c
}

// env is what a subcommand runs in. Tests build their own.
type env struct {
	stdout, stderr io.Writer
	cwd            string // working directory; "" = the process's
	cmd            string // the running subcommand, for messages
	common         *commonFlags
	helpAsked      bool      // -h/--help among the arguments: help goes to stdout
	flagsOnly      *[]string // completion: collect the flag names, run nothing
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, ""))
}

// run executes one dnsctl command line and returns its exit code.
func run(args []string, stdout, stderr io.Writer, cwd string) int {
	e := &env{stdout: stdout, stderr: stderr, cwd: cwd}
	// A global -C DIR, as with git.
	for len(args) >= 2 && (args[0] == "-C" || args[0] == "--C") {
		e.cwd = e.abs(args[1])
		args = args[2:]
	}
	if len(args) == 0 {
		e.usage(stderr)
		return exitCannotRun
	}
	switch args[0] {
	case "-h", "-help", "--help":
		e.usage(stdout)
		return exitOK
	case "help":
		// `dnsctl help CMD` is `dnsctl CMD --help`.
		if len(args) == 1 {
			e.usage(stdout)
			return exitOK
		}
		args = []string{args[1], "--help"}
	case "-version", "--version":
		args[0] = "version"
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "dnsctl: unknown command %q (dnsctl --help lists them)\n", args[0])
		return exitCannotRun
	}
	e.cmd = c.name
	return c.run(e, args[1:])
}

// commandNames returns the subcommands in order.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// exitStatusHelp is the exit status paragraph of every help text
// (DESIGN.md "Interfaces v1").
const exitStatusHelp = "exit status: 0 clean, 1 %s, 2 could not run (no repository, unknown revision, bad flags or arguments)\n"

func (e *env) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dnsctl [-C DIR] <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\n`dnsctl <command> --help` (or `dnsctl help <command>`) shows its arguments, flags and examples.")
	fmt.Fprintln(w, "-C DIR runs as if started in DIR; at a repository's root, a .dnsctl file (`path FOLDER`) names the config folder.")
	fmt.Fprintf(w, "\n"+exitStatusHelp, "findings of severity error (or a failed verify or promotion)")
}

// commandHelp writes the --help of subcommand c: usage line, what it does,
// arguments, flags, examples, exit status.
func commandHelp(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: dnsctl %s\n\n%s\n", c.usage, c.summary)
	if len(c.args) > 0 {
		fmt.Fprintln(w, "\narguments:")
		for _, a := range c.args {
			fmt.Fprintf(w, "  %s\n", a)
		}
	}
	if fs != nil {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if len(c.examples) > 0 {
		fmt.Fprintln(w, "\nexamples:")
		for _, x := range c.examples {
			fmt.Fprintf(w, "  %s\n", x)
		}
	}
	exits := c.exits
	if exits == "" {
		exits = "findings of severity error"
	}
	fmt.Fprintf(w, "\n"+exitStatusHelp, exits)
}

// badArgs reports wrong positional arguments in one line plus the usage
// line, and returns exitCannotRun.
func (e *env) badArgs(format string, a ...any) int {
	c := commands[e.cmd]
	fmt.Fprintf(e.stderr, "dnsctl %s: %s\nusage: dnsctl %s (dnsctl %s --help for more)\n", e.cmd, fmt.Sprintf(format, a...), c.usage, e.cmd)
	return exitCannotRun
}

// abs makes p absolute against the env's working directory.
func (e *env) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	base := e.cwd
	if base == "" {
		base, _ = os.Getwd()
	}
	return filepath.Join(base, p)
}

// fail reports an error that stops the command and returns exitCannotRun.
func (e *env) fail(err error) int {
	fmt.Fprintf(e.stderr, "dnsctl %s: %v\n", e.cmd, err)
	return exitCannotRun
}

// commonFlags are the flags every repository subcommand has.
type commonFlags struct {
	dir     string // -C DIR
	format  string // --format
	formats []string
}

// flags returns a FlagSet for subcommand name with -C and, when formats is
// not empty, --format (def is the default; formats the allowed values).
func (e *env) flags(name, def string, formats ...string) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet("dnsctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	// --help goes to stdout (it was asked for); a bad flag's message to stderr.
	fs.Usage = func() {
		if e.helpAsked {
			commandHelp(e.stdout, commands[name], fs)
			return
		}
		fmt.Fprintf(e.stderr, "usage: dnsctl %s (dnsctl %s --help for more)\n", commands[name].usage, name)
	}
	c := &commonFlags{formats: formats}
	fs.StringVar(&c.dir, "C", "", "run as if started in `DIR` (a folder inside the repository: the config folder)")
	if len(formats) > 0 {
		fs.StringVar(&c.format, "format", def, "output `format`: "+strings.Join(formats, ", "))
	}
	e.common = c
	return fs, c
}

// parse parses args; ok=false means return code now (help or bad flags).
func (e *env) parse(fs *flag.FlagSet, args []string) (int, bool) {
	if e.flagsOnly != nil {
		// Shell completion asks which flags the subcommand has.
		fs.VisitAll(func(f *flag.Flag) { *e.flagsOnly = append(*e.flagsOnly, f.Name) })
		return exitOK, false
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		e.helpAsked = e.helpAsked || a == "-h" || a == "-help" || a == "--help"
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitCannotRun, false
	}
	if c := e.common; c != nil && len(c.formats) > 0 {
		ok := false
		for _, f := range c.formats {
			ok = ok || f == c.format
		}
		if !ok {
			fmt.Fprintf(e.stderr, "dnsctl %s: unknown --format %q (want %s)\n", e.cmd, c.format, strings.Join(c.formats, ", "))
			return exitCannotRun, false
		}
	}
	return 0, true
}

// parseAll parses args allowing flags after positional arguments
// (`dnsctl check HEAD --format json`) and returns the positional ones; a
// "--" ends the flags. ok=false means return code now.
func (e *env) parseAll(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if code, ok := e.parse(fs, args); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// repoCtx is an opened repository and the config folder inside it.
type repoCtx struct {
	repo *git.Repository
	root string // work tree root (absolute)
	dir  string // config folder, relative to root, slash-separated ("" = root)
}

// openRepo opens the repository containing dir (or the working directory)
// by walking up to its .git, and takes dir's path inside it as the config
// folder: a config repo may be a folder of a monorepo.
func (e *env) openRepo(dir string) (*repoCtx, error) {
	start := e.cwd
	if dir != "" {
		start = e.abs(dir)
	} else if start == "" {
		start = e.abs(".")
	}
	st, err := os.Stat(start)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", start, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", start)
	}
	repo, err := git.PlainOpenWithOptions(start, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("no git repository at or above %s: %w", start, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("repository at or above %s has no work tree: %w", start, err)
	}
	root := wt.Filesystem.Root()
	rel, err := relPath(root, start)
	if err != nil {
		return nil, err
	}
	if rel == "" {
		if rel, err = markedConfigPath(root); err != nil {
			return nil, err
		}
	}
	return &repoCtx{repo: repo, root: root, dir: rel}, nil
}

// markerFile, at the root of a repository, names the folder holding the
// config repo when it is not the root (a monorepo, or this project with
// examples/dns-config): one line `path FOLDER`, the same word and value as
// the gitops block's `path` of the nodes. It applies only when dnsctl runs
// at the root: inside a folder (or with -C FOLDER) that folder is the
// config, so a config repo at its root needs no marker at all.
const markerFile = ".dnsctl"

// markedConfigPath returns the folder markerFile at root names, or "" when
// there is no marker.
func markedConfigPath(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, markerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", markerFile, err)
	}
	path := ""
	for i, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "path" && len(f) == 2 && path == "":
			path = f[1]
		default:
			return "", fmt.Errorf("%s/%s:%d: want one line `path FOLDER`, got %q", root, markerFile, i+1, strings.TrimSpace(line))
		}
	}
	clean := filepath.ToSlash(filepath.Clean(filepath.FromSlash(path)))
	if path == "" || filepath.IsAbs(path) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%s/%s: want `path FOLDER` with a folder inside the repository, got %q", root, markerFile, path)
	}
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

func relPath(root, dir string) (string, error) {
	r, err1 := filepath.EvalSymlinks(root)
	d, err2 := filepath.EvalSymlinks(dir)
	if err1 != nil || err2 != nil {
		r, d = root, dir
	}
	rel, err := filepath.Rel(r, d)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is not inside the repository at %s", dir, root)
	}
	if rel == "." {
		return "", nil
	}
	return filepath.ToSlash(rel), nil
}

// resolve turns a revision expression (HEAD, a branch, a tag, an id,
// HEAD~1) into a commit id.
func (r *repoCtx) resolve(rev string) (plumbing.Hash, error) {
	h, err := r.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("resolving %q: %w", rev, err)
	}
	return *h, nil
}

// load loads the config folder of revision rev.
func (r *repoCtx) load(rev string) (*model.Revision, []zones.Finding, error) {
	return r.loadAgainst(rev, nil)
}

// loadAgainst loads the config folder of revision rev, taking from base
// (may be nil) the zone files whose blobs did not change.
func (r *repoCtx) loadAgainst(rev string, base *model.Revision) (*model.Revision, []zones.Finding, error) {
	h, err := r.resolve(rev)
	if err != nil {
		return nil, nil, err
	}
	return gitrepo.LoadCommitAgainst(r.repo, h, r.dir, base)
}

// firstParent returns the first parent of commit h, or false for a root
// commit.
func (r *repoCtx) firstParent(h plumbing.Hash) (plumbing.Hash, bool, error) {
	c, err := r.repo.CommitObject(h)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("reading commit %s: %w", h, err)
	}
	if len(c.ParentHashes) == 0 {
		return plumbing.ZeroHash, false, nil
	}
	return c.ParentHashes[0], true, nil
}
