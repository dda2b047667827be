package video

import "fmt"

// Video is a decoded cine loop: T frames of H x W pixels with C channels
// (1 for grey, 3 for RGB), stored frame-major as uint8 in T x H x W x C order.
type Video struct {
	// Frames holds T*H*W*C bytes: frame t, row y, column x, channel c is at
	// ((t*H+y)*W+x)*C+c.
	Frames []uint8
	// T, H, W and C are the frame count, height, width and channel count.
	T, H, W, C int
	// FPS is the frame rate in frames per second; 0 when unknown.
	FPS float64
	// Source names where the video came from (usually a file path), for errors.
	Source string
}

// New returns a zeroed video of the given size.
func New(t, h, w, c int) (*Video, error) {
	v := &Video{T: t, H: h, W: w, C: c}
	if err := v.checkDims(); err != nil {
		return nil, err
	}
	v.Frames = make([]uint8, t*h*w*c)
	return v, nil
}

func (v *Video) checkDims() error {
	if v.T <= 0 || v.H <= 0 || v.W <= 0 || (v.C != 1 && v.C != 3) {
		return fmt.Errorf("video: %s: bad size %dx%dx%dx%d (T x H x W x C; C must be 1 or 3)", v.name(), v.T, v.H, v.W, v.C)
	}
	return nil
}

func (v *Video) name() string {
	if v.Source == "" {
		return "<video>"
	}
	return v.Source
}

// Validate reports an error when the sizes are not positive, C is not 1 or 3,
// or Frames does not hold exactly T*H*W*C values.
func (v *Video) Validate() error {
	if err := v.checkDims(); err != nil {
		return err
	}
	if want := v.T * v.H * v.W * v.C; len(v.Frames) != want {
		return fmt.Errorf("video: %s: %d bytes of frames, want %d for %dx%dx%dx%d", v.name(), len(v.Frames), want, v.T, v.H, v.W, v.C)
	}
	return nil
}

// FrameSize is the number of bytes in one frame, H*W*C.
func (v *Video) FrameSize() int { return v.H * v.W * v.C }

// Frame returns frame t as a slice of Frames (not a copy).
func (v *Video) Frame(t int) []uint8 {
	n := v.FrameSize()
	return v.Frames[t*n : (t+1)*n]
}
