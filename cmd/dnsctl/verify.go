package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/staging"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func init() {
	register(command{
		name:    "verify",
		usage:   "verify --cluster NAME [--format text|markdown|json|html] [--wait 30s] REV",
		summary: "check every node of a cluster serves REV and passes the probes; record a pass in git",
		run:     runVerify,
	})
}

// verifyNow is the clock of verification reports (tests fix it).
var verifyNow = time.Now

// nodeAddrs is --node NAME=ADDR:PORT, repeatable: where to ask a node.
type nodeAddrs map[string]netip.AddrPort

func (n nodeAddrs) String() string {
	parts := make([]string, 0, len(n))
	for k, v := range n {
		parts = append(parts, k+"="+v.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (n nodeAddrs) Set(s string) error {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=ADDR:PORT, got %q", s)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	n[name] = ap
	return nil
}

// verifyFlags are the flags verify and promote --after-bake share.
type verifyFlags struct {
	wait, timeout time.Duration
	port          uint
	nodes         nodeAddrs
}

func (v *verifyFlags) add(fs *flag.FlagSet) {
	v.nodes = nodeAddrs{}
	fs.DurationVar(&v.wait, "wait", staging.DefaultWait, "how long every node may take to serve REV")
	fs.DurationVar(&v.timeout, "timeout", staging.DefaultTimeout, "deadline of every DNS query")
	fs.UintVar(&v.port, "port", 0, "ask every node on this DNS `port` instead of the one of the cluster file")
	fs.Var(v.nodes, "node", "ask node `NAME=ADDR:PORT` there (repeatable)")
}

func (v *verifyFlags) options() (staging.Options, error) {
	if v.port > 65535 {
		return staging.Options{}, fmt.Errorf("--port %d out of range", v.port)
	}
	if v.wait <= 0 || v.timeout <= 0 {
		return staging.Options{}, errors.New("--wait and --timeout must be positive")
	}
	return staging.Options{Wait: v.wait, Timeout: v.timeout, Port: uint16(v.port), Addrs: v.nodes, Now: verifyNow}, nil
}

func runVerify(e *env, args []string) int {
	fs, common := e.flags("verify", "text", staging.Formats...)
	clusterName := fs.String("cluster", "", "the cluster to verify on (required)")
	record := fs.Bool("record", true, "record a passing verification as the annotated tag verified/<cluster>/<rev>")
	var vf verifyFlags
	vf.add(fs)
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *clusterName == "" {
		fmt.Fprintln(e.stderr, "usage: dnsctl verify --cluster NAME [--format text|markdown|json|html] [--wait 30s] REV")
		return exitCannotRun
	}
	opt, err := vf.options()
	if err != nil {
		return e.fail(err)
	}
	repo, err := e.openRepo(common.dir)
	if err != nil {
		return e.fail(err)
	}
	rev, findings, err := repo.load(pos[0])
	if err != nil {
		return e.fail(err)
	}
	if zones.HasErrors(findings) {
		fmt.Fprintf(e.stderr, "dnsctl verify: warning: revision %s has findings of severity error (see dnsctl check); nodes refuse it\n", model.ShortID(rev.ID))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := staging.Verify(ctx, rev, *clusterName, opt)
	if err != nil {
		return e.fail(err)
	}
	if err := rep.Render(e.stdout, common.format); err != nil {
		return e.fail(err)
	}
	if !rep.Pass {
		fmt.Fprintf(e.stderr, "dnsctl verify: %s FAILED on cluster %s: %d failures; it cannot be promoted\n", model.ShortID(rev.ID), rep.Cluster, rep.Failures)
		return exitFindings
	}
	if *record {
		r, err := staging.Save(repo.repo, rep, signature(repo.repo), false)
		if err != nil {
			return e.fail(fmt.Errorf("the verification passed but could not be recorded: %w", err))
		}
		if r.Existing {
			fmt.Fprintf(e.stderr, "dnsctl verify: passed; already recorded as %s at %s\n", r.Tag.Short(), r.When.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(e.stderr, "dnsctl verify: passed; recorded as %s\n", r.Tag.Short())
		}
	}
	return exitOK
}

// signature is who records a verification: the user of the git config,
// else "dnsctl".
func signature(repo *git.Repository) object.Signature {
	s := object.Signature{Name: "dnsctl", Email: "dnsctl@localhost", When: time.Now()}
	for _, scope := range []config.Scope{config.LocalScope, config.GlobalScope} {
		cfg, err := repo.ConfigScoped(scope)
		if err == nil && cfg.User.Name != "" {
			s.Name, s.Email = cfg.User.Name, cfg.User.Email
			break
		}
	}
	return s
}
