//go:build !linux

package vec

import (
	"math/rand/v2"
	"testing"
)

// guarded returns n random values (with no guard page off Linux).
func guarded(t *testing.T, rng *rand.Rand, n int) []float32 { return randSlice(rng, n) }
