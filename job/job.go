// Package job holds what vidssl's runners share: pretrain.Config and
// finetune.Config embed a Settings, so that the seed, how videos are
// decoded, preprocessed and cached, and the engine that runs the steps are
// set the same way for both (cfg.Seed = 1, cfg.Engine = e), and a
// program that runs both sets them once:
//
//	var s job.Settings // Seed, Workers, CacheBytes, Engine, Decode, Preprocess
//	pre := pretrain.SmallConfig(pretrain.MISimCLR)
//	pre.Settings = s
//	ft := finetune.SmallConfig()
//	ft.Settings = s
//
// Embedding keeps the configs' JSON flat: a checkpoint's config has the
// fields "Seed", "Workers" and "CacheBytes" as it had before Settings
// existed, and the functions and the engine are not written.
package job

import (
	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/video"
)

// Settings are a run's seed, its video loading and its engine. The zero
// value runs on the CPU with GOMAXPROCS workers, no cache, video.ReadFile
// and no preprocessing, from seed 0.
type Settings struct {
	// Seed fixes every random draw of a run: the initialisation, the order
	// of the training items, every clip and augmentation, and what else the
	// runner draws (frame orders, dropout masks). The same seed and data
	// give the same run, whether or not it was interrupted and resumed.
	Seed uint64
	// Workers is the number of goroutines that decode and sample videos (0:
	// GOMAXPROCS). It does not change the results.
	Workers int
	// CacheBytes caps the cache of decoded, preprocessed videos of each of
	// the run's loaders (0: no cache, so that every epoch decodes every
	// video again).
	CacheBytes int64

	// Engine, when not nil, runs the run's training steps (and, where the
	// runner says so, its forward passes) on it: a GPU opened with
	// gpu.OpenCUDA, or gpu.NewHostEngine. The caller closes the engine. nil
	// runs on the CPU.
	Engine *gpu.Engine `json:"-"`
	// Decode reads a video file; nil means video.ReadFile.
	Decode func(path string) (*video.Video, error) `json:"-"`
	// Preprocess, when not nil, runs on each decoded video (for example
	// video.MaskAndResize(112, 112)).
	Preprocess func(*video.Video) (*video.Video, error) `json:"-"`
}
