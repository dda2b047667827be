//go:build !linux

package blas

import "testing"

// guardedBuf returns a slice of n values (with no guard page off Linux).
func guardedBuf(t *testing.T, n int) []float32 { return make([]float32, n) }
