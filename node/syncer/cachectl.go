package syncer

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gitops-dns/resolverd/node"
	"github.com/miekg/dns"
)

// cacheRequest reads the query of a cache request: name (required), and
// for a flush subtree=1 and type=T.
func cacheRequest(r *http.Request) (node.CacheFlush, error) {
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		return node.CacheFlush{}, fmt.Errorf("missing ?name=")
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return node.CacheFlush{}, fmt.Errorf("name %q is not a domain name", name)
	}
	f := node.CacheFlush{Name: strings.ToLower(dns.Fqdn(name))}
	switch s := q.Get("subtree"); s {
	case "", "0", "false":
	case "1", "true":
		f.Subtree = true
	default:
		return node.CacheFlush{}, fmt.Errorf("subtree=%q: want 1 or 0", s)
	}
	if t := q.Get("type"); t != "" {
		qt, ok := dns.StringToType[strings.ToUpper(t)]
		if !ok || qt == 0 {
			return node.CacheFlush{}, fmt.Errorf("type %q is not a DNS type", t)
		}
		f.Type = qt
	}
	return f, nil
}

// handleCache adds the cache endpoints to mux, behind the sync token:
//
//	POST /cache/flush?name=N[&subtree=1][&type=T]  drop what every cache
//	                                               holds for N (and below)
//	GET  /cache?name=N                             what every cache holds for N
//
// Both need the token: a flush is an action, and what a cache holds says
// what clients asked.
func (g *Syncer) handleCache(mux *http.ServeMux) {
	mux.HandleFunc("POST /cache/flush", func(w http.ResponseWriter, r *http.Request) {
		f, ok := g.cacheCall(w, r)
		if !ok {
			return
		}
		res := struct {
			Name    string `json:"name"`
			Subtree bool   `json:"subtree"`
			Type    string `json:"type,omitempty"`
			Flushed int    `json:"flushed"`
			Caches  int    `json:"caches"`
		}{Name: f.Name, Subtree: f.Subtree}
		if f.Type != 0 {
			res.Type = dns.Type(f.Type).String()
		}
		caches := g.holder.Caches()
		res.Caches = len(caches)
		// Back to front: plugins register in directive order, the fast
		// path's packet cache before the resolver it refills from; the
		// resolver is flushed first so the packet cache cannot refill
		// from what is about to go.
		for i := len(caches) - 1; i >= 0; i-- {
			res.Flushed += caches[i].FlushCache(f)
		}
		g.metrics.CacheFlushed(res.Flushed)
		g.log.Infof("cache flush of %s (subtree %t, type %s): %d entries", f.Name, f.Subtree, orAll(res.Type), res.Flushed)
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /cache", func(w http.ResponseWriter, r *http.Request) {
		f, ok := g.cacheCall(w, r)
		if !ok {
			return
		}
		res := struct {
			Name    string            `json:"name"`
			Entries []node.CacheEntry `json:"entries"`
		}{Name: f.Name, Entries: []node.CacheEntry{}}
		for _, c := range g.holder.Caches() {
			res.Entries = append(res.Entries, c.InspectCache(f.Name)...)
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// cacheCall authorizes r and reads its name; false: the response is
// written.
func (g *Syncer) cacheCall(w http.ResponseWriter, r *http.Request) (node.CacheFlush, bool) {
	if code, msg := g.authorize(r); code != 0 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gitops"`)
		http.Error(w, msg, code)
		return node.CacheFlush{}, false
	}
	f, err := cacheRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return node.CacheFlush{}, false
	}
	return f, true
}

func orAll(t string) string {
	if t == "" {
		return "all"
	}
	return t
}
