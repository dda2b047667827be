package finetune

import (
	"fmt"
	"math"

	"github.com/vidssl/vidssl/job"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
)

// PaperFractions are the paper's label fractions: the share of training
// studies whose labels fine-tuning may use.
var PaperFractions = []float64{0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 1}

// PaperLRSweep is the paper's learning-rate sweep for small label fractions.
var PaperLRSweep = []float64{1e-4, 5e-4, 1e-5}

// Config configures fine-tuning and evaluation. Start from PaperConfig or
// SmallConfig and change what you need; Validate says what is wrong.
type Config struct {
	// Model is the classifier NewModel builds; NumClasses must be 1 (the
	// severe-AS logit). FineTune, Predict and Evaluate take any model (an
	// nn.Module of one logit per clip); of Model they use and check only
	// InChannels, the channels of the clips they feed it, while Validate
	// (and NewModel) checks all of it.
	Model resnet3d.Config
	// ClipLength is the number of consecutive frames of a clip (the paper:
	// 16), for training and evaluation alike.
	ClipLength int
	// FrameSize, when positive, resizes every video to FrameSize x
	// FrameSize after decoding (videos already that size are left alone),
	// unless Preprocess is set. 0 keeps the decoded size, which must then be
	// the same for every video.
	FrameSize int
	// BatchSize is the number of videos (one clip each) per training step
	// (the paper: 88). The last batch of an epoch may be smaller; it is
	// trained on, not dropped.
	BatchSize int
	// EvalBatchSize is the number of clips per evaluation forward pass,
	// rounded down to a multiple of video.EvalClips (4 clips per video);
	// 0 means BatchSize. Results do not depend on it beyond float32 rounding.
	EvalBatchSize int
	// MaxEpochs caps the number of epochs (the paper: 30).
	MaxEpochs int
	// Patience stops training after this many epochs in a row without a
	// lower validation loss (the paper: 5); 0 never stops early.
	Patience int
	// LR is the optimiser's learning rate (the paper: 1e-4), used alone
	// when the label fraction is above SweepMaxFraction or LRSweep is
	// empty.
	LR float64
	// LRSweep are the learning rates tried when the label fraction is at
	// most SweepMaxFraction (the paper: 1e-4, 5e-4 and 1e-5 for 1%, 5% and
	// 10% of labels). The one whose best validation loss is lowest wins.
	LRSweep []float64
	// Optimizer is the optimiser and its settings other than the learning
	// rate (LR, or each of LRSweep), on the CPU and on an Engine alike. The
	// zero value is the paper's: Adam with PyTorch's defaults and no weight
	// decay. It has no JSON key when zero, so configs (and the example's
	// stage fingerprints) read and write as before it existed.
	Optimizer nn.OptimizerConfig `json:",omitzero"`
	// SweepMaxFraction is the largest label fraction that sweeps (the
	// paper: 0.10).
	SweepMaxFraction float64
	// DropoutP is the dropout probability on the logit after fc, in
	// training only (the public code: 0.25).
	DropoutP float64
	// Kinetics normalises clips with the Kinetics-400 mean and standard
	// deviation after min-max scaling, for models initialised from
	// torchvision's Kinetics-400 weights. It needs Model.InChannels == 3.
	Kinetics bool
	// Settings are the seed (the random initialisation, see NewModel, the
	// order of the training videos, every clip and augmentation, and the
	// dropout masks; every run of a sweep uses the same seed, so the runs
	// differ only in their learning rate), the video loading (Workers;
	// CacheBytes for each loader: training, validation, Predict's; Decode;
	// Preprocess, which replaces the FrameSize resize) and the Engine (see
	// job.Settings). Engine, when not nil, runs FineTune's training steps
	// and validation, and Predict's and Evaluate's forward passes, on it
	// with a gpu.Trainer: the model's weights, batch-norm statistics and
	// optimiser state stay on the engine through an epoch and come back to the
	// model after it, for the kept weights. Results match the CPU's to
	// float32 rounding (dropout masks included), for every architecture
	// resnet3d builds (R3D, MC3, R(2+1)D) and for models of the caller's made
	// of the layers gpu runs.
	job.Settings
	// HistoryPath, when not empty, is a CSV file rewritten atomically after
	// every epoch with the history of every run so far (see WriteHistory).
	HistoryPath string

	// Progress, when not nil, is called after every training step and after
	// every epoch's validation, from the training goroutine.
	Progress func(Progress) `json:"-"`
}

// PaperConfig returns the paper's fine-tuning protocol: R3D-18 with one
// output, 16-frame clips of 112x112 frames, batches of 88, at most 30
// epochs with early stopping after 5 epochs without a lower validation loss,
// Adam with lr 1e-4 and no weight decay, the sweep over 1e-4, 5e-4 and
// 1e-5 for label fractions up to 10%, dropout 0.25 on the logit, seed 0.
// Set Kinetics for a Kinetics-400 initialisation.
func PaperConfig() Config {
	return Config{
		Model:            resnet3d.R3D18(1),
		ClipLength:       16,
		FrameSize:        112,
		BatchSize:        88,
		MaxEpochs:        30,
		Patience:         5,
		LR:               1e-4,
		LRSweep:          append([]float64(nil), PaperLRSweep...),
		SweepMaxFraction: 0.10,
		DropoutP:         0.25,
		Settings:         job.Settings{CacheBytes: 2 << 30},
	}
}

