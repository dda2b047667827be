package pretrain

import (
	"math"
	"regexp"
	"testing"

	"github.com/vidssl/vidssl/video"
)

// TestContrastiveLearns pretrains SimCLR briefly on the small echosynth set
// (sector-masked, as the paper preprocesses) and checks that NT-Xent falls
// well below log(2N-1), its value when the embeddings carry no information
// (all cosine similarities equal). pretrain/cmd/sslcheck measures what the
// features are good for, on held-out videos.
func TestContrastiveLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a learning test of many epochs")
	}
	m := testData(t)
	cfg := tinyConfig(SimCLR)
	cfg.Preprocess = video.MaskSector
	cfg.BatchPairs = 16
	cfg.Epochs = 40
	cfg.CheckpointEvery = 0
	res, err := Run(t.Context(), cfg, m, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := res.History
	uniform := math.Log(float64(2*cfg.BatchPairs - 1))
	first, last := h[0].NTXent, (h[len(h)-1].NTXent+h[len(h)-2].NTXent)/2
	t.Logf("SimCLR NT-Xent: epoch 1 %.3f, last two epochs %.3f, uninformative %.3f (%d steps per epoch)", first, last, uniform, h[0].Steps)
	if last > 0.8*uniform {
		t.Errorf("NT-Xent %.3f after %d epochs, want below 0.8 log(2N-1) = %.3f", last, len(h), 0.8*uniform)
	}
}

// TestMultiInstanceLearns runs MI-SimCLR where every video of a study
// decodes to the first frame of the study's first video, held still, so
// that the pairs' two clips (each from another record of the study, drawn
// and augmented independently) share their content: NT-Xent must fall well
// below log(2N-1). The frame is held still because echosynth's speckle
// moves with the tissue: two clips of a moving 32x32 video taken at other
// instants share little but a blurred anatomy, which a width-4 encoder does
// not learn to match in a test's budget. On the real data set the videos of
// a study differ (probe, gain, depth, heart rate, speckle) and learning is
// slower still; see sslcheck.
func TestMultiInstanceLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a learning test of many epochs")
	}
	m := testData(t)
	first := regexp.MustCompile(`_\d+\.avi$`)
	cfg := tinyConfig(MISimCLR)
	cfg.Preprocess = video.MaskSector
	cfg.Decode = func(path string) (*video.Video, error) {
		v, err := video.ReadFile(first.ReplaceAllString(path, "_0.avi"))
		if err != nil {
			return nil, err
		}
		for f := 1; f < v.T; f++ {
			copy(v.Frame(f), v.Frame(0))
		}
		return v, nil
	}
	cfg.BatchPairs = 16
	// The 16 studies make about 40 pairs: two steps an epoch. NT-Xent sits
	// near its uninformative value for 20-35 epochs, then falls; where it
	// takes off moves with the data and the seed (after echosynth's
	// appearance score, 2026-12-07, this seed was still at 3.28 after 30
	// epochs, where seeds 1-3 had reached 2.57, 1.99 and 1.86; at 60 epochs
	// seeds 0, 4 and 5 end at 2.47, 1.97 and 1.68, against the bar 2.75).
	cfg.Epochs = 60
	cfg.CheckpointEvery = 0
	res, err := Run(t.Context(), cfg, m, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := res.History
	var last float64
	for _, e := range h[len(h)-5:] {
		last += e.NTXent / 5
	}
	uniform := math.Log(float64(2*cfg.BatchPairs - 1))
	t.Logf("MI-SimCLR on copied videos, NT-Xent: epoch 1 %.3f, last five epochs %.3f, uninformative about %.3f", h[0].NTXent, last, uniform)
	if last > 0.8*uniform {
		t.Errorf("NT-Xent %.3f after %d epochs, want below 0.8 log(2N-1) = %.3f", last, len(h), 0.8*uniform)
	}
}
