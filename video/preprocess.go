package video

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// SectorThreshold is the brightness above which MaskSector counts a pixel as
// part of the ultrasound sector. A pixel's brightness is its largest channel
// value over all frames (the temporal maximum), so a pixel belongs to the
// sector when it is brighter than 10 (of 255) in at least one frame. The
// background of an echo recording is black apart from a few grey levels of
// compression noise, which 10 stays above; the temporal maximum keeps the dim
// far field of the sector, and the convex hull fills the dark blood pools
// inside it.
const SectorThreshold = 10

// MaskSector keeps the ultrasound sector of v and zeroes everything else: the
// burned-in text, ECG trace and calipers that lie outside it. It finds the
// largest 8-connected region of pixels brighter than SectorThreshold (see
// SectorMask), takes the convex hull of that region and zeroes every pixel
// outside the hull, in every frame and channel. v is not changed.
//
// Text or a trace that touches the sector joins its region, and the hull
// then grows to include it. A video with no pixel brighter than
// SectorThreshold is an error.
func MaskSector(v *Video) (*Video, error) {
	mask, err := SectorMask(v, SectorThreshold)
	if err != nil {
		return nil, err
	}
	out := cloneHeader(v, v.C)
	out.Frames = make([]uint8, len(v.Frames))
	// The hull is convex, so each row's mask is one run of pixels.
	for y := 0; y < v.H; y++ {
		row := mask[y*v.W : (y+1)*v.W]
		x0 := slices.Index(row, true)
		if x0 < 0 {
			continue
		}
		x1 := x0 + 1
		for x1 < v.W && row[x1] {
			x1++
		}
		lo, hi := (y*v.W+x0)*v.C, (y*v.W+x1)*v.C
		for t := 0; t < v.T; t++ {
			copy(out.Frame(t)[lo:hi], v.Frame(t)[lo:hi])
		}
	}
	return out, nil
}

// SectorMask returns the H x W sector mask of v, row-major: true for the
// pixels inside the convex hull of the largest 8-connected region whose
// brightness (largest channel value over all frames) is above threshold.
// Ties between regions of equal size go to the one met first in row-major
// order. It is an error when no pixel is above threshold.
func SectorMask(v *Video, threshold uint8) ([]bool, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	// Temporal maximum of every byte, then the maximum over channels.
	tmax := slices.Clone(v.Frame(0))
	for t := 1; t < v.T; t++ {
		maxBytes(tmax, v.Frame(t))
	}
	bright := tmax
	if v.C > 1 {
		bright = make([]uint8, v.H*v.W)
		for p := range bright {
			bright[p] = slices.Max(tmax[p*v.C : (p+1)*v.C])
		}
	}
	region := largestRegion(bright, v.H, v.W, threshold)
	if len(region) == 0 {
		return nil, fmt.Errorf("video: %s: mask sector: no pixel brighter than %d", v.name(), threshold)
	}
	return fillHull(convexHull(rowExtremes(region, v.H)), v.H, v.W), nil
}

// maxBytes sets dst[i] to max(dst[i], src[i]) for every i < len(dst)
// (src is at least as long), eight bytes at a time.
func maxBytes(dst, src []uint8) {
	src = src[:len(dst)]
	const hi = 0x8080808080808080
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		a := binary.LittleEndian.Uint64(dst[i:])
		b := binary.LittleEndian.Uint64(src[i:])
		// Per byte, a >= b: the low seven bits compared by a subtraction
		// that cannot borrow across bytes, then the top bits.
		t := (a | hi) - (b &^ hi)
		ge := (a&^b | ^(a^b)&t) & hi
		m := (ge >> 7) * 0xFF
		binary.LittleEndian.PutUint64(dst[i:], a&m|b&^m)
	}
	for ; i < len(dst); i++ {
		dst[i] = max(dst[i], src[i])
	}
}

// pixelPos is a pixel position: column X, row Y.
type pixelPos struct{ X, Y int }

// largestRegion returns the pixels of the largest 8-connected region of
// pixels with value above threshold.
func largestRegion(img []uint8, h, w int, threshold uint8) []pixelPos {
	label := make([]int32, h*w) // 0: not visited
	var best, cur, stack []pixelPos
	next := int32(0)
	for start := range img {
		if img[start] <= threshold || label[start] != 0 {
			continue
		}
		next++
		label[start] = next
		cur = cur[:0]
		stack = append(stack[:0], pixelPos{start % w, start / w})
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			cur = append(cur, p)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					x, y := p.X+dx, p.Y+dy
					if x < 0 || y < 0 || x >= w || y >= h {
						continue
					}
					q := y*w + x
					if img[q] > threshold && label[q] == 0 {
						label[q] = next
						stack = append(stack, pixelPos{x, y})
					}
				}
			}
		}
		if len(cur) > len(best) {
			best = append(best[:0], cur...)
		}
	}
	return best
}

