package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// nodeAPI is a node's gitops HTTP endpoint (the `http` address of its
// gitops block) and the bearer token its sync_token_file holds.
type nodeAPI struct {
	base    *url.URL
	token   string
	timeout time.Duration
}

// nodeFlags are the flags of every subcommand that talks to a node.
type nodeFlags struct {
	node, tokenFile string
	timeout         time.Duration
}

func (n *nodeFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&n.node, "node", "", "the node's gitops http `ADDR` (host:port or http://host:port; required)")
	fs.StringVar(&n.tokenFile, "token-file", "", "`FILE` holding the node's bearer token (its sync_token_file; default $DNSCTL_TOKEN_FILE)")
	fs.DurationVar(&n.timeout, "timeout", 30*time.Second, "deadline of the request")
}

func (n *nodeFlags) api() (*nodeAPI, error) {
	if n.node == "" {
		return nil, fmt.Errorf("--node ADDR is required (the node's gitops http address)")
	}
	raw := n.node
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--node %q: want host:port or http(s)://host:port", n.node)
	}
	file := n.tokenFile
	if file == "" {
		file = os.Getenv("DNSCTL_TOKEN_FILE")
	}
	if file == "" {
		return nil, fmt.Errorf("--token-file FILE is required (the node's sync_token_file), or set DNSCTL_TOKEN_FILE")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the token: %w", err)
	}
	return &nodeAPI{base: u, token: strings.TrimSpace(string(data)), timeout: n.timeout}, nil
}

// call sends method path?query to the node and decodes its JSON answer
// into out; a status other than 200 is an error with the node's message.
func (a *nodeAPI) call(method, path string, query url.Values, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	u := *a.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, u.Redacted(), resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, u.Redacted(), err)
	}
	return nil
}
