package video

import "fmt"

// KineticsMean and KineticsStd are the per-channel (R, G, B) mean and
// standard deviation of Kinetics-400 frames scaled to [0, 1], which
// torchvision's pretrained video models expect.
var (
	KineticsMean = [3]float32{0.43216, 0.394666, 0.37645}
	KineticsStd  = [3]float32{0.22803, 0.22145, 0.216989}
)

// BatchOptions says how clips become a float32 batch.
type BatchOptions struct {
	// Channels is the channel count of the batch: 0 keeps the clips'
	// channels, 3 repeats a grey channel three times, 1 turns RGB into BT.601
	// luma (see ToGrey).
	Channels int
	// Kinetics normalises each channel with KineticsMean and KineticsStd
	// after the min-max scaling, for models initialised from Kinetics-400
	// weights. It needs 3 channels.
	Kinetics bool
}

// Batch is a float32 NCDHW tensor of N clips (batch, channel, time, height,
// width, the layout of PyTorch's Conv3d) with what identifies each item.
type Batch struct {
	// Data holds Shape[0]*...*Shape[4] values; item n, channel c, frame t,
	// row y, column x is at (((n*C+c)*T+t)*H+y)*W+x.
	Data []float32
	// Shape is N, C, T, H, W.
	Shape [5]int
	// IDs names each item, usually its video path.
	IDs []string
	// Labels holds each item's label: the class (1 severe AS, 0 not, -1
	// unknown) or a per-view target such as a frame-order permutation index.
	Labels []int
	// Groups holds each item's group, usually its study id, so a contrastive
	// loss can tell apart items of the same study.
	Groups []string
}

// Item returns item n of b, C*T*H*W values (not a copy).
func (b *Batch) Item(n int) []float32 {
	size := b.Shape[1] * b.Shape[2] * b.Shape[3] * b.Shape[4]
	return b.Data[n*size : (n+1)*size]
}

// ItemInfo identifies one item of a batch.
type ItemInfo struct {
	ID    string
	Label int
	Group string
}

// NewBatch stacks clips into a Batch. All clips must have the same size. Each
// clip is scaled on its own to [0, 1] by one minimum and maximum over all its
// frames, rows, columns and channels (a constant clip becomes zeros), then
// optionally normalised (see BatchOptions). info, when not nil, gives the
// IDs, labels and groups, one per clip; when nil, IDs are the clips' Source
// and labels -1.
func NewBatch(clips []*Video, info []ItemInfo, opt BatchOptions) (*Batch, error) {
	if len(clips) == 0 {
		return nil, fmt.Errorf("video: batch: no clips")
	}
	if info != nil && len(info) != len(clips) {
		return nil, fmt.Errorf("video: batch: %d clips but %d item infos", len(clips), len(info))
	}
	first := clips[0]
	if first == nil {
		return nil, fmt.Errorf("video: batch: clip 0 is nil")
	}
	c, err := batchChannels(first, opt)
	if err != nil {
		return nil, err
	}
	b := &Batch{
		Shape:  [5]int{len(clips), c, first.T, first.H, first.W},
		IDs:    make([]string, len(clips)),
		Labels: make([]int, len(clips)),
		Groups: make([]string, len(clips)),
	}
	b.Data = make([]float32, len(clips)*c*first.T*first.H*first.W)
	for n, v := range clips {
		if v == nil {
			return nil, fmt.Errorf("video: batch: clip %d is nil", n)
		}
		if v.T != first.T || v.H != first.H || v.W != first.W || v.C != first.C {
			return nil, fmt.Errorf("video: batch: clip %d (%s) is %dx%dx%dx%d, clip 0 (%s) is %dx%dx%dx%d",
				n, v.name(), v.T, v.H, v.W, v.C, first.name(), first.T, first.H, first.W, first.C)
		}
		if err := ClipTensor(b.Item(n), v, opt); err != nil {
			return nil, err
		}
		if info != nil {
			b.IDs[n], b.Labels[n], b.Groups[n] = info[n].ID, info[n].Label, info[n].Group
		} else {
			b.IDs[n], b.Labels[n] = v.Source, -1
		}
	}
	return b, nil
}

func batchChannels(v *Video, opt BatchOptions) (int, error) {
	c := v.C
	switch opt.Channels {
	case 0:
	case 1, 3:
		c = opt.Channels
	default:
		return 0, fmt.Errorf("video: batch: %d channels asked, want 0, 1 or 3", opt.Channels)
	}
	if opt.Kinetics && c != 3 {
		return 0, fmt.Errorf("video: batch: %s: Kinetics normalisation needs 3 channels, have %d (set Channels: 3)", v.name(), c)
	}
	return c, nil
}

// ClipTensor writes clip v into dst as float32 C x T x H x W (channels first),
// min-max scaled and optionally normalised as NewBatch does. dst must hold
// exactly C*T*H*W values, C being the batch's channel count (see
// BatchOptions.Channels).
func ClipTensor(dst []float32, v *Video, opt BatchOptions) error {
	if err := v.Validate(); err != nil {
		return err
	}
	c, err := batchChannels(v, opt)
	if err != nil {
		return err
	}
	if c == 1 && v.C == 3 {
		if v, err = ToGrey(v); err != nil {
			return err
		}
	}
	// Now v has c channels, or one that each of dst's c channels repeats
	// (ToRGB's grey to RGB, without making the RGB video).
	plane := v.T * v.H * v.W
	if len(dst) != c*plane {
		return fmt.Errorf("video: %s: clip tensor: %d values, want %d (%dx%dx%dx%d)", v.name(), len(dst), c*plane, c, v.T, v.H, v.W)
	}
	lo, hi := uint8(255), uint8(0)
	for _, x := range v.Frames {
		lo, hi = min(lo, x), max(hi, x)
	}
	if hi == lo {
		clear(dst) // a constant clip: zeros, not 0/0
	} else {
		// scaled[x] is (x-lo)/(hi-lo) in float32, computed once per value
		// rather than once per pixel: the same numbers.
		var scaled [256]float32
		r := float32(hi - lo)
		for x := int(lo); x <= int(hi); x++ {
			scaled[x] = float32(uint8(x)-lo) / r
		}
		if v.C == c {
			for p := 0; p < plane; p++ {
				for ch := 0; ch < c; ch++ {
					dst[ch*plane+p] = scaled[v.Frames[p*c+ch]]
				}
			}
		} else {
			for ch := 0; ch < c; ch++ {
				d := dst[ch*plane : (ch+1)*plane]
				for p, x := range v.Frames {
					d[p] = scaled[x]
				}
			}
		}
	}
	if opt.Kinetics {
		for ch := 0; ch < 3; ch++ {
			m, s := KineticsMean[ch], KineticsStd[ch]
			d := dst[ch*plane : (ch+1)*plane]
			for i, x := range d {
				d[i] = (x - m) / s
			}
		}
	}
	return nil
}
