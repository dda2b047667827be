package gpubench

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

var errOOM = errors.New("out of memory")

// TestLargestFit: batches that do not fit, in preparing or in the warm-up,
// are skipped for a quarter fewer; the first that fits is timed.
func TestLargestFit(t *testing.T) {
	var tried []int
	steps, closes := 0, 0
	f := Fit{
		OutOfMemory: func(err error) bool { return errors.Is(err, errOOM) },
		Sync:        func() error { return nil },
		Logf:        t.Logf,
		Prepare: func(n int) (func() (float64, error), func(), error) {
			tried = append(tried, n)
			if n > 60 {
				return nil, nil, errOOM
			}
			step := func() (float64, error) {
				steps++
				if n > 40 {
					return 0, errOOM
				}
				return 1.5, nil
			}
			return step, func() { closes++ }, nil
		},
	}
	n, sec, loss, err := LargestFit(f, 88, 5)
	if err != nil || n != 36 || loss != 1.5 || sec < 0 {
		t.Fatalf("LargestFit = %d, %v, %v, %v; want 36 pairs and loss 1.5", n, sec, loss, err)
	}
	if want := []int{88, 66, 49, 36}; !slices.Equal(tried, want) {
		t.Errorf("tried %v, want %v", tried, want)
	}
	if steps != 1+Warmup+5 || closes != 2 {
		t.Errorf("%d steps and %d closes, want %d and 2", steps, closes, 1+Warmup+5)
	}
	f.Prepare = func(int) (func() (float64, error), func(), error) { return nil, nil, errOOM }
	if _, _, _, err := LargestFit(f, 4, 1); err == nil || !strings.Contains(err.Error(), "no batch size fits") {
		t.Errorf("nothing fits: %v", err)
	}
}
