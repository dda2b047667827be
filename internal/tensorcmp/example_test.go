package tensorcmp_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/tensorcmp"
)

// RelL2 is |got - want| / |want| in L2 norm over the whole tensor.
func ExampleRelL2() {
	want := []float32{3, 4}
	got := []float32{3, 4.05}
	fmt.Printf("%.3f\n", tensorcmp.RelL2(got, want))
	// Output: 0.010
}
