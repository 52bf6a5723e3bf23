package gitops

import (
	"path/filepath"
	"testing"

	"github.com/coredns/caddy"

	"github.com/gitops-dns/resolverd/plugins/internal/corefiletest"
)

// The production Corefiles of deploy/ (systemd and the image, Kubernetes,
// the hostNetwork overlay) have gitops blocks this plugin accepts, naming
// the state directory each deployment mounts.
func TestDeployCorefiles(t *testing.T) {
	env := map[string]string{"POD_NAME": "resolverd-0", "NODE_NAME": "k8s-node-1", "HOST_IP": "198.18.1.1"}
	for file, node := range map[string]string{
		"../../deploy/Corefile":                                           "ns1",
		"../../deploy/kubernetes/base/Corefile":                           "resolverd-0",
		"../../deploy/kubernetes/overlays/daemonset-hostnetwork/Corefile": "k8s-node-1",
	} {
		blocks := corefiletest.FileDirective(t, filepath.FromSlash(file), "gitops", env)
		if len(blocks) != 1 {
			t.Fatalf("%s: %d gitops blocks, want 1", file, len(blocks))
		}
		cfg, err := parse(caddy.NewTestController("dns", blocks[0]))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if cfg.State != "/var/lib/resolverd" || cfg.Node != node || cfg.HTTP != "127.0.0.1:8182" {
			t.Errorf("%s: state %q node %q http %q, want /var/lib/resolverd, %s, localhost", file, cfg.State, cfg.Node, cfg.HTTP, node)
		}
	}
}
