package gitrepo

import (
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-dns/resolverd/cluster"
	"github.com/gitops-dns/resolverd/cluster/gittree"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
)

// LoadCommit loads the config folder dir of one commit of repo, reading the
// commit's tree with go-git (never a working directory). It fills the
// Revision's ID and Message. The error reports what could not be read
// (missing objects, no such folder); findings report what is wrong in the
// files.
func LoadCommit(repo *git.Repository, commit plumbing.Hash, dir string) (*model.Revision, []zones.Finding, error) {
	return LoadCommitAgainst(repo, commit, dir, nil)
}

// LoadCommitAgainst is LoadCommit for a revision that follows base: the
// zone files whose git blobs did not change since base are taken from it,
// not read and parsed again (cluster.LoadAgainst). base may be nil.
func LoadCommitAgainst(repo *git.Repository, commit plumbing.Hash, dir string, base *model.Revision) (*model.Revision, []zones.Finding, error) {
	c, err := gittree.Open(repo, commit, dir)
	if err != nil {
		return nil, nil, err
	}
	rev, findings := cluster.LoadAgainst(c.FS, c.Dir, base)
	rev.ID, rev.Message = c.ID, c.Message
	return rev, findings, nil
}
