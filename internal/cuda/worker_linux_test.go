package cuda

import (
	"sync"
	"syscall"
	"testing"
)

// TestWorkerOneThread checks that every job, from any goroutine, runs on the
// one OS thread the worker locked.
func TestWorkerOneThread(t *testing.T) {
	var initTID int
	w, err := startWorker(func() error { initTID = syscall.Gettid(); return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	var mu sync.Mutex
	tids := map[int]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				_ = w.do(func() error {
					mu.Lock()
					tids[syscall.Gettid()] = true
					mu.Unlock()
					return nil
				})
			}
		}()
	}
	wg.Wait()
	if len(tids) != 1 || !tids[initTID] {
		t.Errorf("jobs ran on threads %v, want only the init thread %d", tids, initTID)
	}
}
