package gitrepo

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
)

// srcRepo is a real repository made with go-git (non-bare, served as is by
// git daemon and git http-backend).
type srcRepo struct {
	t    testing.TB
	root string // folder holding the repository (what servers export)
	dir  string
	wt   *git.Worktree
	repo *git.Repository
	n    int
}

func newSrcRepo(t testing.TB) *srcRepo {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "config")
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	return &srcRepo{t: t, root: root, dir: dir, wt: wt, repo: r}
}

func (s *srcRepo) commit(file, content string, key *openpgp.Entity) plumbing.Hash {
	s.t.Helper()
	s.n++
	p := filepath.Join(s.dir, file)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.wt.Add(file); err != nil {
		s.t.Fatal(err)
	}
	h, err := s.wt.Commit("change "+file, &git.CommitOptions{
		Author:  &object.Signature{Name: "Ops", Email: "ops@corp.internal", When: time.Unix(1_790_000_000+int64(s.n), 0)},
		SignKey: key,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var bg = context.Background()

// Every kind of remote, against real servers: fetch, commit, fetch again.
func TestFetchRemotes(t *testing.T) {
	src := newSrcRepo(t)
	first := src.commit("zones/a.zone", "one", nil)
	daemon := gittest.StartDaemon(t, src.root)
	open := gittest.StartHTTP(t, src.root)
	basic := gittest.StartHTTP(t, src.root)
	basic.User, basic.Password = "dns", "s3cret"
	bearer := gittest.StartHTTP(t, src.root)
	bearer.Token = "tok-123"
	tlsSrv := gittest.StartHTTPS(t, src.root)
	tlsSrv.Token = "tok-456"
	ca := writeFile(t, "ca.pem", string(tlsSrv.CA()))
	pin := map[string]netip.Addr{"git.corp.internal": netip.MustParseAddr("127.0.0.1"),
		"example.com": netip.MustParseAddr("127.0.0.1")}
	named := func(u string) string { return strings.Replace(u, "127.0.0.1", "git.corp.internal", 1) }

	tests := []struct {
		name string
		r    Remote
	}{
		{"local path", Remote{URL: src.dir}},
		{"file url", Remote{URL: "file://" + src.dir}},
		{"git daemon", Remote{URL: daemon.URL("config")}},
		{"git daemon, static host entry", Remote{URL: named(daemon.URL("config")), Hosts: pin}},
		{"git daemon, full history", Remote{URL: daemon.URL("config"), Depth: -1}},
		{"http", Remote{URL: open.URL("config")}},
		{"http, static host entry", Remote{URL: named(open.URL("config")), Hosts: pin}},
		{"http basic auth from file", Remote{URL: basic.URL("config"), AuthFile: writeFile(t, "auth", "# git\ndns:s3cret\n")}},
		{"http token from file", Remote{URL: bearer.URL("config"), AuthFile: writeFile(t, "token", "tok-123\n")}},
		{"https, CA file, token, static host entry", Remote{URL: strings.Replace(tlsSrv.URL("config"), "127.0.0.1", "example.com", 1),
			Hosts: pin, CAFile: ca, AuthFile: writeFile(t, "token2", "tok-456")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.r.Depth == 0 {
				tc.r.Depth = 1
			} else if tc.r.Depth < 0 {
				tc.r.Depth = 0
			}
			tc.r.Timeout = 10 * time.Second
			s := openStore(t)
			h, err := s.Fetch(bg, tc.r, "refs/heads/master")
			if err != nil || h != src.head() {
				t.Fatalf("fetch: %v %v, want %v", h, err, src.head())
			}
			if err := s.CheckCommit(h, "", 100); err != nil {
				t.Fatal(err)
			}
			next := src.commit("zones/a.zone", "two "+tc.name, nil)
			h2, err := s.Fetch(bg, tc.r, "master")
			if err != nil || h2 != next {
				t.Fatalf("second fetch: %v %v, want %v", h2, err, next)
			}
			if err := s.CheckCommit(h, "", 100); err != nil {
				t.Fatalf("the previous revision is gone after a fetch: %v", err)
			}
			if err := s.CheckCommit(h2, "zones", 100); err != nil {
				t.Fatal(err)
			}
		})
	}
	_ = first
}

func (s *srcRepo) head() plumbing.Hash {
	ref, err := s.repo.Head()
	if err != nil {
		s.t.Fatal(err)
	}
	return ref.Hash()
}

// A shallow fetch brings only the tracked commit, not its history.
func TestShallowFetch(t *testing.T) {
	src := newSrcRepo(t)
	old := src.commit("a", "1", nil)
	src.commit("a", "2", nil)
	daemon := gittest.StartDaemon(t, src.root)
	for _, depth := range []int{1, 0} {
		s := openStore(t)
		h, err := s.Fetch(bg, Remote{URL: daemon.URL("config"), Depth: depth}, "master")
		if err != nil || h != src.head() {
			t.Fatalf("depth %d: %v %v", depth, h, err)
		}
		_, err = s.Repository().CommitObject(old)
		if depth == 1 && err == nil {
			t.Error("depth 1 fetched the history")
		}
		if depth == 0 && err != nil {
			t.Errorf("full fetch lacks the history: %v", err)
		}
	}
}

// Every failure is classified, and none changes what the store holds.
func TestFetchErrorsClassified(t *testing.T) {
	src := newSrcRepo(t)
	src.commit("a", "1", nil)
	daemon := gittest.StartDaemon(t, src.root)
	web := gittest.StartHTTP(t, src.root)
	auth := gittest.StartHTTP(t, src.root)
	auth.User, auth.Password = "dns", "right"
	hole := gittest.Blackhole(t)
	tlsURL := gittest.StartHTTPS(t, src.root).URL("config")
	stopped := gittest.StartDaemon(t, src.root)
	stopped.Stop()

	tests := []struct {
		name  string
		r     Remote
		ref   string
		mode  string // of web
		class Class
	}{
		{"http 404", Remote{URL: web.URL("config")}, "master", gittest.NotFound, ClassRepoNotFound},
		{"http 401", Remote{URL: web.URL("config")}, "master", gittest.Unauth, ClassAuthRefused},
		{"http 403", Remote{URL: web.URL("config")}, "master", gittest.Forbidden, ClassAuthRefused},
		{"http 500", Remote{URL: web.URL("config")}, "master", gittest.Broken, ClassUnreachable},
		{"http reset", Remote{URL: web.URL("config")}, "master", gittest.Reset, ClassUnreachable},
		{"http hangs", Remote{URL: web.URL("config"), Timeout: 300 * time.Millisecond}, "master", gittest.Hang, ClassTimeout},
		{"http no such repo", Remote{URL: web.URL("nope")}, "master", "", ClassRepoNotFound},
		{"http wrong password", Remote{URL: auth.URL("config"), AuthFile: writeFile(t, "a", "dns:wrong")}, "master", "", ClassAuthRefused},
		{"http no credentials", Remote{URL: auth.URL("config")}, "master", "", ClassAuthRefused},
		{"https, certificate not trusted", Remote{URL: tlsURL}, "master", "", ClassAuthRefused},
		{"http auth file missing", Remote{URL: auth.URL("config"), AuthFile: "/nonexistent/auth"}, "master", "", ClassConfig},
		{"git no such ref", Remote{URL: daemon.URL("config")}, "refs/heads/production", "", ClassRefNotFound},
		{"git no such repo", Remote{URL: daemon.URL("nope")}, "master", "", ClassRepoNotFound},
		{"git daemon down", Remote{URL: stopped.URL("config")}, "master", "", ClassUnreachable},
		{"git blackhole", Remote{URL: "git://" + hole + "/config", Timeout: 300 * time.Millisecond}, "master", "", ClassTimeout},
		{"http blackhole", Remote{URL: "http://" + hole + "/config", Timeout: 300 * time.Millisecond}, "master", "", ClassTimeout},
		{"name without static entry", Remote{URL: "git://git.corp.internal/config"}, "master", "", ClassConfig},
		{"local path missing", Remote{URL: filepath.Join(src.root, "nope")}, "master", "", ClassRepoNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			good, err := s.Fetch(bg, Remote{URL: daemon.URL("config")}, "master")
			if err != nil {
				t.Fatal(err)
			}
			web.SetMode(tc.mode)
			defer web.SetMode(gittest.Healthy)
			start := time.Now()
			h, err := s.Fetch(bg, tc.r, tc.ref)
			if err == nil {
				t.Fatalf("fetch succeeded: %v", h)
			}
			if c := ClassOf(err); c != tc.class {
				t.Fatalf("class %q, want %q (%v)", c, tc.class, err)
			}
			if tc.r.Timeout > 0 && time.Since(start) > tc.r.Timeout+5*time.Second {
				t.Fatalf("fetch ignored its deadline: %v", time.Since(start))
			}
			if h, err := s.Resolve(TrackedRef); err != nil || h != good {
				t.Fatalf("a failed fetch changed the tracked ref: %v %v", h, err)
			}
		})
	}
}

func TestLastGood(t *testing.T) {
	s := openStore(t)
	if _, err := s.LastGood(); !errors.Is(err, ErrNoLastGood) {
		t.Fatalf("empty state: %v", err)
	}
	lg := LastGood{Revision: strings.Repeat("a1", 20), Ref: "refs/heads/main", AppliedAt: time.Unix(1_790_000_000, 0).UTC()}
	if err := s.SetLastGood(lg); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastGood()
	if err != nil || got != lg {
		t.Fatalf("read back %+v %v", got, err)
	}
	if ref, err := s.Repository().Reference(LastGoodRef, false); err != nil || ref.Hash().String() != lg.Revision {
		t.Fatalf("last good ref: %v %v", ref, err)
	}
	if err := s.SetLastGood(LastGood{Revision: "main"}); err == nil {
		t.Fatal("recorded a revision that is not a commit id")
	}
	for _, bad := range []string{"", "{", `{"revision":"abc"}`, `{"revision":"` + lg.Revision + `","x":1}`} {
		os.WriteFile(filepath.Join(s.Dir(), LastGoodFile), []byte(bad), 0o644)
		if _, err := s.LastGood(); ClassOf(err) != ClassCorruptObject {
			t.Errorf("record %q: %v, want corrupt-object", bad, err)
		}
	}
	entries, _ := os.ReadDir(s.Dir())
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// Objects missing or damaged in the state dir are found, classified as
// corrupt-object, and Quarantine moves them aside without deleting.
func TestCorruptedStore(t *testing.T) {
	src := newSrcRepo(t)
	src.commit("zones/a.zone", strings.Repeat("a.example. 300 IN A 192.0.2.1\n", 200), nil)
	s := openStore(t)
	h, err := s.Fetch(bg, Remote{URL: src.dir}, "master")
	if err != nil {
		t.Fatal(err)
	}
	s.SetLastGood(LastGood{Revision: h.String()})
	packs, _ := filepath.Glob(filepath.Join(s.Dir(), RepoDir, "objects", "pack", "*.pack"))
	loose, _ := filepath.Glob(filepath.Join(s.Dir(), RepoDir, "objects", "??", "*"))
	if len(packs)+len(loose) == 0 {
		t.Fatal("no objects in the store")
	}
	for _, p := range append(packs, loose...) {
		data, _ := os.ReadFile(p)
		for i := len(data) / 3; i < len(data)-20; i += 7 {
			data[i] ^= 0xff
		}
		os.WriteFile(p, data, 0o644)
	}
	s2, err := OpenStore(s.Dir())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := s2.CheckCommit(h, "", 1000); ClassOf(err) != ClassCorruptObject {
		t.Fatalf("damaged objects: %v, want corrupt-object", err)
	}
	q, err := s2.Quarantine(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(q, RepoDir)); err != nil {
		t.Fatalf("repository not kept in quarantine: %v", err)
	}
	if _, err := os.Stat(filepath.Join(q, LastGoodFile)); err != nil {
		t.Fatalf("record not kept in quarantine: %v", err)
	}
	if _, err := s2.LastGood(); !errors.Is(err, ErrNoLastGood) {
		t.Fatalf("after quarantine: %v", err)
	}
	if h2, err := s2.Fetch(bg, Remote{URL: src.dir}, "master"); err != nil || h2 != h {
		t.Fatalf("fetch into the fresh store: %v %v", h2, err)
	}

	// A repository folder git cannot open at all.
	dir := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(filepath.Join(dir, RepoDir), 0o755)
	os.WriteFile(filepath.Join(dir, RepoDir, "HEAD"), []byte("garbage"), 0o644)
	if _, err := OpenStore(dir); ClassOf(err) != ClassCorruptObject {
		t.Fatalf("garbage repository: %v, want corrupt-object", err)
	}
}

func TestBackoff(t *testing.T) {
	half := func() float64 { return 0.5 }
	top := func() float64 { return 0.999999 }
	b := Backoff{Base: 5 * time.Second, Max: time.Minute}
	tests := []struct {
		failures int
		rand     func() float64
		want     time.Duration
	}{
		{0, half, 5 * time.Second},
		{1, half, 7500 * time.Millisecond}, // 10s drawn in [5s,10s]
		{2, half, 15 * time.Second},
		{3, top, 40 * time.Second},
		{10, half, 45 * time.Second}, // capped at 60s, in [30s,60s]
		{1000, half, 45 * time.Second},
	}
	for _, tc := range tests {
		b.Rand = tc.rand
		got := b.Delay(tc.failures)
		if d := got - tc.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("Delay(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
	b.Rand = nil
	for i := 0; i < 100; i++ {
		if d := b.Delay(3); d < 20*time.Second || d > 40*time.Second {
			t.Fatalf("jitter out of [d/2, d]: %v", d)
		}
	}
}

func TestVerify(t *testing.T) {
	trusted := gittest.NewKey(t, "release")
	unknown := gittest.NewKey(t, "intruder")
	kr, err := ParseKeyring("trusted.asc", gittest.Keyring(t, trusted))
	if err != nil {
		t.Fatal(err)
	}
	src := newSrcRepo(t)
	good := src.commit("a", "1", trusted)
	unsigned := src.commit("a", "2", nil)
	foreign := src.commit("a", "3", unknown)

	// A signed commit whose content was changed after signing.
	c, _ := src.repo.CommitObject(good)
	c.Message = "tampered\n"
	obj := src.repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	tampered, err := src.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		h      plumbing.Hash
		reason string
	}{
		{"signed by a trusted key", good, ""},
		{"unsigned", unsigned, ReasonUnsigned},
		{"signed by an unknown key", foreign, ReasonUntrusted},
		{"tampered after signing", tampered, ReasonInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := src.repo.CommitObject(tc.h)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := kr.Verify(c)
			var se *SignatureError
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.reason == "" && !strings.Contains(signer, trusted.PrimaryKey.KeyIdString()):
				t.Fatalf("signer %q", signer)
			case tc.reason != "" && (!errors.As(err, &se) || se.Reason != tc.reason):
				t.Fatalf("got %v, want %s", err, tc.reason)
			}
		})
	}
	if _, err := ParseKeyring("x", []byte("not a keyring")); err == nil {
		t.Fatal("accepted garbage as a keyring")
	}
}

func TestRedacted(t *testing.T) {
	r := Remote{URL: "https://dns:hunter2@198.18.5.20/config.git"}
	if got := r.Redacted(); strings.Contains(got, "hunter2") {
		t.Fatalf("password in %q", got)
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{"": "HEAD", "HEAD": "HEAD", "main": "refs/heads/main",
		"refs/heads/production": "refs/heads/production", "refs/tags/v1": "refs/tags/v1"} {
		if got := NormalizeRef(in); got != want {
			t.Errorf("NormalizeRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseLastGood(f *testing.F) {
	f.Add([]byte(`{"revision":"` + strings.Repeat("ab", 20) + `","applied_at":"2026-11-21T00:00:00Z"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lg, err := ParseLastGood(data)
		if err == nil && !plumbing.IsHash(lg.Revision) {
			t.Fatalf("accepted %q", lg.Revision)
		}
	})
}

func FuzzParseKeyring(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKeyring("fuzz", data)
		if err == nil && len(k.KeyIDs()) == 0 {
			t.Fatal("keyring without keys accepted")
		}
	})
}

func FuzzAuthFile(f *testing.F) {
	f.Add("user:pass\n")
	f.Add("# comment\ntoken\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(t.TempDir(), "auth")
		os.WriteFile(p, []byte(content), 0o600)
		r := Remote{URL: "https://198.18.5.20/x", AuthFile: p}
		ep, _ := r.endpoint()
		a, err := r.httpAuth(ep)
		if err == nil && a == nil {
			t.Fatal("no error and no credentials")
		}
	})
}

// ssh:// with a key file, the host key checked against known_hosts for the
// name in the URL (dialled through a static hosts entry).
func TestFetchSSH(t *testing.T) {
	src := newSrcRepo(t)
	src.commit("a", "1", nil)
	signer, keyPEM := gittest.NewSSHKey(t)
	srv := gittest.StartSSH(t, src.root, signer.PublicKey())
	_, port, _ := strings.Cut(srv.Addr, ":")
	url := "ssh://git@git.corp.internal:" + port + "/config"
	pin := map[string]netip.Addr{"git.corp.internal": netip.MustParseAddr("127.0.0.1")}
	key := writeFile(t, "id_ed25519", string(keyPEM))
	known := writeFile(t, "known_hosts", srv.KnownHosts("git.corp.internal"))
	other := gittest.StartSSH(t, src.root, signer.PublicKey()) // another host key
	wrongKnown := writeFile(t, "known_hosts_wrong", other.KnownHosts("git.corp.internal"))
	_, otherPEM := gittest.NewSSHKey(t)
	wrongKey := writeFile(t, "id_other", string(otherPEM))

	r := Remote{URL: url, Hosts: pin, SSHKeyFile: key, KnownHostsFile: known, Timeout: 10 * time.Second, Depth: 1}
	s := openStore(t)
	if h, err := s.Fetch(bg, r, "master"); err != nil || h != src.head() {
		t.Fatalf("ssh fetch: %v %v", h, err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Remote)
		class Class
	}{
		{"host key not the known one", func(r *Remote) { r.KnownHostsFile = wrongKnown }, ClassAuthRefused},
		{"client key refused", func(r *Remote) { r.SSHKeyFile = wrongKey }, ClassAuthRefused},
		{"no known_hosts", func(r *Remote) { r.KnownHostsFile = "" }, ClassConfig},
		{"server never answers", func(r *Remote) {
			r.URL = "ssh://git@" + gittest.Blackhole(t) + "/config"
			r.Timeout = 300 * time.Millisecond
		}, ClassTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r2 := r
			tc.edit(&r2)
			if _, err := s.Fetch(bg, r2, "master"); ClassOf(err) != tc.class {
				t.Fatalf("got %v (%s), want %s", err, ClassOf(err), tc.class)
			}
		})
	}
}

// TestFetchAnnotatedTag: a ref naming an annotated tag (or a tag of a tag)
// resolves to the commit; a tag of something else is refused as corrupt.
func TestFetchAnnotatedTag(t *testing.T) {
	src := newSrcRepo(t)
	c := src.commit("a.txt", "a\n", nil)
	tagger := &object.Signature{Name: "Ops", Email: "ops@corp.internal", When: time.Unix(1_790_000_000, 0)}
	v1, err := src.repo.CreateTag("v1", c, &git.CreateTagOptions{Tagger: tagger, Message: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.repo.CreateTag("v1-again", v1.Hash(), &git.CreateTagOptions{Tagger: tagger, Message: "tag of v1"}); err != nil {
		t.Fatal(err)
	}
	head, _ := src.repo.CommitObject(c)
	tree, _ := head.Tree()
	if _, err := src.repo.CreateTag("a-tree", tree.Hash, &git.CreateTagOptions{Tagger: tagger, Message: "not a commit"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref   string
		class Class // "" = resolves to the commit
	}{
		{"refs/tags/v1", ""},
		{"refs/tags/v1-again", ""},
		{"refs/tags/a-tree", ClassCorruptObject},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			s := openStore(t)
			h, err := s.Fetch(context.Background(), Remote{URL: src.dir, Timeout: 10 * time.Second}, tc.ref)
			if tc.class == "" {
				if err != nil || h != c {
					t.Fatalf("got %v %v, want commit %v", h, err, c)
				}
				return
			}
			if ClassOf(err) != tc.class {
				t.Fatalf("got %v %v, want class %s", h, err, tc.class)
			}
		})
	}
}

// A poll of an unchanged repository on this machine starts no process: the
// fetch reads both references in process, and starts git-upload-pack only
// when the tracked ref moved (or for the first fetch).
func TestLocalFetchUnchangedStartsNoProcess(t *testing.T) {
	real := gittest.ExecPath(t, "git-upload-pack")
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	script := "#!/bin/sh\necho \"$@\" >>" + calls + "\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "git-upload-pack"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	started := func() int {
		b, err := os.ReadFile(calls)
		if errors.Is(err, os.ErrNotExist) {
			return 0
		} else if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}

	src := newSrcRepo(t)
	first := src.commit("zones/a.zone", "one", nil)
	for _, tc := range []struct {
		name string
		r    Remote
		ref  string
	}{
		{"local path", Remote{URL: src.dir}, "master"},
		{"file url", Remote{URL: "file://" + src.dir}, "refs/heads/master"},
		{"HEAD", Remote{URL: src.dir}, "HEAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.Depth, r.Timeout = 1, 10*time.Second
			s := openStore(t)
			n := started()
			want := src.head()
			if h, err := s.Fetch(bg, r, tc.ref); err != nil || h != want {
				t.Fatalf("first fetch: %v %v, want %v", h, err, want)
			}
			if got := started() - n; got != 1 {
				t.Fatalf("the first fetch started git-upload-pack %d times, want 1", got)
			}
			for range 3 {
				if h, err := s.Fetch(bg, r, tc.ref); err != nil || h != want {
					t.Fatalf("fetch of an unchanged repo: %v %v, want %v", h, err, want)
				}
			}
			if got := started() - n; got != 1 {
				t.Fatalf("three polls of an unchanged repo started git-upload-pack %d more times, want none", got-1)
			}
			next := src.commit("zones/a.zone", "two "+tc.name, nil)
			if h, err := s.Fetch(bg, r, tc.ref); err != nil || h != next {
				t.Fatalf("fetch after a commit: %v %v, want %v", h, err, next)
			}
			if got := started() - n; got != 2 {
				t.Fatalf("a fetch after a commit started git-upload-pack %d times in all, want 2", got)
			}
			if err := s.CheckCommit(next, "zones", 100); err != nil {
				t.Fatal(err)
			}
		})
	}
	_ = first
}
