package cluster

import (
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-dns/resolverd/cluster/gittree"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
)

// LoadCommit is gitrepo.LoadCommit for this package's tests, which cannot
// import gitrepo (it imports cluster): the same two steps, git tree then Load.
func LoadCommit(repo *git.Repository, commit plumbing.Hash, dir string) (*model.Revision, []zones.Finding, error) {
	c, err := gittree.Open(repo, commit, dir)
	if err != nil {
		return nil, nil, err
	}
	rev, findings := Load(c.FS, c.Dir)
	rev.ID, rev.Message = c.ID, c.Message
	return rev, findings, nil
}
