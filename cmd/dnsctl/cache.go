package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/gitops-dns/resolverd/node"
)

func init() {
	register(command{
		name:    "cache",
		usage:   "cache flush NAME [--subtree] [--type T] --node ADDR | cache show NAME --node ADDR",
		summary: "flush or show what a node's caches (resolver and packet cache) hold for a name",
		args: []string{
			"flush NAME  drop NAME's cached answers (--subtree: and every name below it; --type: that type only)",
			"show NAME   what the caches hold for NAME: type, TTL left, stale or not, from which server",
		},
		examples: []string{
			"dnsctl cache show www.example.com --node 127.0.0.1:8182 --token-file /etc/resolverd/sync.token",
			"dnsctl cache flush www.example.com --node 10.0.0.53:8182               # every type of one name",
			"dnsctl cache flush example.com --subtree --node 10.0.0.53:8182         # the name and all below it",
			"dnsctl cache flush example.com --type MX --node 10.0.0.53:8182         # one type",
		},
		exits: "(not used)",
		run:   runCache,
	})
}

func runCache(e *env, args []string) int {
	fs, common := e.flags("cache", "text", "text", "json")
	subtree := fs.Bool("subtree", false, "flush: the name and every name below it")
	qtype := fs.String("type", "", "flush: only the answers of this `TYPE` (A, AAAA, MX, ...)")
	var nf nodeFlags
	nf.add(fs)
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 2 || (pos[0] != "flush" && pos[0] != "show") {
		return e.badArgs("want flush NAME or show NAME")
	}
	if pos[0] == "show" && (*subtree || *qtype != "") {
		return e.badArgs("--subtree and --type go with flush")
	}
	api, err := nf.api()
	if err != nil {
		return e.fail(err)
	}
	q := url.Values{"name": {pos[1]}}
	if pos[0] == "flush" {
		if *subtree {
			q.Set("subtree", "1")
		}
		if *qtype != "" {
			q.Set("type", *qtype)
		}
		var res struct {
			Name    string `json:"name"`
			Subtree bool   `json:"subtree"`
			Type    string `json:"type"`
			Flushed int    `json:"flushed"`
			Caches  int    `json:"caches"`
		}
		if err := api.call("POST", "/cache/flush", q, &res); err != nil {
			return e.fail(err)
		}
		if common.format == "json" {
			return e.printJSON(res)
		}
		what := res.Name
		if res.Subtree {
			what += " and below"
		}
		if res.Type != "" {
			what += " (" + res.Type + ")"
		}
		fmt.Fprintf(e.stdout, "flushed %s on %s: %d entries from %d caches\n", what, nf.node, res.Flushed, res.Caches)
		return exitOK
	}
	var res struct {
		Name    string            `json:"name"`
		Entries []node.CacheEntry `json:"entries"`
	}
	if err := api.call("GET", "/cache", q, &res); err != nil {
		return e.fail(err)
	}
	if common.format == "json" {
		return e.printJSON(res)
	}
	if len(res.Entries) == 0 {
		fmt.Fprintf(e.stdout, "nothing cached for %s on %s\n", res.Name, nf.node)
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CACHE\tTYPE\tTTL\tSTATE\tFROM\tDATA")
	for _, c := range res.Entries {
		state := "fresh"
		if c.Stale {
			state = "stale for " + c.ExpiredFor
		}
		typ := c.Type
		if typ == "" {
			typ = "(any)"
		}
		if c.Rcode != "" {
			typ += " " + c.Rcode
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", c.Cache, typ, c.TTL, state, orDash(c.From), strings.Join(c.Records, " | "))
	}
	tw.Flush()
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (e *env) printJSON(v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return e.fail(err)
	}
	return exitOK
}
