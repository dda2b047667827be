// Package gpubench times training steps for the GPU benchmarks that
// .gpu/check.sh runs (gpu's TestCUDATrainBenchmark, pretrain's
// TestCUDASSLBenchmark): the largest batch that fits, warm-up steps, then
// timed ones. It knows no engine: the caller passes how to recognise an
// out-of-memory error and how to wait for the device.
package gpubench

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// Warmup is the number of untimed steps before the timed ones (they
// include cuDNN's algorithm search).
const Warmup = 3

// EnvInt returns the positive integer in the environment variable name,
// or def when it is unset or not a positive integer.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Fit is what a benchmark needs of its engine and trainer.
type Fit struct {
	// OutOfMemory reports whether an error says the device ran out of
	// memory (gpu.IsOutOfMemory).
	OutOfMemory func(error) bool
	// Sync waits for the device's queued work (gpu.Engine.Sync).
	Sync func() error
	// Logf logs progress (testing.T.Logf).
	Logf func(format string, args ...any)
	// Prepare makes a trainer for batches of n clips (or pairs) and
	// returns its step, which returns the step's loss, and its close.
	Prepare func(n int) (step func() (float64, error), closeFn func(), err error)
}

// LargestFit times steps training steps of the largest batch that fits,
// trying start clips (or pairs) first and a quarter fewer after each
// out-of-memory failure, in preparing or in the warm-up steps. It returns
// the batch, the seconds of the timed steps, and the last step's loss; a
// NaN loss, a failure other than out-of-memory, or no batch that fits is
// an error.
func LargestFit(f Fit, start, steps int) (n int, seconds, loss float64, err error) {
	for n = start; n >= 1; n = n * 3 / 4 {
		step, closeFn, err := f.Prepare(n)
		if f.OutOfMemory(err) {
			f.Logf("batch %d does not fit: %v", n, err)
			continue
		}
		if err != nil {
			return n, 0, 0, err
		}
		warm := time.Now()
		for i := 0; i < Warmup && err == nil; i++ {
			_, err = step()
		}
		if f.OutOfMemory(err) {
			f.Logf("batch %d runs out of memory in the first steps: %v", n, err)
			closeFn()
			continue
		}
		if err != nil {
			closeFn()
			return n, 0, 0, err
		}
		f.Logf("batch %d: %d warm-up steps (with the algorithm search) took %v", n, Warmup, time.Since(warm))
		begin := time.Now()
		for range steps {
			if loss, err = step(); err != nil {
				closeFn()
				return n, 0, 0, err
			}
		}
		if err := f.Sync(); err != nil {
			closeFn()
			return n, 0, 0, err
		}
		seconds = time.Since(begin).Seconds()
		closeFn()
		if math.IsNaN(loss) {
			return n, seconds, loss, fmt.Errorf("batch %d: loss is NaN", n)
		}
		return n, seconds, loss, nil
	}
	return 0, 0, 0, errors.New("no batch size fits")
}
