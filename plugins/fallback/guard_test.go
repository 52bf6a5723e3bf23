package fallback

import "github.com/gitops-dns/resolverd/resolver"

// Keep this package's tests off the real internet (see resolver.DestinationCheck).
func init() { resolver.DestinationCheck = resolver.TestNetsOnly }
