package cputime

import (
	"testing"
	"time"
)

// TestProcessGrows: busy work adds CPU time, and never takes any away.
func TestProcessGrows(t *testing.T) {
	t0 := Process()
	if t0 <= 0 {
		t.Fatalf("Process() = %v at the start of a test, want > 0", t0)
	}
	x := 1.0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x = x*1.0000001 + 1e-9
	}
	if t1 := Process(); t1 <= t0 {
		t.Errorf("Process() went from %v to %v over 50ms of work (x %v)", t0, t1, x)
	}
}
