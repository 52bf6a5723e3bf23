package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ConfigDir is the folder of the config repo that holds the DNS config
// (the `path` of the gitops directive): the repo is a monorepo.
const ConfigDir = "dns"

// Refs the clusters track.
const (
	MainRef       = "refs/heads/main"
	ProductionRef = "refs/heads/production" // the canary (dc1) tracks it
	// BakedRef is what the other production clusters (dc2) track: moved by
	// `dnsctl promote --after-bake` once the canary has served a revision
	// for the bake time.
	BakedRef = "refs/heads/production-baked"
)

// ConfigRepo is the operators' working copy of the config repo. Commits are
// made with go-git (signed with the trusted key unless said otherwise) and
// pushed to the git server's bare repository with the git CLI.
type ConfigRepo struct {
	Dir  string // working copy
	bare string

	repo      *git.Repository
	Trusted   *openpgp.Entity // the key nodes trust
	Untrusted *openpgp.Entity // a key nobody trusts (seed 002)
	TrustFile string          // armored public keyring of Trusted
}

func newKey(name string) (*openpgp.Entity, error) {
	return openpgp.NewEntity(name, "resolverd lab", strings.ReplaceAll(name, " ", "-")+"@corp.internal",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
}

func (l *Lab) newConfigRepo() (*ConfigRepo, error) {
	dir := filepath.Join(l.dir, "work")
	r, err := git.PlainInit(dir, false)
	if err != nil {
		return nil, fmt.Errorf("config repo: %w", err)
	}
	c := &ConfigRepo{Dir: dir, bare: l.git.Bare, repo: r}
	// dnsctl promote pushes to origin: the git server's HTTP front door.
	if _, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{HTTPURL()}}); err != nil {
		return nil, fmt.Errorf("config repo: %w", err)
	}
	if c.Trusted, err = newKey("dns release"); err != nil {
		return nil, err
	}
	if c.Untrusted, err = newKey("mallory"); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Trusted.Serialize(w); err != nil {
		return nil, err
	}
	w.Close()
	c.TrustFile = filepath.Join(l.dir, "trusted.asc")
	if err := os.WriteFile(c.TrustFile, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return c, nil
}

// CommitOpts changes how a commit is made.
type CommitOpts struct {
	Key      *openpgp.Entity // signing key; nil = the trusted key
	Unsigned bool
	Ref      string // branch pushed to; "" = main
}

// Commit writes files (path relative to ConfigDir -> content; "" deletes
// the file), commits them with message msg, pushes to the git server and
// returns the full commit id.
func (c *ConfigRepo) Commit(msg string, files map[string]string, o CommitOpts) (string, error) {
	wt, err := c.repo.Worktree()
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rel := filepath.ToSlash(filepath.Join(ConfigDir, n))
		p := filepath.Join(c.Dir, rel)
		if files[n] == "" {
			if _, err := wt.Remove(rel); err != nil {
				return "", fmt.Errorf("remove %s: %w", rel, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(files[n]), 0o644); err != nil {
			return "", err
		}
		if _, err := wt.Add(rel); err != nil {
			return "", fmt.Errorf("add %s: %w", rel, err)
		}
	}
	key := o.Key
	if key == nil {
		key = c.Trusted
	}
	if o.Unsigned {
		key = nil
	}
	sig := &object.Signature{Name: "DNS operator", Email: "dns-ops@corp.internal", When: time.Now()}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: key, AllowEmptyCommits: true})
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	ref := o.Ref
	if ref == "" {
		ref = MainRef
	}
	if _, err := run("git", "-C", c.Dir, "push", "-q", "--force", c.bare, h.String()+":"+ref); err != nil {
		return "", err
	}
	return h.String(), nil
}

// SetRef moves a ref of the git server to rev (as someone with push rights
// would; scenarios about promotion use dnsctl promote instead).
func (c *ConfigRepo) SetRef(ref, rev string) error {
	_, err := run("git", "-C", c.bare, "update-ref", ref, rev)
	return err
}

// Ref returns the commit a ref of the git server points at.
func (c *ConfigRepo) Ref(ref string) (string, error) {
	out, err := run("git", "-C", c.bare, "rev-parse", "--verify", "-q", ref)
	return strings.TrimSpace(out), err
}

