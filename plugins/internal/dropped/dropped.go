// Package dropped carries, for one query, that the plugin chain chose to
// send no response at all (a response policy's DROP action, rpz-drop.), so
// that a plugin in front of it does not take the silence for a failure.
// plugins/fallback answers from its static records when what follows it
// fails or says nothing; a dropped query has not failed: the policy is the
// answer (ARCHITECTURE.md, "Layers": what plugins share is below them).
package dropped

import (
	"context"
	"sync/atomic"
)

type key struct{}

// Mark is one query's record of a deliberate drop.
type Mark struct{ set atomic.Bool }

// With returns ctx carrying a new Mark for the query.
func With(ctx context.Context) (context.Context, *Mark) {
	m := new(Mark)
	return context.WithValue(ctx, key{}, m), m
}

// Set records that the query is dropped on purpose; a no-op when nobody
// in front asked (ctx carries no Mark).
func Set(ctx context.Context) {
	if m, ok := ctx.Value(key{}).(*Mark); ok {
		m.set.Store(true)
	}
}

// Dropped reports whether the chain dropped the query on purpose.
func (m *Mark) Dropped() bool { return m != nil && m.set.Load() }
