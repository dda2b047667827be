package pretrain

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"testing"

	"github.com/vidssl/vidssl/video"
)

// toyDecode makes a video from its path: a bright square moving right by 2
// pixels a frame over dark noise, 12 frames of 32x32, starting at a place
// fixed by the path. Its frame order is plain to see, so a working
// frame-order pipeline learns it in a few hundred steps.
func toyDecode(path string) (*video.Video, error) {
	h := fnv.New64a()
	h.Write([]byte(path))
	rng := rand.New(rand.NewPCG(h.Sum64(), 3))
	v, err := video.New(12, 32, 32, 1)
	if err != nil {
		return nil, err
	}
	x0, y0 := rng.IntN(6), rng.IntN(20)
	for t := 0; t < v.T; t++ {
		f := v.Frame(t)
		for i := range f {
			f[i] = uint8(rng.IntN(40))
		}
		for y := y0; y < y0+8; y++ {
			for x := x0 + 2*t; x < x0+2*t+6; x++ {
				f[y*32+x] = 220
			}
		}
	}
	v.Source = path
	return v, nil
}

// toyManifest has studies of videos toy/S<s>_<j> in the given split.
func toyManifest(split string, from, studies, videos int) *video.Manifest {
	m := &video.Manifest{}
	for s := from; s < from+studies; s++ {
		for j := 0; j < videos; j++ {
			m.Records = append(m.Records, video.Record{Path: fmt.Sprintf("toy/S%d_%d", s, j), Study: fmt.Sprintf("S%d", s), Split: split})
		}
	}
	return m
}

// TestFrameOrderLearns pretrains MI-SimCLR+FO through Run (augmentation,
// shuffling, both losses) on the moving-square videos and checks the order
// head on held-out videos: well above chance (1/24), where a horizontal
// flip, which reverses the motion, caps it near 1/2.
func TestFrameOrderLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a learning test of many epochs")
	}
	cfg := tinyConfig(MISimCLRFO)
	cfg.Decode = toyDecode
	cfg.Epochs = 20
	cfg.BatchPairs = 16
	cfg.LR = 1e-2
	cfg.CheckpointEvery = 0
	res, err := Run(t.Context(), cfg, toyManifest(video.SplitTrain, 0, 60, 3), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	probe := Probe{ClipLength: 4, Seed: 7, Decode: toyDecode}
	held := toyManifest(video.SplitTest, 1000, 100, 1)
	acc, err := probe.FrameOrder(t.Context(), res.Model, held)
	if err != nil {
		t.Fatal(err)
	}
	random, err := NewModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	acc0, err := probe.FrameOrder(t.Context(), random, held)
	if err != nil {
		t.Fatal(err)
	}
	last := res.History[len(res.History)-1]
	t.Logf("frame order on %d held-out clips: %.3f (random init %.3f, chance %.3f); last epoch: order loss %.3f, training accuracy %.3f",
		len(held.Records), acc, acc0, 1/24.0, last.Order, last.OrderAccuracy)
	if acc < 4.0/24 {
		t.Errorf("frame-order accuracy %.3f, want at least 4x chance (%.3f)", acc, 4.0/24)
	}
}
