package job_test

import (
	"fmt"

	"github.com/vidssl/vidssl/finetune"
	"github.com/vidssl/vidssl/job"
	"github.com/vidssl/vidssl/pretrain"
	"github.com/vidssl/vidssl/video"
)

// One Settings serves pretraining and fine-tuning: the same seed, loading
// and preprocessing (and, with a GPU, the same engine) for both.
func Example() {
	s := job.Settings{Seed: 3, Workers: 2, CacheBytes: 256 << 20, Preprocess: video.MaskAndResize(32, 32)}
	pre := pretrain.SmallConfig(pretrain.MISimCLR)
	pre.Settings = s
	ft := finetune.SmallConfig()
	ft.Settings = s
	fmt.Println(pre.Seed, ft.Seed, pre.Workers == ft.Workers, pre.Preprocess != nil && ft.Preprocess != nil)
	// Output:
	// 3 3 true true
}
