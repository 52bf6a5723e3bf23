package main

import (
	"errors"
	"fmt"

	"github.com/gitops-dns/resolverd/cluster"
	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func init() {
	register(command{
		name:    "check",
		usage:   "check [--base REV | --no-base] [--format human|json|github] [REV]",
		summary: "run every validation rule on REV (default HEAD, against its first parent), as CI and the nodes do",
		args:    []string{"REV  the revision to check: a commit id, branch, tag or HEAD~N (default HEAD)"},
		examples: []string{
			"dnsctl check                                   # HEAD against its first parent",
			"dnsctl check --base origin/main --format github HEAD   # in CI: annotations on the pull request",
			"dnsctl -C dns check --format json              # the config folder dns/ of a monorepo, for scripts",
		},
		run: runCheck,
	})
}

func runCheck(e *env, args []string) int {
	fs, common := e.flags("check", "human", "human", "json", "github")
	base := fs.String("base", "", "check against base revision `REV` (default: the first parent of the checked revision)")
	noBase := fs.Bool("no-base", false, "skip the rules that compare with a base revision")
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		return e.badArgs("one revision at most, got %d", len(pos))
	}
	revName := "HEAD"
	if len(pos) == 1 {
		revName = pos[0]
	}
	repo, err := e.openRepo(common.dir)
	if err != nil {
		return e.fail(err)
	}
	h, err := repo.resolve(revName)
	if err != nil {
		return e.fail(err)
	}
	var baseRev *model.Revision
	if !*noBase {
		var bh plumbing.Hash
		have := false
		if *base != "" {
			if bh, err = repo.resolve(*base); err != nil {
				return e.fail(err)
			}
			have = true
		} else if bh, have, err = repo.firstParent(h); err != nil {
			return e.fail(err)
		}
		if have {
			b, _, err := gitrepo.LoadCommit(repo.repo, bh, repo.dir)
			switch {
			case err == nil:
				baseRev = b
			case *base == "" && errors.Is(err, object.ErrDirectoryNotFound):
				// The config folder is new in this revision: nothing to
				// compare with.
			default:
				return e.fail(fmt.Errorf("loading the base revision: %w", err))
			}
		}
	}
	// Loaded against its base, the head reads and parses only the zone
	// files that changed.
	head, findings, err := gitrepo.LoadCommitAgainst(repo.repo, h, repo.dir, baseRev)
	if err != nil {
		return e.fail(err)
	}
	findings = append(findings, cluster.Check(head, baseRev)...)
	cluster.SortFindings(findings)
	baseID := ""
	if baseRev != nil {
		baseID = baseRev.ID
	}
	report := newCheckReport(repo.dir, head.ID, baseID, findings)
	if err := report.print(e.stdout, common.format); err != nil {
		return e.fail(err)
	}
	if report.Errors > 0 {
		return exitFindings
	}
	return exitOK
}
