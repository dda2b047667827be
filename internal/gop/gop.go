// Package gop holds what vidssl's gorgonia Ops share: the fixed parts of the
// Op interface, hashing, types, and reading float32 values.
package gop

import (
	"fmt"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Base implements the parts of gorgonia's Op interface that are the same for
// every vidssl Op: they return new values, call no external code and
// overwrite no input.
type Base struct{}

// ReturnsPtr reports false: ops return new values.
func (Base) ReturnsPtr() bool { return false }

// CallsExtern reports false: ops run Go code (OpenBLAS is called through
// purego on the same thread, which needs no flush).
func (Base) CallsExtern() bool { return false }

// OverwritesInput reports -1: no op writes into an input.
func (Base) OverwritesInput() int { return -1 }

// Hash hashes an op's String, which must include every attribute: gorgonia
// de-duplicates nodes by hash.
func Hash(op fmt.Stringer) uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, op.String())
	return h.Sum32()
}

// FnType returns the type of an op from tensors of the given ranks to a
// tensor of rank out; rank 0 is a scalar.
func FnType(dims []int, out int) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(dims)+1)
	for _, d := range dims {
		ts = append(ts, TensorType(d, a))
	}
	ts = append(ts, TensorType(out, a))
	return hm.NewFnType(ts...)
}

// TensorType is the type of a tensor of rank dims over a; a itself for rank 0.
func TensorType(dims int, a hm.TypeVariable) hm.Type {
	if dims == 0 {
		return a
	}
	return &G.TensorType{Dims: dims, Of: a}
}

// Float32s returns the data and shape of a contiguous float32 tensor value;
// the error names the package and op in where (e.g. "nn: Conv3d").
func Float32s(where string, v G.Value) ([]float32, tensor.Shape, error) {
	t, ok := v.(tensor.Tensor)
	if !ok {
		return nil, nil, fmt.Errorf("%s: input is %T, want a float32 tensor", where, v)
	}
	d, ok := t.Data().([]float32)
	if !ok {
		return nil, nil, fmt.Errorf("%s: input has dtype %v, want float32", where, t.Dtype())
	}
	if !t.IsNativelyAccessible() || t.RequiresIterator() {
		return nil, nil, fmt.Errorf("%s: input is not a contiguous tensor", where)
	}
	return d, t.Shape(), nil
}

// Scalar reads a float32 scalar Value: a *gorgonia.F32 or a one-element
// float32 tensor.
func Scalar(v G.Value) (float32, error) {
	switch s := v.(type) {
	case *G.F32:
		return float32(*s), nil
	case tensor.Tensor:
		if d, ok := s.Data().([]float32); ok && len(d) == 1 {
			return d[0], nil
		}
		if d, ok := s.Data().(float32); ok {
			return d, nil
		}
	}
	return 0, fmt.Errorf("want a float32 scalar, got %T", v)
}
