package explain

import (
	"fmt"
	"math"
)

// maxElems bounds the number of values any shape here may describe, so that
// products of dimensions cannot overflow int and a wrong shape cannot ask
// for an absurd allocation.
const maxElems = 1 << 31

// GradCAM computes Grad-CAM maps from the activations of one layer and the
// gradient of a target score with respect to them.
//
// acts and grads are float32 NCDHW arrays of the given shape (N, C, t, h, w),
// row-major. For each item n the channel weights are the means of the
// gradient over time and space,
//
//	w[n,c] = 1/(t*h*w) * Σ_{k,i,j} grads[n,c,k,i,j],
//
// and the map is the rectified weighted sum of the activation channels,
//
//	cam[n,k,i,j] = max(0, Σ_c w[n,c] * acts[n,c,k,i,j]).
//
// The result has shape (N, t, h, w), returned as the second value. It is not
// normalised. Sums are accumulated in float64.
//
// GradCAM returns an error, and no map, when a dimension is not positive,
// when the slices do not hold exactly N*C*t*h*w values, or when acts or
// grads holds a NaN or an infinity (the error names which, and where).
func GradCAM(acts, grads []float32, shape [5]int) ([]float32, [4]int, error) {
	n, err := volume("GradCAM", shape[:])
	if err != nil {
		return nil, [4]int{}, err
	}
	if len(acts) != n {
		return nil, [4]int{}, fmt.Errorf("explain: GradCAM: acts has %d values, shape %v needs %d", len(acts), shape, n)
	}
	if len(grads) != n {
		return nil, [4]int{}, fmt.Errorf("explain: GradCAM: grads has %d values, shape %v needs %d", len(grads), shape, n)
	}
	if err := finite("GradCAM", "acts", acts); err != nil {
		return nil, [4]int{}, err
	}
	if err := finite("GradCAM", "grads", grads); err != nil {
		return nil, [4]int{}, err
	}
	N, C, vol := shape[0], shape[1], shape[2]*shape[3]*shape[4]
	out := make([]float32, N*vol)
	acc := make([]float64, vol)
	for b := range N {
		clear(acc)
		for c := range C {
			base := (b*C + c) * vol
			g := grads[base : base+vol]
			var s float64
			for _, v := range g {
				s += float64(v)
			}
			w := s / float64(vol)
			if w == 0 {
				continue
			}
			for i, v := range acts[base : base+vol] {
				acc[i] += w * float64(v)
			}
		}
		dst := out[b*vol : (b+1)*vol]
		for i, v := range acc {
			if v > 0 {
				dst[i] = float32(v)
			}
		}
	}
	return out, [4]int{N, shape[2], shape[3], shape[4]}, nil
}

// Upsample resizes maps of shape (N, t, h, w) to (N, size[0], size[1],
// size[2]) by trilinear interpolation, exactly as PyTorch's
//
//	F.interpolate(x[:, None], size=size, mode="trilinear", align_corners=False)
//
// does: along each axis with input length in and output length out, output
// index o samples the input at
//
//	s = max(0, (o + 0.5) * in/out - 0.5),
//
// between i0 = floor(s) and i1 = min(i0+1, in-1) with weights 1-(s-i0) and
// s-i0; the three axes combine as a product. Sizes smaller than the input
// are allowed (then it is the same formula, not an area average). The
// returned shape is (N, size[0], size[1], size[2]).
func Upsample(m []float32, shape [4]int, size [3]int) ([]float32, [4]int, error) {
	n, err := volume("Upsample", shape[:])
	if err != nil {
		return nil, [4]int{}, err
	}
	if len(m) != n {
		return nil, [4]int{}, fmt.Errorf("explain: Upsample: map has %d values, shape %v needs %d", len(m), shape, n)
	}
	outShape := [4]int{shape[0], size[0], size[1], size[2]}
	if _, err := volume("Upsample", outShape[:]); err != nil {
		return nil, [4]int{}, fmt.Errorf("%w (output size %v)", err, size)
	}
	if err := finite("Upsample", "map", m); err != nil {
		return nil, [4]int{}, err
	}
	N, t, h, w := shape[0], shape[1], shape[2], shape[3]
	T, H, W := size[0], size[1], size[2]
	ti, hi, wi := axis(t, T), axis(h, H), axis(w, W)
	out := make([]float32, N*T*H*W)
	o := 0
	for b := range N {
		src := m[b*t*h*w : (b+1)*t*h*w]
		for _, at := range ti {
			p0, p1 := src[at.i0*h*w:(at.i0+1)*h*w], src[at.i1*h*w:(at.i1+1)*h*w]
			for _, ah := range hi {
				for _, aw := range wi {
					out[o] = float32(at.l0*bilinear(p0, w, ah, aw) + at.l1*bilinear(p1, w, ah, aw))
					o++
				}
			}
		}
	}
	return out, outShape, nil
}

// tap is where one output index of a resized axis samples the input.
type tap struct {
	i0, i1 int
	l0, l1 float64
}

// bilinear interpolates the row-major plane p, w values wide, at the taps
// ah (rows) and aw (columns).
func bilinear(p []float32, w int, ah, aw tap) float64 {
	r0, r1 := p[ah.i0*w:], p[ah.i1*w:]
	return ah.l0*(aw.l0*float64(r0[aw.i0])+aw.l1*float64(r0[aw.i1])) +
		ah.l1*(aw.l0*float64(r1[aw.i0])+aw.l1*float64(r1[aw.i1]))
}

