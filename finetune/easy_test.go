package finetune

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/video"
)

// easyData returns a manifest of n in-memory videos (see easyDecode), one
// per study, a third of them positive.
func easyData(n int, split string) *video.Manifest {
	m := &video.Manifest{}
	for i := 0; i < n; i++ {
		l := i % 3 / 2
		path := fmt.Sprintf("%s/%d/%d", split, i, l)
		m.Records = append(m.Records, video.Record{Path: path, Study: path, Label: l, Split: split})
	}
	return m
}

// easyDecode makes the video of a path "split/index/label": 12 frames of
// 32x32 noise, with a bright 8x8 square in the middle when label is 1.
func easyDecode(path string) (*video.Video, error) {
	var split string
	var i, l int
	if _, err := fmt.Sscanf(strings.ReplaceAll(path, "/", " "), "%s %d %d", &split, &i, &l); err != nil {
		return nil, err
	}
	v, err := video.New(12, 32, 32, 1)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(i), uint64(len(split))))
	for k := range v.Frames {
		v.Frames[k] = uint8(rng.IntN(128))
	}
	if l == 1 {
		for t := 0; t < v.T; t++ {
			f := v.Frame(t)
			for y := 12; y < 20; y++ {
				for x := 12; x < 20; x++ {
					f[y*32+x] = 255
				}
			}
		}
	}
	return v, nil
}

// TestFineTuneLearnsEasySignal checks that training learns, and that what
// it learns carries over to evaluation, on in-memory videos (Config.Decode)
// where severe means a bright square in noise.
func TestFineTuneLearnsEasySignal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a learning test of several epochs")
	}
	learnsEasySignal(t, tinyConfig())
}

// TestFineTuneSGDLearnsEasySignal is TestFineTuneLearnsEasySignal with SGD
// (Nesterov momentum, weight decay) as Config.Optimizer, on the CPU and on
// gpu's host engine.
func TestFineTuneSGDLearnsEasySignal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a learning test of several epochs")
	}
	for _, e := range []*gpu.Engine{nil, gpu.NewHostEngine()} {
		cfg := tinyConfig()
		cfg.Optimizer, cfg.LR, cfg.Engine = sgdConfig, 0.05, e
		t.Run(engineName(e), func(t *testing.T) { learnsEasySignal(t, cfg) })
	}
}

// engineName names e for a subtest: "CPU" for nil.
func engineName(e *gpu.Engine) string {
	if e == nil {
		return "CPU"
	}
	return e.Name()
}

// learnsEasySignal fine-tunes a model of cfg for 6 epochs on easyData and
// checks that its validation loss falls and its test AUROC is high.
func learnsEasySignal(t *testing.T, cfg Config) {
	cfg.Decode = easyDecode
	cfg.MaxEpochs = 6
	cfg.Patience = 0
	m, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := FineTune(context.Background(), cfg, m, easyData(40, "train"), easyData(12, "val"), 1)
	if err != nil {
		t.Fatal(err)
	}
	h := res.Runs[0].History
	for _, e := range h {
		t.Logf("epoch %d: train %.4f, val %.4f", e.Epoch, e.TrainLoss, e.ValLoss)
	}
	if first, best := h[0].ValLoss, res.Runs[0].BestValLoss; !(best < first-0.05) {
		t.Errorf("validation loss fell from %.4f to only %.4f", first, best)
	}
	ev, err := Evaluate(context.Background(), cfg, m, easyData(20, "test"), metrics.BootstrapOptions{Resamples: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test AUROC: videos %v", ev.Video.AUROC)
	if ev.Video.AUROC.Estimate < 0.9 {
		t.Errorf("test AUROC %v, want >= 0.9", ev.Video.AUROC)
	}
}