// rowExtremes returns the leftmost and rightmost of pts in every row of an
// image h rows high: the only points that can be vertices of their convex
// hull.
func rowExtremes(pts []pixelPos, h int) []pixelPos {
	lo, hi := make([]int, h), make([]int, h)
	for y := range lo {
		lo[y], hi[y] = -1, -1
	}
	for _, p := range pts {
		if lo[p.Y] < 0 || p.X < lo[p.Y] {
			lo[p.Y] = p.X
		}
		if p.X > hi[p.Y] {
			hi[p.Y] = p.X
		}
	}
	var ext []pixelPos
	for y := range lo {
		if lo[y] >= 0 {
			ext = append(ext, pixelPos{lo[y], y}, pixelPos{hi[y], y})
		}
	}
	return ext
}

// turn is the z component of (a-o) x (b-o): positive when o, a, b turn
// counter-clockwise in x-right, y-up axes.
func turn(o, a, b pixelPos) int {
	return (a.X-o.X)*(b.Y-o.Y) - (a.Y-o.Y)*(b.X-o.X)
}

// convexHull returns the convex hull of pts by Andrew's monotone chain, in
// order, without collinear points. A hull of one pixelPos or a segment has one
// or two vertices. pts is reordered.
func convexHull(pts []pixelPos) []pixelPos {
	slices.SortFunc(pts, func(a, b pixelPos) int {
		if a.X != b.X {
			return a.X - b.X
		}
		return a.Y - b.Y
	})
	pts = slices.Compact(pts)
	if len(pts) < 3 {
		return pts
	}
	hull := make([]pixelPos, 0, 2*len(pts))
	for _, p := range pts { // lower chain
		for len(hull) >= 2 && turn(hull[len(hull)-2], hull[len(hull)-1], p) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p)
	}
	lower := len(hull) + 1
	for i := len(pts) - 2; i >= 0; i-- { // upper chain
		p := pts[i]
		for len(hull) >= lower && turn(hull[len(hull)-2], hull[len(hull)-1], p) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p)
	}
	return hull[:len(hull)-1]
}

// fillHull returns the h x w mask of the pixels whose centres lie inside or
// on the convex polygon hull (vertices in order, as convexHull returns).
func fillHull(hull []pixelPos, h, w int) []bool {
	mask := make([]bool, h*w)
	n := len(hull)
	for y := 0; y < h; y++ {
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := 0; i < n; i++ {
			p, q := hull[i], hull[(i+1)%n]
			if p.Y == y {
				lo, hi = min(lo, float64(p.X)), max(hi, float64(p.X))
			}
			if (p.Y < y && q.Y > y) || (p.Y > y && q.Y < y) {
				x := float64(p.X) + float64(q.X-p.X)*float64(y-p.Y)/float64(q.Y-p.Y)
				lo, hi = min(lo, x), max(hi, x)
			}
		}
		if lo > hi {
			continue
		}
		x0 := max(0, int(math.Ceil(lo-1e-9)))
		x1 := min(w-1, int(math.Floor(hi+1e-9)))
		for x := x0; x <= x1; x++ {
			mask[y*w+x] = true
		}
	}
	return mask
}

// cloneHeader returns a video with v's sizes, frame rate and source, c
// channels and no frames.
func cloneHeader(v *Video, c int) *Video {
	return &Video{T: v.T, H: v.H, W: v.W, C: c, FPS: v.FPS, Source: v.Source}
}

