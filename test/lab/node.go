package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node is one resolverd process of a cluster, on its own host.
type Node struct {
	Cluster string // cluster name, e.g. "dc1"
	Name    string // node name, e.g. "ns1"
	Addr    string
	Host    *Host
	Dir     string // Corefile, state dir, log
	State   string // the gitops state dir

	// Ref, when set, pins this node to another ref than its cluster's
	// track (an operator's hand edit of the bootstrap).
	Ref string

	lab  *Lab
	proc *Proc
}

// ID is "cluster/node".
func (n *Node) ID() string { return n.Cluster + "/" + n.Name }

// Corefile is the bootstrap the node is started with.
func (n *Node) Corefile() string {
	l := n.lab
	remote := HTTPURL()
	if l.opts.Remote == "git" {
		remote = GitURL()
	}
	track := ProductionRef
	for _, c := range l.clusters {
		if c.Name == n.Cluster {
			track = c.Track
		}
	}
	if n.Ref != "" {
		track = n.Ref
	}
	var g strings.Builder
	fmt.Fprintf(&g, "        repo    %s\n        ref     %s\n        path    %s\n        cluster %s\n        node    %s\n        poll    %s\n        state   %s\n",
		remote, track, ConfigDir, n.Cluster, n.Name, l.opts.Poll, n.State)
	if l.opts.Trust {
		fmt.Fprintf(&g, "        trust   %s\n", l.repo.TrustFile)
	}
	fmt.Fprintf(&g, "        http    %s:8053\n", n.Addr)
	// Lab time: give up on a dead git server fast and come back soon. No
	// periodic self-probes (scenarios count the requests nodes see); a
	// scenario that bakes a canary turns them on (GitopsExtra, later wins).
	fmt.Fprintf(&g, "        fetch_timeout 3s\n        max_backoff 2s\n        probe_interval 0\n")
	for _, x := range l.opts.GitopsExtra {
		fmt.Fprintf(&g, "        %s\n", x)
	}
	return fmt.Sprintf(`.:53 {
    bind    %[1]s
    gitops {
%[2]s    }
    fastpath
    fallback
    authority
    recursor
    prometheus %[1]s:9153
    health     %[1]s:8080
    ready      %[1]s:8181
    errors
}
`, n.Addr, g.String())
}

// Start starts resolverd on the node's host (again, after Stop).
func (n *Node) Start() error {
	if n.proc != nil && n.proc.Running() {
		return fmt.Errorf("%s already running", n.ID())
	}
	conf := filepath.Join(n.Dir, "Corefile")
	if err := os.WriteFile(conf, []byte(n.Corefile()), 0o644); err != nil {
		return err
	}
	p, err := n.lab.startProc("resolverd-"+n.Cluster+"-"+n.Name, n.Host, nil, resolverdBin, "-conf", conf)
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

// Stop stops resolverd with SIGTERM (SIGKILL after 5 s).
func (n *Node) Stop() error {
	if n.proc == nil {
		return nil
	}
	err := n.proc.Stop(syscall.SIGTERM, 5*time.Second)
	if err != nil && !isSignalExit(err) {
		return fmt.Errorf("%s: %w", n.ID(), err)
	}
	return nil
}

// Kill stops resolverd with SIGKILL (a crash).
func (n *Node) Kill() error {
	if n.proc == nil {
		return nil
	}
	n.proc.Stop(syscall.SIGKILL, time.Second)
	return nil
}

// Running says whether the process is up.
func (n *Node) Running() bool { return n.proc != nil && n.proc.Running() }

// Log returns the tail of the node's output.
func (n *Node) Log() string {
	if n.proc == nil {
		return "(never started)"
	}
	return n.proc.Log(6000)
}

// Revision asks the node which commit it serves (CH TXT version.config.).
func (n *Node) Revision() (string, error) {
	return ServedRevision(n.Host.NS, n.Addr, time.Second)
}

// Metrics returns the node's Prometheus text exposition.
func (n *Node) Metrics() (string, error) {
	code, body, err := HTTPGet(n.Host.NS, "http://"+n.Addr+":9153/metrics", 3*time.Second)
	if err != nil {
		return "", err
	}
	if code != 200 {
		return "", fmt.Errorf("metrics: HTTP %d", code)
	}
	return body, nil
}

// Ready says whether the node's ready endpoint answers 200.
func (n *Node) Ready() bool {
	code, _, err := HTTPGet(n.Host.NS, "http://"+n.Addr+":8181/ready", time.Second)
	return err == nil && code == 200
}

// Status is the part of the gitops status (GET /status) scenarios read.
type Status struct {
	Conditions []struct {
		Type    string `json:"type"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"conditions"`
	Applied struct {
		ID string `json:"revision"`
	} `json:"applied"`
	LastGood struct {
		ID string `json:"revision"`
	} `json:"lastGood"`
	LastAttempted *struct {
		Revision string   `json:"revision"`
		Result   string   `json:"result"`
		Reason   string   `json:"reason"`
		Class    string   `json:"class"`
		Message  string   `json:"message"`
		Findings []string `json:"findings"`
	} `json:"lastAttempted"`
	Failures int `json:"consecutiveFailures"`
	History  []struct {
		Revision string   `json:"revision"`
		Result   string   `json:"result"`
		Reason   string   `json:"reason"`
		Findings []string `json:"findings"`
	} `json:"history"`
}

// Condition returns "Status/Reason: message" of a condition type, or "".
func (s *Status) Condition(typ string) string {
	for _, c := range s.Conditions {
		if c.Type == typ {
			return c.Status + "/" + c.Reason + ": " + c.Message
		}
	}
	return ""
}

// Status fetches the node's gitops status (the `http` endpoint of the
// gitops block, port 8053).
func (n *Node) Status() (*Status, string, error) {
	code, body, err := HTTPGet(n.Host.NS, "http://"+n.Addr+":8053/status", 3*time.Second)
	if err != nil {
		return nil, "", err
	}
	if code != 200 {
		return nil, body, fmt.Errorf("status: HTTP %d: %s", code, body)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return nil, body, fmt.Errorf("status: %w", err)
	}
	return &st, body, nil
}

// MetricLines returns the lines of the exposition whose metric name starts
// with prefix (comments excluded).
func MetricLines(expo, prefix string) []string {
	var out []string
	for _, line := range strings.Split(expo, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

// MetricSum adds up the samples of metric name whose labels contain every
// given `key="value"` fragment (the whole family when none are given).
func MetricSum(expo, name string, labels ...string) float64 {
	var sum float64
	for _, line := range strings.Split(expo, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		ok := true
		for _, lb := range labels {
			if !strings.Contains(rest, lb) {
				ok = false
			}
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if !ok || len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}
