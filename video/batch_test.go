package video

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func near(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-6*max(1, math.Abs(float64(b))) }

func TestNewBatchLayout(t *testing.T) {
	// Two RGB clips of 2 frames of 1 x 2 pixels. Clip 0 spans 10..60, so
	// x -> (x-10)/50; clip 1 spans 0..255.
	a, _ := New(2, 1, 2, 3)
	copy(a.Frames, []uint8{
		10, 20, 30, 40, 50, 60, // frame 0: pixel 0 RGB, pixel 1 RGB
		60, 50, 40, 30, 20, 10, // frame 1
	})
	b, _ := New(2, 1, 2, 3)
	copy(b.Frames, []uint8{0, 255, 0, 255, 0, 255, 0, 0, 0, 0, 0, 0})
	batch, err := NewBatch([]*Video{a, b}, []ItemInfo{{"a.avi", 1, "s1"}, {"b.avi", 0, "s2"}}, BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if batch.Shape != [5]int{2, 3, 2, 1, 2} || len(batch.Data) != 24 {
		t.Fatalf("shape %v, %d values", batch.Shape, len(batch.Data))
	}
	// Item 0, channel-major: R of (t0 p0, t0 p1, t1 p0, t1 p1), then G, then B.
	want0 := []float32{10, 40, 60, 30, 20, 50, 50, 20, 30, 60, 40, 10}
	for i, x := range want0 {
		if w := (x - 10) / 50; !near(batch.Item(0)[i], w) {
			t.Errorf("item 0 value %d = %v, want %v", i, batch.Item(0)[i], w)
		}
	}
	want1 := []float32{0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0}
	for i, w := range want1 {
		if batch.Item(1)[i] != w {
			t.Errorf("item 1 value %d = %v, want %v", i, batch.Item(1)[i], w)
		}
	}
	if batch.IDs[1] != "b.avi" || batch.Labels[0] != 1 || batch.Groups[0] != "s1" {
		t.Errorf("ids %v labels %v groups %v", batch.IDs, batch.Labels, batch.Groups)
	}
}

func TestNewBatchConstantAndKinetics(t *testing.T) {
	c, _ := New(3, 2, 2, 1)
	c.Source = "flat.avi"
	for i := range c.Frames {
		c.Frames[i] = 128
	}
	batch, err := NewBatch([]*Video{c}, nil, BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range batch.Data {
		if x != 0 {
			t.Fatalf("constant clip: value %d = %v, want 0", i, x)
		}
	}
	if batch.IDs[0] != "flat.avi" || batch.Labels[0] != -1 {
		t.Errorf("default info: ids %v labels %v", batch.IDs, batch.Labels)
	}

	// Grey to 3 channels with Kinetics normalisation.
	g, _ := New(1, 1, 2, 1)
	copy(g.Frames, []uint8{0, 200})
	batch, err = NewBatch([]*Video{g}, nil, BatchOptions{Channels: 3, Kinetics: true})
	if err != nil {
		t.Fatal(err)
	}
	if batch.Shape != [5]int{1, 3, 1, 1, 2} {
		t.Fatalf("shape %v", batch.Shape)
	}
	for ch := 0; ch < 3; ch++ {
		for p, x := range []float32{0, 1} {
			want := (x - KineticsMean[ch]) / KineticsStd[ch]
			if got := batch.Data[ch*2+p]; !near(got, want) {
				t.Errorf("channel %d pixel %d = %v, want %v", ch, p, got, want)
			}
		}
	}
	// A constant grey clip with Kinetics: -mean/std, never NaN.
	batch, err = NewBatch([]*Video{c}, nil, BatchOptions{Channels: 3, Kinetics: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range batch.Data {
		ch := i / 12
		if math.IsNaN(float64(x)) || !near(x, -KineticsMean[ch]/KineticsStd[ch]) {
			t.Fatalf("constant clip with Kinetics: value %d = %v", i, x)
		}
	}
	// RGB to grey by luma.
	rgb, _ := New(1, 1, 2, 3)
	copy(rgb.Frames, []uint8{255, 0, 0, 0, 255, 0})
	batch, err = NewBatch([]*Video{rgb}, nil, BatchOptions{Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	if batch.Shape[1] != 1 || batch.Data[0] != 0 || batch.Data[1] != 1 {
		t.Errorf("RGB to grey: shape %v data %v", batch.Shape, batch.Data)
	}
}

func TestNewBatchErrors(t *testing.T) {
	a, _ := New(2, 4, 4, 1)
	a.Source = "a.avi"
	b, _ := New(3, 4, 4, 1)
	b.Source = "b.avi"
	for name, tc := range map[string]struct {
		clips []*Video
		info  []ItemInfo
		opt   BatchOptions
		want  string
	}{
		"sizes":         {[]*Video{a, b}, nil, BatchOptions{}, "b.avi"},
		"no clips":      {nil, nil, BatchOptions{}, "no clips"},
		"info count":    {[]*Video{a}, make([]ItemInfo, 2), BatchOptions{}, "item infos"},
		"grey kinetics": {[]*Video{a}, nil, BatchOptions{Kinetics: true}, "Channels: 3"},
		"channels":      {[]*Video{a}, nil, BatchOptions{Channels: 2}, "2 channels"},
		"nil clip":      {[]*Video{a, nil}, nil, BatchOptions{}, "clip 1 is nil"},
	} {
		if _, err := NewBatch(tc.clips, tc.info, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
	if err := ClipTensor(make([]float32, 5), a, BatchOptions{}); err == nil || !strings.Contains(err.Error(), "a.avi") {
		t.Errorf("ClipTensor into a short slice: %v", err)
	}
}

// clipTensorReference is ClipTensor as it was before it scaled through a
// table of the 256 values and repeated grey channels without ToRGB: the
// video converted to the batch's channels, then one division per value
// (without Kinetics normalisation, which follows unchanged and is tested
// on its own).
func clipTensorReference(v *Video, opt BatchOptions) []float32 {
	c, _ := batchChannels(v, opt)
	switch {
	case c == 1 && v.C == 3:
		v, _ = ToGrey(v)
	case c == 3 && v.C == 1:
		v, _ = ToRGB(v)
	}
	plane := v.T * v.H * v.W
	dst := make([]float32, c*plane)
	lo, hi := uint8(255), uint8(0)
	for _, x := range v.Frames {
		lo, hi = min(lo, x), max(hi, x)
	}
	if hi != lo {
		r := float32(hi - lo)
		for p := 0; p < plane; p++ {
			for ch := 0; ch < c; ch++ {
				dst[ch*plane+p] = float32(v.Frames[p*c+ch]-lo) / r
			}
		}
	}
	return dst
}

// TestClipTensorMatchesReference: ClipTensor gives clipTensorReference's
// numbers bit for bit, for grey and RGB clips of full and narrow ranges into
// 0, 1 and 3 channels.
func TestClipTensorMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, vc := range []int{1, 3} {
		for _, span := range []int{256, 7, 1} {
			v, _ := New(3, 5, 4, vc)
			v.Source = "clip.avi"
			base := rng.IntN(257 - span)
			for i := range v.Frames {
				v.Frames[i] = uint8(base + rng.IntN(span))
			}
			for _, opt := range []BatchOptions{{}, {Channels: 1}, {Channels: 3}} {
				c, _ := batchChannels(v, opt)
				want := clipTensorReference(v, opt)
				got := make([]float32, c*v.T*v.H*v.W)
				if err := ClipTensor(got, v, opt); err != nil {
					t.Fatalf("%d channels, span %d, %+v: %v", vc, span, opt, err)
				}
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Errorf("%d channels, span %d, %+v: value %d = %v, want %v", vc, span, opt, i, got[i], want[i])
						break
					}
				}
			}
		}
	}
}

// BenchmarkClipTensorGreyToRGB measures the paper's case: a grey 16-frame
// 112x112 clip into a 3-channel float32 tensor.
func BenchmarkClipTensorGreyToRGB(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	v := randomVideo(rng, 16, 112, 112, 1)
	dst := make([]float32, 3*len(v.Frames))
	b.SetBytes(int64(len(v.Frames)))
	for b.Loop() {
		if err := ClipTensor(dst, v, BatchOptions{Channels: 3}); err != nil {
			b.Fatal(err)
		}
	}
}
