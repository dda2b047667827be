package finetune

import (
	"context"
	"testing"

	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

// tinyModel is the smallest useful classifier: width 4, one block per stage.
var tinyModel = resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 1}

// tinyConfig is a config that trains in seconds on 32x32 frames.
func tinyConfig() Config {
	c := SmallConfig()
	c.Model = tinyModel
	c.ClipLength = 8
	c.BatchSize = 8
	c.MaxEpochs = 3
	c.Workers = 2
	c.LRSweep = nil
	return c
}

// synthData writes a tiny echosynth data set into a temporary directory and
// returns its train, val and test manifests.
// The studies are none or severe, half each, to make the task learnable by a
// tiny model; change more with edit.
func synthData(t testing.TB, studies, frames int, seed uint64, edit ...func(*echosynth.Config)) (train, val, test *video.Manifest) {
	t.Helper()
	cfg := echosynth.DefaultConfig()
	cfg.Seed = seed
	cfg.Studies = studies
	cfg.MinVideos, cfg.MaxVideos = 1, 3
	cfg.Height, cfg.Width, cfg.Frames = 32, 32, frames
	cfg.Mix = [4]float64{1, 0, 0, 1}
	for _, e := range edit {
		e(&cfg)
	}
	path, err := echosynth.WriteDataset(context.Background(), t.TempDir(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := video.ReadManifest(path, video.OurColumns)
	if err != nil {
		t.Fatal(err)
	}
	return m.Subset(video.SplitTrain), m.Subset(video.SplitVal), m.Subset(video.SplitTest)
}
