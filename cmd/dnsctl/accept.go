package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

func init() {
	register(command{
		name:    "accept",
		usage:   "accept --node ADDR --token-file FILE COMMIT",
		summary: "let one node apply COMMIT although it does not descend from its last good revision (a deliberate history rewrite)",
		run:     runAccept,
	})
}

// runAccept asks one node's authenticated sync endpoint to accept exactly
// COMMIT (POST /sync?accept=<full id>) and prints what the sync did.
func runAccept(e *env, args []string) int {
	fs, _ := e.flags("accept", "")
	nodeAddr := fs.String("node", "", "the node's gitops `http` address (host:port or http://host:port)")
	tokenFile := fs.String("token-file", "", "`file` holding the node's sync token (its sync_token_file)")
	timeout := fs.Duration("timeout", 2*time.Minute, "deadline of the request (the node fetches, applies and probes)")
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *nodeAddr == "" || *tokenFile == "" {
		fmt.Fprintln(e.stderr, "usage: dnsctl accept --node ADDR --token-file FILE COMMIT")
		return exitCannotRun
	}
	id := pos[0]
	if !plumbing.IsHash(id) {
		return e.fail(fmt.Errorf("%q is not a full commit id: a rewrite is accepted for one exact commit", id))
	}
	token, err := os.ReadFile(e.abs(*tokenFile))
	if err != nil {
		return e.fail(fmt.Errorf("token file: %w", err))
	}
	base := *nodeAddr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/sync?accept="+url.QueryEscape(id), nil)
	if err != nil {
		return e.fail(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return e.fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		msg.Write(buf[:n])
		return e.fail(fmt.Errorf("%s: %s: %s", base, resp.Status, strings.TrimSpace(msg.String())))
	}
	var res struct {
		Attempt *struct {
			Revision string `json:"revision"`
			Result   string `json:"result"`
			Reason   string `json:"reason"`
			Message  string `json:"message"`
		} `json:"attempt"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&res); err != nil {
		return e.fail(fmt.Errorf("%s: answer: %w", base, err))
	}
	a := res.Attempt
	if a == nil {
		return e.fail(fmt.Errorf("%s: accepted %s, but the sync did not finish within the node's deadline: see GET /status", base, id))
	}
	fmt.Fprintf(e.stdout, "%s: %s %s", base, a.Result, a.Revision)
	if a.Reason != "" {
		fmt.Fprintf(e.stdout, " (%s: %s)", a.Reason, a.Message)
	}
	fmt.Fprintln(e.stdout)
	// "unchanged" at id: a sync already running when the node accepted
	// the commit applied it.
	if (a.Result != "applied" && a.Result != "unchanged") || a.Revision != id {
		return exitFindings
	}
	return exitOK
}
