package main

import (
	"fmt"

	"github.com/vidssl/vidssl/finetune"
	"github.com/vidssl/vidssl/pretrain"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video/echosynth"
)

// preset is every setting of one run of the pipeline.
type preset struct {
	Name string
	// Data configures the synthetic data set (ignored with -data).
	Data echosynth.Config
	// FrameSize is the side of the square frames after sector masking and
	// resizing (the paper: 112).
	FrameSize int
	// Pretrain returns the pretraining configuration of a method.
	Pretrain func(pretrain.Method) pretrain.Config `json:"-"`
	// PretrainConfigs records Pretrain's results, for the summary and the
	// settings fingerprints.
	PretrainConfigs map[string]pretrain.Config
	// Finetune is the fine-tuning and evaluation configuration.
	Finetune finetune.Config
	// Fractions are the label fractions fine-tuned on.
	Fractions []float64
	// Resamples is the number of bootstrap resamples of every interval.
	Resamples int
	// CAMFrames is the number of frames from the start of a video that
	// Grad-CAM looks at (the paper: 32).
	CAMFrames int
	// CAMVideos is the number of videos in the Grad-CAM figure (the paper: 5).
	CAMVideos int
}

func presetByName(name string) (preset, error) {
	var p preset
	switch name {
	case "paper":
		p = preset{
			Data:      echosynth.DefaultConfig(),
			FrameSize: 112,
			Pretrain:  pretrain.PaperConfig,
			Finetune:  finetune.PaperConfig(),
			Fractions: finetune.PaperFractions,
			Resamples: 10000,
			CAMFrames: 32,
			CAMVideos: 5,
		}
		p.Data.Studies = 1000
	case "quick":
		d := echosynth.DefaultConfig()
		d.Studies = 120
		d.Frames = 16
		d.Height, d.Width = 48, 48
		model := resnet3d.Config{InChannels: 3, Width: 8, Blocks: [4]int{1, 1, 1, 1}}
		ft := finetune.SmallConfig()
		ft.Model = model
		ft.Model.NumClasses = 1
		ft.ClipLength = 8
		ft.FrameSize = 48
		ft.MaxEpochs = 8
		ft.Patience = 3
		p = preset{
			Data:      d,
			FrameSize: 48,
			Pretrain: func(m pretrain.Method) pretrain.Config {
				c := pretrain.SmallConfig(m)
				c.Model = model
				c.Epochs = 4
				c.CheckpointEvery = 2
				return c
			},
			Finetune:  ft,
			Fractions: finetune.PaperFractions,
			Resamples: 1000,
			CAMFrames: 16,
			CAMVideos: 5,
		}
	case "tiny":
		d := echosynth.DefaultConfig()
		d.Studies = 40
		d.MinVideos, d.MaxVideos = 2, 3
		d.Frames = 8
		d.Height, d.Width = 32, 32
		model := resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}}
		ft := finetune.SmallConfig()
		ft.Model = model
		ft.Model.NumClasses = 1
		ft.ClipLength = 4
		ft.FrameSize = 32
		ft.BatchSize = 8
		ft.MaxEpochs = 2
		ft.Patience = 1
		ft.LRSweep = []float64{1e-3, 1e-2}
		p = preset{
			Data:      d,
			FrameSize: 32,
			Pretrain: func(m pretrain.Method) pretrain.Config {
				c := pretrain.SmallConfig(m)
				c.Model = model
				c.BatchPairs = 4
				c.Epochs = 1
				c.CheckpointEvery = 1
				return c
			},
			Finetune:  ft,
			Fractions: []float64{0.1, 1},
			Resamples: 200,
			CAMFrames: 8,
			CAMVideos: 2,
		}
	default:
		return preset{}, fmt.Errorf("unknown preset %q: want quick, paper or tiny", name)
	}
	p.Name = name
	p.PretrainConfigs = map[string]pretrain.Config{}
	for _, m := range sslMethods {
		p.PretrainConfigs[m.String()] = p.Pretrain(m)
	}
	return p, nil
}

// sslMethods are the pretraining methods, in the paper's order.
var sslMethods = []pretrain.Method{pretrain.SimCLR, pretrain.MISimCLR, pretrain.MISimCLRFO}