// SmallConfig returns a preset that fine-tunes in minutes on a CPU, on
// 32x32 frames (echosynth data sets made at that size), with the encoder of
// pretrain.SmallConfig: width 8, one block per stage. Batches are 16 videos
// and the learning rates ten times the paper's (lr 1e-3, sweep 1e-3, 5e-3,
// 1e-4): on a task that a width-4 model learns at 1e-3 within 6 epochs of
// 40 videos (its validation loss falls from 0.93 to 0.53), at 1e-4 its
// validation loss moves by 0.01. The rest is the paper's.
func SmallConfig() Config {
	c := PaperConfig()
	c.Model = resnet3d.Config{InChannels: 3, Width: 8, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 1}
	c.FrameSize = 32
	c.BatchSize = 16
	c.LR = 1e-3
	c.LRSweep = []float64{1e-3, 5e-3, 1e-4}
	c.CacheBytes = 512 << 20
	return c
}

// LearningRates returns the learning rates to try for a label fraction:
// LRSweep when fraction <= SweepMaxFraction and LRSweep is not empty,
// otherwise LR alone.
func (c Config) LearningRates(fraction float64) []float64 {
	if fraction <= c.SweepMaxFraction && len(c.LRSweep) > 0 {
		return append([]float64(nil), c.LRSweep...)
	}
	return []float64{c.LR}
}

// evalClips returns the number of clips per evaluation forward pass.
func (c Config) evalClips() int {
	n := c.EvalBatchSize
	if n == 0 {
		n = c.BatchSize
	}
	return max(video.EvalClips, n/video.EvalClips*video.EvalClips)
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Validate reports the first thing wrong with c, or nil: every setting,
// all of Model included, as NewModel needs them.
func (c Config) Validate() error { return c.validate(true) }

// validate is Validate, checking of Model only InChannels unless
// wholeModel: what FineTune, Predict and Evaluate, which take the caller's
// model, need.
func (c Config) validate(wholeModel bool) error {
	m := c.Model
	switch {
	case wholeModel && m.NumClasses != 1:
		return fmt.Errorf("finetune: config: Model.NumClasses = %d, want 1 (the severe-AS logit)", m.NumClasses)
	case m.InChannels != 1 && m.InChannels != 3:
		return fmt.Errorf("finetune: config: Model.InChannels = %d, want 1 or 3", m.InChannels)
	case wholeModel && (m.Width <= 0 || m.Blocks[0] <= 0 || m.Blocks[1] <= 0 || m.Blocks[2] <= 0 || m.Blocks[3] <= 0):
		return fmt.Errorf("finetune: config: Model %+v: want a positive Width and Blocks", m)
	case c.Kinetics && m.InChannels != 3:
		return fmt.Errorf("finetune: config: Kinetics normalisation needs Model.InChannels = 3, have %d", m.InChannels)
	case c.ClipLength < 1:
		return fmt.Errorf("finetune: config: ClipLength = %d, want >= 1", c.ClipLength)
	case c.FrameSize < 0:
		return fmt.Errorf("finetune: config: FrameSize = %d, want >= 0", c.FrameSize)
	case c.BatchSize < 1:
		return fmt.Errorf("finetune: config: BatchSize = %d, want >= 1", c.BatchSize)
	case c.EvalBatchSize < 0:
		return fmt.Errorf("finetune: config: EvalBatchSize = %d, want >= 0", c.EvalBatchSize)
	case c.MaxEpochs < 1:
		return fmt.Errorf("finetune: config: MaxEpochs = %d, want >= 1", c.MaxEpochs)
	case c.Patience < 0:
		return fmt.Errorf("finetune: config: Patience = %d, want >= 0", c.Patience)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("finetune: config: LR = %v, want > 0", c.LR)
	case !(c.SweepMaxFraction >= 0 && c.SweepMaxFraction <= 1):
		return fmt.Errorf("finetune: config: SweepMaxFraction = %v, want 0..1", c.SweepMaxFraction)
	case !(c.DropoutP >= 0 && c.DropoutP < 1):
		return fmt.Errorf("finetune: config: DropoutP = %v, want [0, 1)", c.DropoutP)
	case c.Workers < 0 || c.CacheBytes < 0:
		return fmt.Errorf("finetune: config: negative Workers (%d) or CacheBytes (%d)", c.Workers, c.CacheBytes)
	}
	for i, lr := range c.LRSweep {
		if !(lr > 0) || math.IsInf(lr, 0) {
			return fmt.Errorf("finetune: config: LRSweep[%d] = %v, want > 0", i, lr)
		}
	}
	if err := c.Optimizer.Validate(); err != nil {
		return fmt.Errorf("finetune: config: Optimizer: %w", err)
	}
	return nil
}

// decode returns the configured decoder.
func (c Config) decode() func(string) (*video.Video, error) {
	if c.Decode != nil {
		return c.Decode
	}
	return video.ReadFile
}

// preprocess returns the configured preprocessing: Preprocess, else a resize
// to FrameSize when set, else nothing.
func (c Config) preprocess() func(*video.Video) (*video.Video, error) {
	if c.Preprocess != nil {
		return c.Preprocess
	}
	if s := c.FrameSize; s > 0 {
		return func(v *video.Video) (*video.Video, error) {
			if v.H == s && v.W == s {
				return v, nil
			}
			return video.Resize(v, s, s)
		}
	}
	return nil
}

// batchOptions returns how clips become batches.
func (c Config) batchOptions() video.BatchOptions {
	return video.BatchOptions{Channels: c.Model.InChannels, Kinetics: c.Kinetics}
}
