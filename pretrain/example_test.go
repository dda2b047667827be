package pretrain_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/vidssl/vidssl/pretrain"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

// Pretrain MI-SimCLR+FO for two epochs on a tiny synthetic data set, then
// load the encoder for fine-tuning.
func ExampleRun() {
	dir, err := os.MkdirTemp("", "pretrain-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	data := echosynth.DefaultConfig()
	data.Studies, data.Frames, data.Height, data.Width = 12, 8, 32, 32
	manifest, err := echosynth.WriteDataset(context.Background(), filepath.Join(dir, "data"), data, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := video.ReadManifest(manifest, video.OurColumns)
	if err != nil {
		fmt.Println(err)
		return
	}

	cfg := pretrain.SmallConfig(pretrain.MISimCLRFO)
	cfg.Model = resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}}
	cfg.BatchPairs, cfg.Epochs, cfg.CheckpointEvery = 8, 2, 1
	cfg.Preprocess = video.MaskSector // the paper's sector masking
	cfg.Progress = func(p pretrain.Progress) {
		if p.Done != nil {
			fmt.Printf("epoch %d: %d steps, checkpoint %s\n", p.Epoch, p.Done.Steps, filepath.Base(p.Checkpoint))
		}
	}
	res, err := pretrain.Run(context.Background(), cfg, m, filepath.Join(dir, "run"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(res.History), "epochs; order head:", res.Model.Order.Classes(), "classes")

	// Fine-tuning starts from the encoder; its new fc stays random.
	clf, err := resnet3d.New(resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 1}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := pretrain.LoadEncoder(res.Checkpoint, clf, true)
	fmt.Println(len(rep.Loaded), "encoder tensors loaded", err)
	// Output:
	// epoch 1: 6 steps, checkpoint epoch-0001.safetensors
	// epoch 2: 6 steps, checkpoint epoch-0002.safetensors
	// 2 epochs; order head: 24 classes
	// 72 encoder tensors loaded <nil>
}
