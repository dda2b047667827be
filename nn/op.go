package nn

import (
	"fmt"
	"hash"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/gop"
)

// opBase holds what every vidssl Op shares: a name for errors and hashes.
// Ops embed it and implement the rest of gorgonia's Op interface.
type opBase struct {
	// name is the layer's name (e.g. "layer1.0.conv1"), part of errors and the hash.
	name string
}

func (opBase) ReturnsPtr() bool     { return false }
func (opBase) CallsExtern() bool    { return false }
func (opBase) OverwritesInput() int { return -1 }

// hashOf hashes an op's String, which must include every attribute: gorgonia
// de-duplicates nodes by hash.
func hashOf(op fmt.Stringer) uint32 { return gop.Hash(op) }

func writeHash(h hash.Hash, op fmt.Stringer) { fmt.Fprint(h, op.String()) }

// fnType returns the type of an op from `arity` tensors of `dims` dimensions
// to a tensor of outDims dimensions (0: a scalar).
func fnType(arity int, dims []int, outDims int) hm.Type { return gop.FnType(dims[:arity], outDims) }

// float32s returns the data of a float32 tensor value, or an error naming the op.
func float32s(op string, v G.Value) ([]float32, tensor.Shape, error) {
	return gop.Float32s("nn: "+op, v)
}

// newFloat32 returns a new zeroed float32 tensor of the given shape.
func newFloat32(shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))
}

// outBuf keeps an op's output tensor from one execution of its graph to the
// next, so that a training step reuses the memory of the last step's
// activations and gradients instead of allocating (and faulting in) them
// anew: at R3D-18's sizes that is gigabytes a step. The tape machine binds
// the tensor to the op's node, where it stays until the next execution
// overwrites it in place; a caller that keeps a node's value across runs
// must copy it (the programs in this module do). Ops hold an outBuf in a
// field of their own, never in a shared or copied struct, so that no two
// nodes share a tensor.
type outBuf struct {
	t atomic.Pointer[tensor.Dense]
}

// take returns a float32 tensor of the given shape for the op's output: the
// one the op returned last time when the shape matches, else a new one. Its
// values are undefined unless zero is true. The op gives it back with put
// once it has computed it (defer b.put(t)); a concurrent Do in between gets
// a tensor of its own.
func (b *outBuf) take(zero bool, shape ...int) *tensor.Dense {
	if t := b.t.Swap(nil); t != nil {
		if d, ok := t.Data().([]float32); ok && sameShape(t.Shape(), shape) && len(d) == tensor.Shape(shape).TotalSize() {
			if zero {
				clear(d)
			}
			return t
		}
	}
	return newFloat32(shape...)
}

// put keeps t for the next take.
func (b *outBuf) put(t *tensor.Dense) { b.t.Store(t) }

// scalar32 returns a float32 scalar value.
func scalar32(v float32) G.Value { return G.NewF32(v) }

// checkArity returns an error when an op is given the wrong number of inputs.
func checkArity(op string, want, got int) error {
	if want != got {
		return fmt.Errorf("nn: %s: %d inputs, want %d", op, got, want)
	}
	return nil
}

// ScalarValue reads a float32 scalar Value, such as a loss node's value after a
// run: a *gorgonia.F32 or a one-element float32 tensor.
func ScalarValue(v G.Value) (float32, error) {
	f, err := gop.Scalar(v)
	if err != nil {
		return 0, fmt.Errorf("nn: %w", err)
	}
	return f, nil
}
