package fakeclock

import (
	"testing"
	"time"
)

func TestAdvance(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		after   []time.Duration // After calls, in order
		advance []time.Duration // then these Advance calls
		fired   []bool          // parallel to after
		pending int
		elapsed time.Duration
	}{
		{"nothing due", []time.Duration{time.Second}, []time.Duration{999 * time.Millisecond}, []bool{false}, 1, 999 * time.Millisecond},
		{"due exactly", []time.Duration{time.Second}, []time.Duration{time.Second}, []bool{true}, 0, time.Second},
		{"due in steps", []time.Duration{time.Second}, []time.Duration{600 * time.Millisecond, 600 * time.Millisecond}, []bool{true}, 0, 1200 * time.Millisecond},
		{"zero fires at the next advance", []time.Duration{0}, []time.Duration{0}, []bool{true}, 0, 0},
		{"only the due ones", []time.Duration{time.Second, time.Minute, 2 * time.Second}, []time.Duration{2 * time.Second}, []bool{true, false, true}, 1, 2 * time.Second},
		{"no advance", []time.Duration{time.Second}, nil, []bool{false}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(start)
			chs := make([]<-chan time.Time, len(tc.after))
			for i, d := range tc.after {
				chs[i] = c.After(d)
			}
			for _, d := range tc.advance {
				c.Advance(d)
			}
			for i, ch := range chs {
				select {
				case got := <-ch:
					if !tc.fired[i] {
						t.Errorf("After(%v) fired at %v, want not yet", tc.after[i], got)
					} else if want := start.Add(tc.elapsed); !got.Equal(want) {
						t.Errorf("After(%v) received %v, want %v", tc.after[i], got, want)
					}
				default:
					if tc.fired[i] {
						t.Errorf("After(%v) did not fire", tc.after[i])
					}
				}
			}
			if got := c.Pending(); got != tc.pending {
				t.Errorf("Pending() = %d, want %d", got, tc.pending)
			}
			if got := c.Now(); !got.Equal(start.Add(tc.elapsed)) {
				t.Errorf("Now() = %v, want %v", got, start.Add(tc.elapsed))
			}
		})
	}
}
