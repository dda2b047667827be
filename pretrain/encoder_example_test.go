package pretrain_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretrain"
	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

// smallEncoder is an encoder of one's own: nn's layers in a Sequential,
// and the two numbers pretrain.Encoder asks for.
type smallEncoder struct {
	*nn.Sequential
	in, features int
}

// InChannels returns the channels of the clips the encoder takes.
func (e smallEncoder) InChannels() int { return e.in }

// FeatureDim returns the width of the encoder's features.
func (e smallEncoder) FeatureDim() int { return e.features }

// newSmallEncoder makes a smallEncoder for clips of 3 channels with 16
// features, initialised from rng: a Config.NewEncoder.
func newSmallEncoder(rng *rand.Rand) (pretrain.Encoder, error) {
	const in, features = 3, 16
	return smallEncoder{nn.NewSequential(
		nn.NewConv3dLayer("conv", in, features, [3]int{3, 3, 3}, [3]int{1, 2, 2}, [3]int{1, 1, 1}, false, rng),
		nn.NewBatchNorm3dLayer("bn", features),
		nn.ReLULayer{},
		&nn.GlobalAvgPool3dLayer{Name: "pool"},
		nn.FlattenLayer{},
	), in, features}, nil
}

// Pretrain an encoder of one's own (Config.NewEncoder) with MI-SimCLR on
// an Engine (gpu's host reference engine here; gpu.OpenCUDA's on a GPU),
// then load its weights from the checkpoint into a fresh copy of it.
func ExampleConfig_newEncoder() {
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

	cfg := pretrain.SmallConfig(pretrain.MISimCLR)
	cfg.NewEncoder = newSmallEncoder
	cfg.BatchPairs, cfg.Epochs = 8, 1
	cfg.Engine = gpu.NewHostEngine()
	res, err := pretrain.Run(context.Background(), cfg, m, filepath.Join(dir, "run"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d epoch of %d steps, %d features\n", len(res.History), res.History[0].Steps, res.Model.Encoder.FeatureDim())

	enc, _ := newSmallEncoder(rand.New(rand.NewPCG(1, 2)))
	rep, err := pretrain.LoadEncoder(res.Checkpoint, enc, false)
	fmt.Println(len(rep.Loaded), "encoder tensors loaded", err)
	// Output:
	// 1 epoch of 6 steps, 16 features
	// 6 encoder tensors loaded <nil>
}
