// Package layers holds no code: its test checks the import rules of
// ARCHITECTURE.md ("Layers") on the whole module with `go list`, so that a
// change that breaks one fails in CI instead of in review.
package layers
