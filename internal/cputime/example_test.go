package cputime_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/cputime"
)

// The CPU time of a piece of work is the difference of two readings.
func ExampleProcess() {
	before := cputime.Process()
	s := 0.0
	for i := range 1_000_000 {
		s += float64(i)
	}
	used := cputime.Process() - before
	fmt.Println(s > 0, used >= 0)
	// Output: true true
}
