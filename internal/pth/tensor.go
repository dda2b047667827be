package pth

import (
	"encoding/binary"
	"fmt"
	"math"
)

// dtype is a storage element type.
type dtype struct {
	kind dkind
	name string // torch's name without the "torch." prefix
	size int    // bytes per element
}

type dkind uint8

const (
	kFloat32 dkind = iota
	kFloat16
	kBFloat16
	kFloat64
	kInt64
	kInt32
	kInt16
	kInt8
	kUint8
	kBool
)

// storageDTypes maps torch.<Name>Storage globals to their element types.
var storageDTypes = map[string]dtype{
	"FloatStorage":    {kFloat32, "float32", 4},
	"HalfStorage":     {kFloat16, "float16", 2},
	"BFloat16Storage": {kBFloat16, "bfloat16", 2},
	"DoubleStorage":   {kFloat64, "float64", 8},
	"LongStorage":     {kInt64, "int64", 8},
	"IntStorage":      {kInt32, "int32", 4},
	"ShortStorage":    {kInt16, "int16", 2},
	"CharStorage":     {kInt8, "int8", 1},
	"ByteStorage":     {kUint8, "uint8", 1},
	"BoolStorage":     {kBool, "bool", 1},
}

// keepsInts reports whether Tensor.Ints holds a dtype's exact values.
func (d dtype) keepsInts() bool { return d.kind == kInt64 || d.kind == kInt32 }

// decode converts the elements in src to float32 in dst and, for int32 and
// int64, also to their exact values in ints.
func (d dtype) decode(dst []float32, ints []int64, src []byte, bo binary.ByteOrder) {
	switch d.kind {
	case kFloat32:
		for j := range dst {
			dst[j] = math.Float32frombits(bo.Uint32(src[4*j:]))
		}
	case kFloat16:
		for j := range dst {
			dst[j] = halfToFloat32(bo.Uint16(src[2*j:]))
		}
	case kBFloat16:
		for j := range dst {
			dst[j] = math.Float32frombits(uint32(bo.Uint16(src[2*j:])) << 16)
		}
	case kFloat64:
		for j := range dst {
			dst[j] = float32(math.Float64frombits(bo.Uint64(src[8*j:])))
		}
	case kInt64:
		for j := range dst {
			v := int64(bo.Uint64(src[8*j:]))
			dst[j], ints[j] = float32(v), v
		}
	case kInt32:
		for j := range dst {
			v := int64(int32(bo.Uint32(src[4*j:])))
			dst[j], ints[j] = float32(v), v
		}
	case kInt16:
		for j := range dst {
			dst[j] = float32(int16(bo.Uint16(src[2*j:])))
		}
	case kInt8:
		for j := range dst {
			dst[j] = float32(int8(src[j]))
		}
	case kUint8:
		for j := range dst {
			dst[j] = float32(src[j])
		}
	case kBool:
		for j := range dst {
			dst[j] = 0
			if src[j] != 0 {
				dst[j] = 1
			}
		}
	}
}

// halfToFloat32 widens an IEEE 754 binary16 value exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN (payload kept)
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0: // zero, subnormal: mant * 2^-24, exact in float32
		f := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(f))
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// materialize gathers t's elements from its storage's bytes in row-major
// order. It checks every index against the storage before reading and
// charges the elements against *budget before allocating.
func materialize(t *tensorRef, raw []byte, bo binary.ByteOrder, budget *int64) (data []float32, ints []int64, err error) {
	s := t.storage
	numel := int64(1)
	for _, n := range t.size {
		if n == 0 {
			numel = 0
			break
		}
	}
	if numel != 0 {
		for _, n := range t.size {
			if n > *budget/numel {
				return nil, nil, fmt.Errorf("shape %v holds more elements than the file can fill", t.size)
			}
			numel *= n
		}
	}
	if numel > *budget {
		return nil, nil, fmt.Errorf("shape %v holds more elements than the file can fill", t.size)
	}
	// The storage's claimed length was checked against its entry when the
	// persistent id was read; check it against the bytes in hand too.
	if s.numel > int64(len(raw)/s.dtype.size) {
		return nil, nil, fmt.Errorf("storage %q claims %d elements but holds %d bytes", s.key, s.numel, len(raw))
	}
	// Dimensions of size 1 move nowhere; dropping them bounds the gather
	// loop's per-element work by the number of dimensions of size >= 2.
	var size, stride []int64
	if numel > 0 {
		last := t.offset
		if last >= s.numel {
			return nil, nil, fmt.Errorf("storage offset %d is past storage %q of %d elements", t.offset, s.key, s.numel)
		}
		for i, n := range t.size {
			if n == 1 {
				continue
			}
			size = append(size, n)
			stride = append(stride, t.stride[i])
			// last + (n-1)*stride < s.numel, without overflow.
			if t.stride[i] > 0 && (n-1) > (s.numel-1-last)/t.stride[i] {
				return nil, nil, fmt.Errorf("size %v and stride %v at offset %d reach past storage %q of %d elements",
					t.size, t.stride, t.offset, s.key, s.numel)
			}
			last += (n - 1) * t.stride[i]
		}
	}
	*budget -= numel
	data = make([]float32, numel)
	if s.dtype.keepsInts() {
		ints = make([]int64, numel)
	}
	// Merge dimensions that step through memory as one, so that contiguous
	// blocks (a whole contiguous tensor, rows of most others) decode as runs.
	var ms, mst []int64
	for i := range size {
		// stride*size cannot overflow: (size-1)*stride was bounded above.
		if k := len(ms) - 1; k >= 0 && mst[k] == stride[i]*size[i] {
			ms[k] *= size[i]
			mst[k] = stride[i]
			continue
		}
		ms, mst = append(ms, size[i]), append(mst, stride[i])
	}
	run := int64(1)
	if k := len(ms) - 1; k >= 0 && mst[k] == 1 {
		run, ms, mst = ms[k], ms[:k], mst[:k]
	}
	es := int64(s.dtype.size)
	idx := make([]int64, len(ms))
	pos := t.offset
	for i := int64(0); i < numel; i += run {
		var iv []int64
		if ints != nil {
			iv = ints[i : i+run]
		}
		s.dtype.decode(data[i:i+run], iv, raw[pos*es:(pos+run)*es], bo)
		for d := len(ms) - 1; d >= 0; d-- {
			idx[d]++
			pos += mst[d]
			if idx[d] < ms[d] {
				break
			}
			pos -= mst[d] * ms[d]
			idx[d] = 0
		}
	}
	return data, ints, nil
}
