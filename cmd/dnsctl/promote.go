package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/staging"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

func init() {
	register(command{
		name:    "promote",
		usage:   "promote REV --to production [--after-bake --bake 1h --status-port 8182 [--watch]]",
		summary: "move the ref production tracks to a verified REV, fast-forward only, and push it",
		args:    []string{"REV  a revision verified on a staging cluster (dnsctl verify)"},
		examples: []string{
			"dnsctl promote 3f2a9c1 --to production                         # the canary clusters' ref",
			"dnsctl promote 3f2a9c1 --to production --after-bake --bake 1h --status-port 8182  # the others, once the canary passed its probes for 1h",
			"dnsctl promote 3f2a9c1 --after-bake --status ns1=127.0.0.1:18182                # a canary node's status through a tunnel",
			"dnsctl promote 3f2a9c1 --after-bake --status-port 8182 --watch                  # wait out the bake, probing the canary from here",
			"dnsctl promote HEAD --remote ''                                # move the local ref only",
		},
		exits: "REV is not verified, not a fast-forward, or the bake is not complete; or (--after-bake) a canary node failed its gate probes during the bake, " +
			"or cannot show it passed them: its self-probe history (GET /status) has a gap in the bake or cannot be read",
		run: runPromote,
	})
}

func runPromote(e *env, args []string) int {
	fs, common := e.flags("promote", "")
	to := fs.String("to", "production", "the `environment` to promote to")
	afterBake := fs.Bool("after-bake", false, "promote to the ref the non-canary clusters track, once every canary node has served REV for --bake passing its gate probes throughout (its self-probe history) and the canaries pass a fresh verify")
	bake := fs.Duration("bake", time.Hour, "how long the canary clusters must have served REV (with --after-bake)")
	statusPort := fs.Uint("status-port", 0, "with --after-bake: the `port` of the canary nodes' gitops http endpoint (GET /status), at each node's address")
	watch := fs.Bool("watch", false, "with --after-bake: wait out a bake that is not complete, probing every canary node from here and reading its history every --watch-every; refuse at the first problem")
	watchEvery := fs.Duration("watch-every", 10*time.Second, "with --watch: how often")
	statusAddrs := nodeAddrs{}
	fs.Var(statusAddrs, "status", "with --after-bake: read node NAME's status at `NAME=ADDR:PORT` (repeatable)")
	remote := fs.String("remote", "origin", "the remote to push to; \"\" moves the local ref only")
	pushTimeout := fs.Duration("push-timeout", 30*time.Second, "deadline of the remote's ref listing and the push")
	authFile := fs.String("auth-file", "", "credentials for an http(s) remote, the nodes' auth_file format: one line `user:password` or a bare token")
	var vf verifyFlags
	vf.add(fs)
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.badArgs("want one revision, got %d", len(pos))
	}
	if *statusPort > 65535 {
		return e.badArgs("--status-port %d out of range", *statusPort)
	}
	env := model.Environment(*to)
	if env != model.Production && env != model.Staging {
		return e.fail(fmt.Errorf("--to %q: want production", *to))
	}
	opt, err := vf.options()
	if err != nil {
		return e.fail(err)
	}
	repo, err := e.openRepo(common.dir)
	if err != nil {
		return e.fail(err)
	}
	rev, _, err := repo.load(pos[0])
	if err != nil {
		return e.fail(err)
	}
	if *remote != "" {
		if _, err := repo.repo.Remote(*remote); errors.Is(err, git.ErrRemoteNotFound) {
			if *remote != "origin" {
				return e.fail(fmt.Errorf("no remote %q in the repository", *remote))
			}
			// No "origin" (the default): a local repository.
			fmt.Fprintln(e.stderr, "dnsctl promote: no remote \"origin\": moving the local ref only")
			*remote = ""
		}
	}
	auth, err := httpAuthFromFile(*authFile)
	if err != nil {
		return e.fail(err)
	}
	var watchOpts *staging.WatchOptions
	if *watch {
		if *watchEvery <= 0 {
			return e.badArgs("--watch-every must be positive")
		}
		watchOpts = &staging.WatchOptions{Every: *watchEvery, Probe: opt, Progress: func(line string) {
			fmt.Fprintf(e.stderr, "dnsctl promote: %s\n", line)
		}}
	}
	opt.Progress = e.waitProgress(rev.ID)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p, err := staging.Promote(ctx, staging.PromoteOptions{
		Repo:      repo.repo,
		Revision:  rev,
		To:        env,
		AfterBake: *afterBake,
		Bake:      *bake,
		ReVerify: func(ctx context.Context, clusterName string) (*staging.Report, error) {
			rep, err := staging.Verify(ctx, rev, clusterName, opt)
			if err == nil {
				rep.Render(e.stderr, "text")
			}
			return rep, err
		},
		Status:  staging.StatusOptions{Addrs: statusAddrs, Port: uint16(*statusPort), Timeout: opt.Timeout + 5*time.Second},
		Watch:   watchOpts,
		Remote:  *remote,
		Auth:    auth,
		Timeout: *pushTimeout,
		Who:     signature(repo.repo),
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "dnsctl promote: %v\n", err)
		if errors.Is(err, staging.ErrNotVerified) || errors.Is(err, staging.ErrNotFastForward) || errors.Is(err, staging.ErrBakeNotComplete) || errors.Is(err, staging.ErrBakeFailed) {
			return exitFindings
		}
		return exitCannotRun
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(e.stderr, "dnsctl promote: warning: %s\n", w)
	}
	where := "locally"
	if p.Remote != "" {
		where = "on " + p.Remote
	}
	for _, r := range p.Verified {
		fmt.Fprintf(e.stdout, "verified: %s by %s at %s\n", r.Tag.Short(), r.Tagger, r.When.UTC().Format(time.RFC3339))
	}
	for _, w := range p.Watched {
		fmt.Fprintf(e.stdout, "watched: %s\n", w.Summary())
	}
	for _, r := range p.Baked {
		fmt.Fprintf(e.stdout, "baked: %s\n", r.Tag.Short())
	}
	switch {
	case p.AlreadyThere:
		fmt.Fprintf(e.stdout, "%s already at %s %s\n", p.Ref, p.To, where)
	case p.From.IsZero():
		fmt.Fprintf(e.stdout, "%s created at %s %s\n", p.Ref, p.To, where)
	default:
		fmt.Fprintf(e.stdout, "%s %s..%s %s (fast-forward)\n", p.Ref, model.ShortID(p.From.String()), model.ShortID(p.To.String()), where)
	}
	return exitOK
}

// httpAuthFromFile reads http(s) credentials in the format of the nodes'
// gitops auth_file: the first line that is not blank or a comment, either
// `user:password` (basic auth) or a token (bearer). "" = no credentials
// (local, file:// and git:// remotes; ssh:// uses the ssh agent).
func httpAuthFromFile(path string) (transport.AuthMethod, error) {
	if path == "" {
		return nil, nil
	}
	auth, err := gitrepo.ReadAuthFile(path)
	if err != nil {
		return nil, fmt.Errorf("--auth-file: %w", err)
	}
	return auth, nil
}
