package gop_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/gop"
)

// scale is an op whose String names every attribute, so that two ops hash
// alike exactly when gorgonia may merge them.
type scale struct{ by float32 }

func (s scale) String() string { return fmt.Sprintf("Scale{by=%v}", s.by) }

func ExampleHash() {
	fmt.Println(gop.Hash(scale{2}) == gop.Hash(scale{2}), gop.Hash(scale{2}) == gop.Hash(scale{3}))
	// Output: true false
}
