package resnet3d

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/vidssl/vidssl/nn"
)

// TestTrainStepMemoryIsFlat runs 50 training steps of a small model and
// checks that the live heap does not grow: the graph, machine, optimiser
// state and scratch buffers are reused, and each step's activations are
// garbage once the step ends.
func TestTrainStepMemoryIsFlat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := New(Config{InChannels: 3, Width: 8, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 1}, rng)
	if err != nil {
		t.Fatal(err)
	}
	const n, frames, size = 4, 4, 32
	tr, x, y, err := NewClassifierTrainer(m, n, frames, size, size, 2, nn.NewAdam(1e-3), rng)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	data := make([]float32, n*3*frames*size*size)
	for i := range data {
		data[i] = rng.Float32()
	}
	labels := []float32{0, 1, 0, 1}
	live := func() uint64 {
		// Two collections also empty the sync.Pools of scratch buffers
		// (their victim caches survive one), so what remains is the model,
		// the compiled graph, the optimiser state and any leak.
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var at10 uint64
	for step := 1; step <= 50; step++ {
		if _, err := tr.Run(context.Background(), nn.Feed{Node: x, Data: data}, nn.Feed{Node: y, Data: labels}); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if step == 10 {
			at10 = live()
		}
	}
	at50 := live()
	t.Logf("live heap after step 10: %.1f MiB, after step 50: %.1f MiB", float64(at10)/(1<<20), float64(at50)/(1<<20))
	// A leak of even a small part of a step's activations would add tens of
	// MiB over 40 steps; allow for a few MiB of noise.
	if at50 > at10+4<<20 {
		t.Errorf("live heap grew from %d bytes at step 10 to %d at step 50", at10, at50)
	}
}
