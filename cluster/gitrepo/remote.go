package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// DefaultTimeout bounds one fetch when Remote.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Remote is where the config repository is fetched from and how.
type Remote struct {
	// URL is a local path, file://, git://, http(s):// or ssh:// URL. A
	// relative local path is taken relative to the working directory.
	URL string
	// Hosts are static name -> address entries; the remote's host must be an
	// IP literal, "localhost" or one of these. DNS is never used.
	Hosts map[string]netip.Addr
	// AuthFile holds credentials for http(s): one line, "user:password" for
	// basic auth or a bare token sent as "Authorization: Bearer". Read at
	// every fetch, so rotation needs no restart.
	AuthFile string
	// CAFile holds PEM certificates trusted for https (besides the system's).
	CAFile string
	// SSHKeyFile is the private key for ssh:// (unencrypted PEM/OpenSSH).
	SSHKeyFile string
	// KnownHostsFile is required for ssh://: the host key must be in it.
	KnownHostsFile string
	// Timeout bounds one fetch (dial, negotiation and pack); 0 = DefaultTimeout.
	Timeout time.Duration
	// Depth > 0 asks for a shallow fetch of that many commits of the ref.
	Depth int
}

// Redacted returns the URL with any password removed, for logs and status.
func (r Remote) Redacted() string {
	u, err := url.Parse(r.URL)
	if err != nil || u.User == nil {
		return r.URL
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Validate checks the remote's settings without touching the network: the
// URL parses, its host can be dialled without DNS, ssh has a key and
// known_hosts. Files are read at each fetch (so they can be rotated).
func (r Remote) Validate() error {
	ep, err := r.endpoint()
	if err != nil {
		return err
	}
	if ep.Protocol != "file" {
		if _, err := r.resolve(ep.Host); err != nil {
			return err
		}
	}
	if ep.Protocol == "ssh" {
		if r.KnownHostsFile == "" {
			return fmt.Errorf("ssh remote %s needs known_hosts (host keys are always checked)", r.Redacted())
		}
		if r.SSHKeyFile == "" {
			return fmt.Errorf("ssh remote %s needs ssh_key", r.Redacted())
		}
	}
	return nil
}

func (r Remote) timeout() time.Duration {
	if r.Timeout <= 0 {
		return DefaultTimeout
	}
	return r.Timeout
}

// IsLocalPath reports whether s names a local path rather than a URL.
func IsLocalPath(s string) bool {
	if strings.Contains(s, "://") {
		return false
	}
	// scp-like user@host:path is not supported: say ssh:// explicitly.
	return true
}

func (r Remote) endpoint() (*transport.Endpoint, error) {
	u := r.URL
	if u == "" {
		return nil, fmt.Errorf("empty repository URL")
	}
	if IsLocalPath(u) {
		abs, err := filepath.Abs(u)
		if err != nil {
			return nil, fmt.Errorf("repository path %q: %w", u, err)
		}
		u = abs
	}
	ep, err := transport.NewEndpoint(u)
	if err != nil {
		return nil, fmt.Errorf("repository URL %q: %w", r.Redacted(), err)
	}
	switch ep.Protocol {
	case "file", "git", "http", "https", "ssh":
	default:
		return nil, fmt.Errorf("repository URL %q: unsupported scheme %q", r.Redacted(), ep.Protocol)
	}
	return ep, nil
}

// resolve maps a remote host to an address without DNS.
func (r Remote) resolve(host string) (netip.Addr, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		return a, nil
	}
	for name, a := range r.Hosts {
		if strings.TrimSuffix(strings.ToLower(name), ".") == h {
			return a, nil
		}
	}
	if h == "localhost" {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	return netip.Addr{}, &Error{Class: ClassConfig, Op: "resolve", URL: r.Redacted(),
		Err: fmt.Errorf("host %q is neither an IP literal nor a static `hosts` entry; DNS is never used for the config remote", host)}
}

// prepare returns the endpoint to dial (host replaced by its address where
// the transport dials by itself) and the auth method for it.
func (r Remote) prepare() (*transport.Endpoint, transport.AuthMethod, error) {
	ep, err := r.endpoint()
	if err != nil {
		return nil, nil, &Error{Class: ClassConfig, Op: "fetch", URL: r.Redacted(), Err: err}
	}
	cfgErr := func(err error) error { return &Error{Class: ClassConfig, Op: "fetch", URL: r.Redacted(), Err: err} }
	switch ep.Protocol {
	case "file":
		return ep, nil, nil
	case "git":
		a, err := r.resolve(ep.Host)
		if err != nil {
			return nil, nil, err
		}
		ep.Host = a.String()
		return ep, nil, nil
	case "http", "https":
		a, err := r.resolve(ep.Host)
		if err != nil {
			return nil, nil, err
		}
		registerHost(ep.Host, a)
		auth, err := r.httpAuth(ep)
		if err != nil {
			return nil, nil, cfgErr(err)
		}
		return ep, auth, nil
	case "ssh":
		a, err := r.resolve(ep.Host)
		if err != nil {
			return nil, nil, err
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		orig := net.JoinHostPort(ep.Host, strconv.Itoa(port))
		user := ep.User
		if user == "" {
			user = "git"
		}
		if r.KnownHostsFile == "" {
			return nil, nil, cfgErr(fmt.Errorf("ssh needs known_hosts: host keys are always checked"))
		}
		check, err := knownhosts.New(r.KnownHostsFile)
		if err != nil {
			return nil, nil, cfgErr(fmt.Errorf("known_hosts: %w", err))
		}
		auth, err := gitssh.NewPublicKeysFromFile(user, r.SSHKeyFile, "")
		if err != nil {
			return nil, nil, cfgErr(fmt.Errorf("ssh_key: %w", err))
		}
		// The host key is checked against the name the operator wrote, not
		// the address we dial.
		auth.HostKeyCallback = func(_ string, remote net.Addr, key ssh.PublicKey) error {
			return check(orig, remote, key)
		}
		ep.Host = a.String()
		ep.Port = port
		return ep, auth, nil
	}
	return nil, nil, cfgErr(fmt.Errorf("unsupported scheme %q", ep.Protocol))
}

func (r Remote) httpAuth(ep *transport.Endpoint) (transport.AuthMethod, error) {
	if r.AuthFile == "" {
		if ep.User != "" {
			return &githttp.BasicAuth{Username: ep.User, Password: ep.Password}, nil
		}
		return nil, nil
	}
	auth, err := ReadAuthFile(r.AuthFile)
	if err != nil {
		return nil, fmt.Errorf("auth_file: %w", err)
	}
	return auth, nil
}

// ReadAuthFile reads http(s) credentials from an auth file: the first line
// that is not blank or a comment (of the first 1000), either
// `user:password` (basic auth) or a token (bearer). The nodes' auth_file
// and dnsctl's --auth-file share the format.
func ReadAuthFile(path string) (transport.AuthMethod, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 0; sc.Scan() && n < 1000; n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if user, pass, ok := strings.Cut(line, ":"); ok {
			return &githttp.BasicAuth{Username: user, Password: pass}, nil
		}
		return &githttp.TokenAuth{Token: line}, nil
	}
	return nil, fmt.Errorf("%s: no credentials (want `user:password` or a token)", path)
}

// The http(s) transport of go-git is process-wide; ours dials only the
// addresses registered by remotes (static entries or IP literals).
var (
	httpOnce  sync.Once
	hostsMu   sync.RWMutex
	httpHosts = map[string]netip.Addr{}
)

func registerHost(host string, a netip.Addr) {
	hostsMu.Lock()
	httpHosts[strings.ToLower(host)] = a
	hostsMu.Unlock()
}

func staticDial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		hostsMu.RLock()
		var ok bool
		a, ok = httpHosts[strings.ToLower(host)]
		hostsMu.RUnlock()
		if !ok {
			return nil, fmt.Errorf("host %q has no static entry: refusing to resolve it through DNS", host)
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	return d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
}

func installHTTP() {
	httpOnce.Do(func() {
		tr := &http.Transport{
			DialContext:           staticDial,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       60 * time.Second,
			MaxIdleConns:          4,
			Proxy:                 nil, // never via a proxy found in the environment
		}
		c := githttp.NewClient(&http.Client{Transport: tr, Timeout: 10 * time.Minute})
		client.InstallProtocol("http", c)
		client.InstallProtocol("https", c)
	})
}

// preflight dials the remote's address with the context's deadline: go-git
// dials git:// without a deadline, so an unreachable host is found here.
func preflight(ctx context.Context, ep *transport.Endpoint) error {
	if ep.Protocol != "git" {
		return nil
	}
	port := ep.Port
	if port == 0 {
		port = 9418
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return c.Close()
}
