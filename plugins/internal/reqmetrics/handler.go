package reqmetrics

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// Install puts Handler in the place of the prometheus plugin's handler in
// every chain CoreDNS builds for dc (the plugin keeps its HTTP endpoint,
// registry and zones; only the per-query work changes). It must run in the
// setup of a directive after prometheus; without prometheus it changes
// nothing.
func Install(dc *dnsserver.Config) {
	for i, build := range dc.Plugin {
		dc.Plugin[i] = func(next plugin.Handler) plugin.Handler {
			h := build(next)
			if m, ok := h.(*metrics.Metrics); ok {
				return &Handler{m: m, next: next, t: Counts()}
			}
			return h
		}
	}
}

// Handler counts each query of the chain as the prometheus plugin's handler
// does (the same series and labels, see vars.Report), in a Table.
type Handler struct {
	m    *metrics.Metrics
	next plugin.Handler
	t    *Table
}

// Name implements plugin.Handler: it is the prometheus plugin's handler.
func (h *Handler) Name() string { return "prometheus" }

// Sizes is what a front end that read the query and writes the response
// itself knows of their sizes on the wire; it hands it to Handler in the
// query's context (SizesKey) so the sizes are not computed again from the
// messages. Resp is added to as responses are written.
type Sizes struct{ Req, Resp int }

// SizesKey is the context key of a *Sizes.
type SizesKey struct{}

// ServeDNS implements plugin.Handler.
func (h *Handler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	start := time.Now()
	if h.next == nil {
		return dns.RcodeServerFailure, plugin.Error(h.Name(), errors.New("no next plugin found"))
	}
	sizes, _ := ctx.Value(SizesKey{}).(*Sizes)
	reqSize := 0
	if sizes == nil {
		reqSize = r.Len() // before a plugin changes r
	}
	rw := &recorder{ResponseWriter: w, sizes: sizes}
	status, err := h.next.ServeDNS(ctx, rw, r)

	k := Key{Server: metrics.WithServer(ctx), Zone: h.zone(r), View: metrics.WithView(ctx), Rcode: rw.rcode}
	if !plugin.ClientWrite(status) {
		// Nothing written: the server answers with this status (CoreDNS's
		// handler labels it so too).
		k.Rcode = status
	}
	if rw.written {
		// The plugin CoreDNS's handler names: its tracking writer sits
		// between it and the next plugin, so it is always the next one.
		k.Plugin = h.next.Name()
	}
	if len(r.Question) > 0 {
		k.QType = r.Question[0].Qtype
	}
	k.Proto, k.Family = UDP, 1
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		if a.IP.To4() == nil {
			k.Family = 2
		}
	case *net.TCPAddr:
		k.Proto = TCP
		if a.IP.To4() == nil {
			k.Family = 2
		}
	}
	if o := r.IsEdns0(); o != nil && o.Do() {
		k.DO = true
	}
	o := Observation{Duration: time.Since(start), ReqSize: reqSize, RespSize: rw.size}
	if sizes != nil {
		o.ReqSize, o.RespSize = sizes.Req, sizes.Resp
	}
	h.t.Add(&k, &o)
	return status, err
}

// zone is the zone of the prometheus plugin's block the question is in, as
// its handler finds it ("." when none).
func (h *Handler) zone(r *dns.Msg) string {
	zones := h.m.ZoneNames()
	if len(zones) == 1 && zones[0] == "." || len(r.Question) == 0 {
		return "."
	}
	state := request.Request{Req: r}
	if z := plugin.Zones(zones).Matches(state.QName()); z != "" {
		return z
	}
	return "."
}

// recorder notes the rcode and size of what the chain writes.
type recorder struct {
	dns.ResponseWriter
	sizes   *Sizes // nil: the size is taken from the message
	written bool
	rcode   int
	size    int
}

func (w *recorder) WriteMsg(m *dns.Msg) error {
	w.written, w.rcode = true, m.Rcode
	if w.sizes == nil {
		w.size += m.Len()
	}
	return w.ResponseWriter.WriteMsg(m)
}

func (w *recorder) Write(b []byte) (int, error) {
	w.written = true
	if len(b) >= 4 {
		w.rcode = int(b[3] & 0xf)
	}
	n, err := w.ResponseWriter.Write(b)
	if err == nil && w.sizes == nil {
		w.size += n
	}
	return n, err
}
