package recursor

import "github.com/gitops-dns/resolverd/node"

// FlushCache implements node.Cache on the resolver of the served revision
// (none before the first: nothing cached).
func (rc *Recursor) FlushCache(f node.CacheFlush) int {
	if res := rc.res.Load(); res != nil {
		return res.FlushCache(f)
	}
	return 0
}

// InspectCache implements node.Cache.
func (rc *Recursor) InspectCache(name string) []node.CacheEntry {
	if res := rc.res.Load(); res != nil {
		return res.InspectCache(name)
	}
	return nil
}
