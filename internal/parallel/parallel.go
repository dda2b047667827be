// Package parallel runs loops over index ranges on all CPUs.
package parallel

import (
	"runtime"
	"sync"
)

// For calls f on consecutive sub-ranges [lo, hi) that cover [0, n), in parallel
// on up to GOMAXPROCS goroutines. Ranges hold at least grain indices (grain < 1
// counts as 1), so tiny loops run on the calling goroutine. f must be safe to
// call concurrently on disjoint ranges. For returns when every call has.
func For(n, grain int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	workers := runtime.GOMAXPROCS(0)
	if max := (n + grain - 1) / grain; workers > max {
		workers = max
	}
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