// axis computes PyTorch's linear-interpolation source indices and weights
// (align_corners=False, no explicit scale factor) for resizing an axis of
// length in to length out.
func axis(in, out int) []tap {
	scale := float64(in) / float64(out)
	taps := make([]tap, out)
	for o := range taps {
		s := (float64(o)+0.5)*scale - 0.5
		if s < 0 {
			s = 0
		}
		i0 := int(s)
		if i0 > in-1 {
			i0 = in - 1
		}
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l1 := s - float64(i0)
		if i1 == i0 {
			l1 = 0
		}
		taps[o] = tap{i0: i0, i1: i1, l0: 1 - l1, l1: l1}
	}
	return taps
}

// Normalize rescales each of the n items of m (consecutive blocks of
// len(m)/n values) to [0, 1] by min-max: v -> (v - min) / (max - min).
// An item whose values are all equal, whose range is zero, becomes all
// zeros: a map with no contrast has no salient place, and this keeps NaN
// out of the result. m is not modified.
//
// Normalize returns an error when n is not positive, when len(m) is not a
// positive multiple of n, or when m holds a NaN or an infinity.
func Normalize(m []float32, n int) ([]float32, error) {
	if n <= 0 {
		return nil, fmt.Errorf("explain: Normalize: %d items, need at least one", n)
	}
	if len(m) == 0 || len(m)%n != 0 {
		return nil, fmt.Errorf("explain: Normalize: %d values do not split into %d equal non-empty items", len(m), n)
	}
	if err := finite("Normalize", "map", m); err != nil {
		return nil, err
	}
	per := len(m) / n
	out := make([]float32, len(m))
	for b := range n {
		src, dst := m[b*per:(b+1)*per], out[b*per:(b+1)*per]
		lo, hi := src[0], src[0]
		for _, v := range src {
			lo, hi = min(lo, v), max(hi, v)
		}
		rng := float64(hi) - float64(lo)
		if !(rng > 0) {
			continue // constant item: zeros
		}
		for i, v := range src {
			dst[i] = float32((float64(v) - float64(lo)) / rng)
		}
	}
	return out, nil
}

// TemporalMax projects maps of shape (N, T, H, W) onto (N, H, W) by taking
// each pixel's maximum over time, the paper's way of showing a video's
// saliency as one image.
func TemporalMax(m []float32, shape [4]int) ([]float32, [3]int, error) {
	n, err := volume("TemporalMax", shape[:])
	if err != nil {
		return nil, [3]int{}, err
	}
	if len(m) != n {
		return nil, [3]int{}, fmt.Errorf("explain: TemporalMax: map has %d values, shape %v needs %d", len(m), shape, n)
	}
	if err := finite("TemporalMax", "map", m); err != nil {
		return nil, [3]int{}, err
	}
	N, T, hw := shape[0], shape[1], shape[2]*shape[3]
	out := make([]float32, N*hw)
	for b := range N {
		dst := out[b*hw : (b+1)*hw]
		copy(dst, m[b*T*hw:])
		for k := 1; k < T; k++ {
			for i, v := range m[(b*T+k)*hw : (b*T+k+1)*hw] {
				dst[i] = max(dst[i], v)
			}
		}
	}
	return out, [3]int{N, shape[2], shape[3]}, nil
}

// Saliency runs the whole pipeline of the paper's Figure 3 on one layer's
// activations and gradients of shape (N, C, t, h, w): GradCAM, Upsample to
// size (T, H, W) (the input clip's size), Normalize each item to [0, 1] over
// its whole (T, H, W) volume, and TemporalMax. It returns N heatmaps of
// H x W values in [0, 1], row-major, with shape (N, H, W).
//
// Since the normalisation comes before the projection, each heatmap's
// maximum is 1 (unless the item's map is constant, then it is all zeros)
// but its minimum need not be 0; call Normalize again for a full-range
// image.
func Saliency(acts, grads []float32, shape [5]int, size [3]int) ([]float32, [3]int, error) {
	cam, cs, err := GradCAM(acts, grads, shape)
	if err != nil {
		return nil, [3]int{}, err
	}
	up, us, err := Upsample(cam, cs, size)
	if err != nil {
		return nil, [3]int{}, err
	}
	norm, err := Normalize(up, us[0])
	if err != nil {
		return nil, [3]int{}, err
	}
	return TemporalMax(norm, us)
}

// volume checks that every dimension is positive and returns their
// product, refusing products beyond maxElems.
func volume(fn string, shape []int) (int, error) {
	n := 1
	for i, d := range shape {
		if d <= 0 {
			return 0, fmt.Errorf("explain: %s: shape %v: dimension %d is %d, must be positive", fn, shape, i, d)
		}
		if n > maxElems/d {
			return 0, fmt.Errorf("explain: %s: shape %v holds more than %d values", fn, shape, maxElems)
		}
		n *= d
	}
	return n, nil
}

// finite reports the first NaN or infinity in x, naming the argument.
func finite(fn, name string, x []float32) error {
	for i, v := range x {
		f := float64(v)
		if math.IsNaN(f) {
			return fmt.Errorf("explain: %s: %s[%d] is NaN", fn, name, i)
		}
		if math.IsInf(f, 0) {
			return fmt.Errorf("explain: %s: %s[%d] is %v", fn, name, i, f)
		}
	}
	return nil
}
