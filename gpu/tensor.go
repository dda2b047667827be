package gpu

import (
	"fmt"
	"slices"
)

// Tensor is a float32 tensor in an Engine's memory (device memory for the
// CUDA engine), in row-major order (NCDHW for 5-D activations). A Tensor is
// either an allocation, made by Engine.New, or a view of part of one, made by
// View; views share memory with the allocation and are invalid after it is
// freed.
type Tensor struct {
	shape []int
	off   int // in float32s, into buf
	buf   *buffer
}

// buffer is one allocation.
type buffer struct {
	e     *Engine
	n     int       // float32s
	ptr   uintptr   // device address (CUDA backend)
	data  []float32 // memory (host backend)
	owner *Tensor   // the tensor New returned
	freed bool
}

// Shape returns a copy of the tensor's shape.
func (t *Tensor) Shape() []int { return slices.Clone(t.shape) }

// Len returns the number of elements.
func (t *Tensor) Len() int { return numel(t.shape) }

// Engine returns the engine that holds the tensor.
func (t *Tensor) Engine() *Engine { return t.buf.e }

// View returns a tensor of the given shape over the elements of t from
// offset on, sharing t's memory. It must fit inside t.
func (t *Tensor) View(offset int, shape ...int) (*Tensor, error) {
	if err := checkShape(shape); err != nil {
		return nil, fmt.Errorf("gpu: view: %w", err)
	}
	if offset < 0 || offset+numel(shape) > t.Len() {
		return nil, fmt.Errorf("gpu: view of %d elements at offset %d does not fit a tensor of shape %v", numel(shape), offset, t.shape)
	}
	return &Tensor{shape: slices.Clone(shape), off: t.off + offset, buf: t.buf}, nil
}

// Reshape returns a view of all of t with another shape of the same size.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	if numel(shape) != t.Len() {
		return nil, fmt.Errorf("gpu: reshape %v (%d elements) to %v (%d elements)", t.shape, t.Len(), shape, numel(shape))
	}
	return t.View(0, shape...)
}

// String returns "Tensor" and the shape, for errors.
func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.shape) }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func checkShape(shape []int) error {
	if len(shape) == 0 {
		return fmt.Errorf("empty shape")
	}
	for _, d := range shape {
		if d <= 0 {
			return fmt.Errorf("shape %v has a dimension < 1", shape)
		}
	}
	return nil
}

func sameShape(a, b []int) bool { return slices.Equal(a, b) }

// overlaps reports whether a and b share any element.
func overlaps(a, b *Tensor) bool {
	if a == nil || b == nil || a.buf != b.buf {
		return false
	}
	return a.off < b.off+b.Len() && b.off < a.off+a.Len()
}

// same reports whether a and b are the same elements (exact aliasing, which
// elementwise ops allow).
func same(a, b *Tensor) bool {
	return a.buf == b.buf && a.off == b.off && a.Len() == b.Len()
}
