package video

import (
	"fmt"
	"math/rand/v2"
)

// EvalClips is the number of clips per video at evaluation time.
const EvalClips = 4

// TrainClipIndices returns the frame indices of one random training clip of
// length frames taken every stride frames from a video of t frames: a random
// start drawn uniformly from every start at which the whole clip fits, then
// start, start+stride, ..., start+(length-1)*stride. When the clip does not
// fit (t < (length-1)*stride+1) it takes every stride-th frame from frame 0
// and fills the rest with -1, which means a zero frame appended at the end
// (see Gather). It uses one value from rng when the clip fits and none
// otherwise. It returns nil when t, length or stride is not positive.
//
// The public code draws the start with np.random.choice(T - length*stride),
// which never picks the last start at which the clip fits and cannot run
// when T equals length*stride; this function includes that start. The padded
// case is the same: x[::stride] padded with zero frames.
func TrainClipIndices(rng *rand.Rand, t, length, stride int) []int {
	if t <= 0 || length <= 0 || stride <= 0 {
		return nil
	}
	span := (length-1)*stride + 1
	start := 0
	if t >= span {
		start = rng.IntN(t - span + 1)
	}
	return ClipIndices(t, start, length, stride)
}

// ClipIndices returns start, start+stride, ..., start+(length-1)*stride, with
// -1 (a zero frame, see Gather) for every index at or past t. It returns nil
// when t, length or stride is not positive or start is outside 0..t-1.
func ClipIndices(t, start, length, stride int) []int {
	if t <= 0 || length <= 0 || stride <= 0 || start < 0 || start >= t {
		return nil
	}
	idx := make([]int, length)
	for k := range idx {
		idx[k] = start + k*stride
		if idx[k] >= t {
			idx[k] = -1
		}
	}
	return idx
}

// EvalClipStarts returns the first frames of the EvalClips (4) evaluation
// clips of length frames in a video of t frames, as the paper's code does:
// Python's range(0, t-length, (t-length)//4)[:4] when t >= length+4, so four
// evenly spaced starts, and otherwise [0, 0, 0, 0] (the first length frames,
// zero-padded when t < length, four times). Each clip is ClipIndices(t,
// start, length, 1). It returns nil when t or length is not positive.
func EvalClipStarts(t, length int) []int {
	if t <= 0 || length <= 0 {
		return nil
	}
	starts := make([]int, EvalClips)
	if t >= length+EvalClips {
		step := (t - length) / EvalClips
		for k := range starts {
			// k*step < t-length holds for k < 4 because 4*step <= t-length.
			starts[k] = k * step
		}
	}
	return starts
}

// Gather returns a video made of the frames of v at idx, in that order; an
// index of -1 gives a zero frame. Indices may repeat. v is not changed.
func Gather(v *Video, idx []int) (*Video, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("video: %s: gather: no frame indices", v.name())
	}
	out := cloneHeader(v, v.C)
	out.T = len(idx)
	out.Frames = make([]uint8, len(idx)*v.FrameSize())
	for k, i := range idx {
		if i == -1 {
			continue
		}
		if i < 0 || i >= v.T {
			return nil, fmt.Errorf("video: %s: gather: index %d of %d is frame %d, want 0..%d or -1", v.name(), k, len(idx), i, v.T-1)
		}
		copy(out.Frame(k), v.Frame(i))
	}
	return out, nil
}
