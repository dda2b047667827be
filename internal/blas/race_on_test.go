//go:build race

package blas

// raceEnabled reports whether the tests run under the race detector, which
// makes sync.Pool drop a quarter of what is put back, so that a pooled
// buffer is sometimes allocated again.
const raceEnabled = true
