package parallel_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/parallel"
)

// For splits [0, n) into ranges of at least grain indices and runs f on
// each, possibly at once; f must write disjoint parts.
func ExampleFor() {
	squares := make([]int, 10)
	parallel.For(len(squares), 2, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			squares[i] = i * i
		}
	})
	fmt.Println(squares)
	// Output: [0 1 4 9 16 25 36 49 64 81]
}
