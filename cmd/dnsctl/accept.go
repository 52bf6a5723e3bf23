package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

func init() {
	register(command{
		name:    "accept",
		usage:   "accept COMMIT --node ADDR [--token-file FILE]",
		summary: "let one node apply COMMIT although it does not descend from its last good revision (a deliberate history rewrite)",
		args: []string{
			"COMMIT  the full commit id the node refused with reason NotFastForward",
		},
		examples: []string{
			"dnsctl accept 3f1c...e9 --node 10.0.0.53:8182 --token-file /etc/resolverd/sync.token",
		},
		exits: "the node did not end up serving COMMIT (the sync refused it for another reason, or did not finish)",
		run:   runAccept,
	})
}

// runAccept asks one node's authenticated sync endpoint to accept exactly
// COMMIT (POST /sync?accept=<full id>) and prints what the sync did.
func runAccept(e *env, args []string) int {
	fs, _ := e.flags("accept", "")
	var nf nodeFlags
	nf.add(fs)
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.badArgs("want COMMIT")
	}
	id := pos[0]
	if !plumbing.IsHash(id) {
		return e.fail(fmt.Errorf("%q is not a full commit id: a rewrite is accepted for one exact commit", id))
	}
	if nf.timeout == 30*time.Second {
		nf.timeout = 2 * time.Minute // the node fetches, applies and probes
	}
	api, err := nf.api()
	if err != nil {
		return e.fail(err)
	}
	var res struct {
		Attempt *struct {
			Revision string `json:"revision"`
			Result   string `json:"result"`
			Reason   string `json:"reason"`
			Message  string `json:"message"`
		} `json:"attempt"`
	}
	if err := api.call("POST", "/sync", url.Values{"accept": {id}}, &res); err != nil {
		return e.fail(err)
	}
	a := res.Attempt
	if a == nil {
		return e.fail(fmt.Errorf("%s: accepted %s, but the sync did not finish within the node's deadline: see GET /status", nf.node, id))
	}
	fmt.Fprintf(e.stdout, "%s: %s %s", nf.node, a.Result, a.Revision)
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
