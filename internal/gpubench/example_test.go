package gpubench_test

import (
	"errors"
	"fmt"

	"github.com/vidssl/vidssl/internal/gpubench"
)

// A device that holds at most 50 clips: 64 does not fit, 48 (a quarter
// fewer) does, and its steps are timed.
func ExampleLargestFit() {
	errOOM := errors.New("out of memory")
	f := gpubench.Fit{
		OutOfMemory: func(err error) bool { return errors.Is(err, errOOM) },
		Sync:        func() error { return nil },
		Logf:        func(string, ...any) {},
		Prepare: func(n int) (func() (float64, error), func(), error) {
			if n > 50 {
				return nil, nil, errOOM
			}
			return func() (float64, error) { return 0.69, nil }, func() {}, nil
		},
	}
	n, _, loss, err := gpubench.LargestFit(f, 64, 5)
	fmt.Println(n, loss, err)
	// Output: 48 0.69 <nil>
}