// Internal names of the lab's config repo.
const (
	InternalZone   = "corp.internal."
	DBPrimary      = "db-primary.corp.internal."
	DBPrimaryA     = "198.18.10.10"
	AppHost        = "app.corp.internal."
	AppHostA       = "198.18.10.20"
	AppHostAAAA    = "2001:db8:10::20"
	IntranetAlias  = "intranet.corp.internal." // CNAME www.example.com.
	GitHostName    = "git.corp.internal."
	SearchDomain   = "corp.internal"
	ZoneSerialBase = 2026112100
)

// CorpZone renders zones/corp.internal.zone with the given serial and extra
// records appended (one per line, relative or absolute owners).
func CorpZone(serial int, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `$ORIGIN corp.internal.
$TTL 300
@           IN SOA  ns1.corp.internal. hostmaster.corp.internal. %d 3600 600 1209600 300
            IN NS   ns1
            IN NS   ns2
ns1         IN A    198.18.1.1
ns2         IN A    198.18.2.1
db-primary  IN A    198.18.10.10
db-replica  IN A    198.18.10.11
app         IN A    198.18.10.20
app         IN AAAA 2001:db8:10::20
git         IN A    198.18.4.1
intranet    IN CNAME www.example.com.
`, serial)
	// A realistic zone is not tiny: small changes stay far below the
	// policy's mass-delete limit.
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "ws%02d        IN A    198.18.11.%d\n", i, i)
	}
	for _, e := range extra {
		b.WriteString(e)
		b.WriteString("\n")
	}
	return b.String()
}

// DefaultConfig is the first revision of the lab's config repo.
func (l *Lab) DefaultConfig() map[string]string {
	files := map[string]string{
		"policy.yaml": `recursion:
  root_hints: root.hints
fallback:
  ttl: 30
limits:
  max_delete_percent: 10
  min_ttl: 30
  max_ttl: 86400
# The lab's internet is unsigned: under the IANA root anchor validation
# would find every external answer bogus.
dnssec:
  validation: false
`,
		"root.hints":               RootHints,
		"zones/corp.internal.zone": CorpZone(ZoneSerialBase + 1),
		"fallback.zone": `; critical names, served only when normal resolution fails
db-primary.corp.internal.  300 IN A 198.18.10.10
git.corp.internal.         300 IN A 198.18.4.1
ct.example.com.            300 IN A 198.18.5.30
`,
		"probes.yaml": `probes:
  - name: db-primary
    query: db-primary.corp.internal.
    type: A
    expect: {rcode: NOERROR, answers: [198.18.10.10]}
    gate: true
  - name: app
    query: app.corp.internal.
    type: A
    expect: {rcode: NOERROR, answers: [198.18.10.20]}
    gate: true
  - name: no-such-host
    query: nope.corp.internal.
    type: A
    expect: {rcode: NXDOMAIN}
`,
	}
	for _, cl := range l.clusters {
		files["clusters/"+cl.Name+".yaml"] = cl.YAML("")
	}
	return files
}

// ClusterSpec is one cluster of the lab.
type ClusterSpec struct {
	Name        string
	Environment string
	Track       string
	Canary      bool
	Octet       int
	Nodes       []string // node names; addresses 198.18.<Octet>.1, .2, ...
}

// NodeAddr is the address of the i-th node (0-based).
func (c *ClusterSpec) NodeAddr(i int) string { return fmt.Sprintf("198.18.%d.%d", c.Octet, i+1) }

// YAML renders clusters/<name>.yaml; extra is appended verbatim (e.g. a
// forward: section).
func (c *ClusterSpec) YAML(extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nenvironment: %s\ntrack: %s\ncanary: %v\nnodes:\n", c.Name, c.Environment, c.Track, c.Canary)
	for i, n := range c.Nodes {
		fmt.Fprintf(&b, "  - {name: %s, address: %s}\n", n, c.NodeAddr(i))
	}
	b.WriteString("recursion:\n  allow: [198.18.0.0/15]\n")
	b.WriteString(extra)
	return b.String()
}
