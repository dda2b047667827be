package testmodel_test

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/testmodel"
)

// A user's model for 3-channel clips with 2 outputs, built the same for a
// seed every time.
func ExampleNew() {
	m := testmodel.New(1, 3, 2)
	fmt.Println(m.InChannels(), m.FeatureDim(), len(m.Params()) > 0)
	// Output: 3 2 true
}
