package node

import (
	"context"
	"sync/atomic"
)

// Verdict is how the chain tells the fast path whether the response it is
// about to write may go into the packet cache. It lives here, not in
// fastpath, so that the plugins that mark it (recursor, fallback) need not
// link the fast path's sockets. Looking at the response is
// not enough: a stale answer or a fallback answer to a client without EDNS
// carries no Extended DNS Error to recognise it by. So the plugins say it:
// the recursor marks a fresh answer, a stale one never; the fallback plugin
// marks its static answers never. Only a response marked fresh and never
// marked never is cached.
type Verdict struct {
	fresh, never atomic.Bool
}

// VerdictKey is the context key of a query's *Verdict. WithVerdict is the
// simple way to set it; a caller with its own context type (one allocation
// for all of a query's values) answers Value(VerdictKey{}) with a *Verdict.
type VerdictKey struct{}

// WithVerdict returns ctx carrying a new Verdict for one query.
func WithVerdict(ctx context.Context) (context.Context, *Verdict) {
	v := new(Verdict)
	return context.WithValue(ctx, VerdictKey{}, v), v
}

// MarkFresh records that the response is a fresh recursive answer. A no-op
// when the query did not come through the fast path.
func MarkFresh(ctx context.Context) {
	if v, ok := ctx.Value(VerdictKey{}).(*Verdict); ok {
		v.fresh.Store(true)
	}
}

// MarkNoCache records that the response must never be cached (a stale or
// fallback answer); it wins over MarkFresh.
func MarkNoCache(ctx context.Context) {
	if v, ok := ctx.Value(VerdictKey{}).(*Verdict); ok {
		v.never.Store(true)
	}
}

// Cacheable reports the verdict; a nil Verdict is not cacheable.
func (v *Verdict) Cacheable() bool {
	return v != nil && v.fresh.Load() && !v.never.Load()
}
