package video

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// AugmentPad is the zero padding, in pixels on every side, of the random
// crop: shifts run from -AugmentPad to AugmentPad on each axis.
const AugmentPad = 8

// AugmentMaxAngle is the largest rotation, in degrees, either way.
const AugmentMaxAngle = 10

// AugmentParams is one draw of the paper's spatial augmentation. Apply uses
// the same parameters for every frame, so a clip stays temporally consistent;
// two views of one clip use two draws. The zero value is the identity.
//
// The transform is, in order: zero-pad AugmentPad pixels on every side and
// crop back to H x W at offset (AugmentPad+ShiftY, AugmentPad+ShiftX); flip
// left-right when Flip; rotate by Angle degrees about the frame centre, with
// zero fill and the same output size.
type AugmentParams struct {
	// H and W are the frame size the parameters were drawn for; Apply
	// refuses frames of another size. Zero means any size.
	H, W int
	// ShiftY and ShiftX move the crop window by -AugmentPad..AugmentPad
	// pixels: output pixel (y, x) of the crop is input pixel
	// (y+ShiftY, x+ShiftX), zero where that is outside the frame.
	ShiftY, ShiftX int
	// Flip mirrors the frame left-right after the crop.
	Flip bool
	// Angle is the rotation in degrees, counter-clockwise as displayed (row 0
	// at the top), as torchvision's rotate; 0 is no rotation.
	Angle int
}

// DrawAugment draws augmentation parameters for h x w frames: the crop offset
// in the padded frame uniform in 0..2*AugmentPad (0..16) on each axis,
// a horizontal flip with probability 0.5, and with probability 0.5 a rotation
// by an integer angle uniform in -AugmentMaxAngle..AugmentMaxAngle (-10..10)
// degrees. It always uses five values from rng, in that order: row offset,
// column offset, flip, rotate, angle.
//
// The public code draws the offset with np.random.randint(0, 16), which
// never shifts by +8; this draws all 17 offsets.
func DrawAugment(rng *rand.Rand, h, w int) AugmentParams {
	p := AugmentParams{H: h, W: w}
	p.ShiftY = rng.IntN(2*AugmentPad+1) - AugmentPad
	p.ShiftX = rng.IntN(2*AugmentPad+1) - AugmentPad
	p.Flip = rng.IntN(2) == 1
	rotate := rng.IntN(2) == 1
	angle := rng.IntN(2*AugmentMaxAngle+1) - AugmentMaxAngle
	if rotate {
		p.Angle = angle
	}
	return p
}

// Apply returns v transformed by p, every frame and channel the same way. It
// samples the nearest pixel: every output value is an input value or zero,
// never a blend. The paper keeps augmentation light because ultrasound speckle
// is brittle to interpolation; nearest-neighbour is also torchvision's default
// for rotation. (The public code rotates with scipy.ndimage.rotate, a cubic
// spline that smooths the speckle and overshoots; we do not follow it.)
// v is not changed.
func (p AugmentParams) Apply(v *Video) (*Video, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	if (p.H != 0 || p.W != 0) && (p.H != v.H || p.W != v.W) {
		return nil, fmt.Errorf("video: %s: augment: parameters drawn for %dx%d frames, video is %dx%d", v.name(), p.H, p.W, v.H, v.W)
	}
	if absInt(p.ShiftY) > AugmentPad || absInt(p.ShiftX) > AugmentPad {
		return nil, fmt.Errorf("video: %s: augment: shift (%d, %d) outside ±%d", v.name(), p.ShiftY, p.ShiftX, AugmentPad)
	}
	src := p.sourceMap(v.H, v.W)
	out := cloneHeader(v, v.C)
	out.Frames = make([]uint8, len(v.Frames))
	c := v.C
	for t := 0; t < v.T; t++ {
		in, o := v.Frame(t), out.Frame(t)
		if c == 1 { // grey: one byte a pixel, no copy call
			for q, s := range src {
				if s >= 0 {
					o[q] = in[s]
				}
			}
			continue
		}
		for q, s := range src {
			if s >= 0 {
				copy(o[q*c:(q+1)*c], in[s*c:(s+1)*c])
			}
		}
	}
	return out, nil
}

// sourceMap returns, for every output pixel of an h x w frame (row-major),
// the input pixel it copies, or -1 for zero.
func (p AugmentParams) sourceMap(h, w int) []int {
	src := make([]int, h*w)
	sin, cos := math.Sincos(float64(p.Angle) * math.Pi / 180)
	if p.Angle == 0 {
		sin, cos = 0, 1
	}
	cy, cx := float64(h-1)/2, float64(w-1)/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Undo the rotation: the rotated frame at (x, y) shows the
			// cropped, flipped frame at (rx, ry).
			dx, dy := float64(x)-cx, float64(y)-cy
			rx := int(math.RoundToEven(cos*dx - sin*dy + cx))
			ry := int(math.RoundToEven(sin*dx + cos*dy + cy))
			q := y*w + x
			src[q] = -1
			if rx < 0 || ry < 0 || rx >= w || ry >= h {
				continue
			}
			if p.Flip {
				rx = w - 1 - rx
			}
			sx, sy := rx+p.ShiftX, ry+p.ShiftY
			if sx < 0 || sy < 0 || sx >= w || sy >= h {
				continue
			}
			src[q] = sy*w + sx
		}
	}
	return src
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