// Resize returns v scaled to h x w pixels. Each axis is scaled on its own: an
// axis that shrinks is area-averaged (every output pixel is the mean of the
// input pixels it covers, weighted by the exact, possibly fractional, overlap:
// a box filter, like OpenCV's INTER_AREA), an axis that grows is interpolated
// linearly between pixel centres (half-pixel centres and edge clamping, as
// OpenCV's INTER_LINEAR and PyTorch's align_corners=False). Results are
// rounded to the nearest integer; at the same size the result is a copy of v.
// v is not changed.
func Resize(v *Video, h, w int) (*Video, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("video: %s: resize to %dx%d: size must be positive", v.name(), h, w)
	}
	out := cloneHeader(v, v.C)
	out.H, out.W = h, w
	if h == v.H && w == v.W {
		// Same size: every weight is 1, so the result is a copy.
		out.Frames = append([]uint8(nil), v.Frames...)
		return out, nil
	}
	out.Frames = make([]uint8, v.T*h*w*v.C)
	ry, rx := resampleWeights(v.H, h), resampleWeights(v.W, w)
	c := v.C
	tmp := make([]float32, h*v.W*c) // rows resampled, columns not yet
	for t := 0; t < v.T; t++ {
		src, dst := v.Frame(t), out.Frame(t)
		clear(tmp)
		for y, taps := range ry {
			row := tmp[y*v.W*c : (y+1)*v.W*c]
			for _, tp := range taps {
				in := src[tp.i*v.W*c : (tp.i+1)*v.W*c]
				row := row[:len(in)]
				for k, x := range in {
					row[k] += tp.w * float32(x)
				}
			}
		}
		for y := 0; y < h; y++ {
			row := tmp[y*v.W*c : (y+1)*v.W*c]
			for x, taps := range rx {
				for ch := 0; ch < c; ch++ {
					var s float32
					for _, tp := range taps {
						s += tp.w * row[tp.i*c+ch]
					}
					dst[(y*w+x)*c+ch] = roundUint8(s)
				}
			}
		}
	}
	return out, nil
}

// resampleTap is one input sample of a resampling filter and its weight.
type resampleTap struct {
	i int
	w float32
}

// resampleWeights returns, for each of the out output positions along an axis
// of in input pixels, the input pixels it reads and their weights (summing
// to 1): area averaging when out < in, linear interpolation when out > in.
func resampleWeights(in, out int) [][]resampleTap {
	taps := make([][]resampleTap, out)
	switch {
	case out == in:
		for i := range taps {
			taps[i] = []resampleTap{{i, 1}}
		}
	case out < in:
		scale := float64(in) / float64(out)
		for i := range taps {
			lo, hi := float64(i)*scale, float64(i+1)*scale
			for j := int(lo); j < in && float64(j) < hi; j++ {
				ov := min(hi, float64(j+1)) - max(lo, float64(j))
				if ov > 1e-12 {
					taps[i] = append(taps[i], resampleTap{j, float32(ov / scale)})
				}
			}
		}
	default:
		scale := float64(in) / float64(out)
		for i := range taps {
			s := (float64(i)+0.5)*scale - 0.5
			s = max(s, 0)
			j := int(s)
			f := s - float64(j)
			if j >= in-1 {
				taps[i] = []resampleTap{{in - 1, 1}}
				continue
			}
			taps[i] = []resampleTap{{j, float32(1 - f)}, {j + 1, float32(f)}}
		}
	}
	return taps
}

// roundUint8 rounds s to the nearest integer and clamps it to 0..255.
func roundUint8(s float32) uint8 {
	r := math.Round(float64(s))
	if r < 0 {
		return 0
	}
	if r > 255 {
		return 255
	}
	return uint8(r)
}

// ToGrey returns v with one channel. An RGB video becomes its luma by ITU-R
// BT.601, Y = 0.299 R + 0.587 G + 0.114 B, rounded; a grey video is copied.
func ToGrey(v *Video) (*Video, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	out := cloneHeader(v, 1)
	if v.C == 1 {
		out.Frames = slices.Clone(v.Frames)
		return out, nil
	}
	out.Frames = make([]uint8, len(v.Frames)/3)
	for p := range out.Frames {
		r, g, b := float64(v.Frames[3*p]), float64(v.Frames[3*p+1]), float64(v.Frames[3*p+2])
		out.Frames[p] = uint8(math.Round(0.299*r + 0.587*g + 0.114*b))
	}
	return out, nil
}

// ToRGB returns v with three channels. A grey video has its one channel
// repeated three times; an RGB video is copied.
func ToRGB(v *Video) (*Video, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	out := cloneHeader(v, 3)
	if v.C == 3 {
		out.Frames = slices.Clone(v.Frames)
		return out, nil
	}
	out.Frames = make([]uint8, 3*len(v.Frames))
	for p, x := range v.Frames {
		out.Frames[3*p], out.Frames[3*p+1], out.Frames[3*p+2] = x, x, x
	}
	return out, nil
}
