package finetune_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"

	"github.com/vidssl/vidssl/finetune"
	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

func ExampleSubsets() {
	studies := make([]string, 5311) // the paper's training studies
	for i := range studies {
		studies[i] = fmt.Sprintf("study%04d", i)
	}
	subsets, err := finetune.Subsets(studies, finetune.PaperFractions, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range finetune.PaperFractions {
		fmt.Printf("%3.0f%%: %4d studies\n", 100*f, len(subsets[f]))
	}
	// Output:
	//   1%:   53 studies
	//   5%:  266 studies
	//  10%:  531 studies
	//  25%: 1328 studies
	//  50%: 2656 studies
	//  75%: 3983 studies
	// 100%: 5311 studies
}

// Example fine-tunes a tiny model on 25% of the labels of a small synthetic
// data set and evaluates it on the test split.
func Example() {
	dir, err := os.MkdirTemp("", "finetune")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	data := echosynth.DefaultConfig()
	data.Studies = 40
	data.Height, data.Width, data.Frames = 32, 32, 12
	path, err := echosynth.WriteDataset(context.Background(), dir, data, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := video.ReadManifest(path, video.OurColumns)
	if err != nil {
		fmt.Println(err)
		return
	}
	train, val, test := m.Subset(video.SplitTrain), m.Subset(video.SplitVal), m.Subset(video.SplitTest)

	// 25% of the training studies, with both classes.
	labels, err := finetune.StudyLabels(train)
	if err != nil {
		fmt.Println(err)
		return
	}
	subsets, err := finetune.SubsetsBothClasses(train.Studies(), labels, []float64{0.25}, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	labelled, err := finetune.SelectStudies(train, subsets[0.25])
	if err != nil {
		fmt.Println(err)
		return
	}

	cfg := finetune.SmallConfig()
	cfg.Model = resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 1}
	cfg.ClipLength = 8
	cfg.MaxEpochs = 2
	model, report, err := finetune.NewModel(cfg, finetune.Init{}) // Init{Weights: "ssl.safetensors"} for a pretrained encoder
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := finetune.FineTune(context.Background(), cfg, model, labelled, val, 0.25)
	if err != nil {
		fmt.Println(err)
		return
	}
	ev, err := finetune.Evaluate(context.Background(), cfg, model, test, metrics.BootstrapOptions{Resamples: 1000})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("init: %v\n", report)
	fmt.Printf("trained on %d of %d studies (%d videos), lr %g, %d epochs\n",
		len(subsets[0.25]), len(train.Studies()), res.TrainVideos, res.LR, len(res.Runs[0].History))
	fmt.Printf("test: %d studies, %d videos, 4 clips each\n", ev.Study.N, ev.Video.N)
	// Output:
	// init: random
	// trained on 8 of 30 studies (33 videos), lr 0.001, 2 epochs
	// test: 6 studies, 20 videos, 4 clips each
}

// Turn a video into the clips that evaluation scores, with the config's
// preprocessing (here SmallConfig's resize to 32x32) and normalisation.
func ExampleConfig_Clips() {
	v, err := video.New(20, 64, 48, 1) // 20 grey frames of 64x48
	if err != nil {
		log.Fatal(err)
	}
	cfg := finetune.SmallConfig()
	cfg.ClipLength = 8
	b, err := cfg.Clips(v)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Shape) // EvalClips clips, 3 channels, 8 frames of 32x32
	// Output: [4 3 8 32 32]
}

// Fine-tune a model of your own, here an nn.Sequential rather than
// NewModel's ResNet, on the CPU and on an Engine (gpu's host reference
// engine; gpu.OpenCUDA's on a GPU): the model only has to map clips of
// Config.Model.InChannels channels to one logit per clip.
func ExampleFineTune_userModel() {
	dir, err := os.MkdirTemp("", "finetune")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	data := echosynth.DefaultConfig()
	data.Studies = 16
	data.Height, data.Width, data.Frames = 32, 32, 10
	path, err := echosynth.WriteDataset(context.Background(), dir, data, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := video.ReadManifest(path, video.OurColumns)
	if err != nil {
		fmt.Println(err)
		return
	}
	train, val := m.Subset(video.SplitTrain), m.Subset(video.SplitVal)

	cfg := finetune.SmallConfig()
	cfg.ClipLength = 8
	cfg.MaxEpochs = 1
	newModel := func() nn.Module {
		rng := rand.New(rand.NewPCG(1, 2))
		return nn.NewSequential(
			nn.NewConv3dLayer("features.0", cfg.Model.InChannels, 8, [3]int{3, 3, 3}, [3]int{1, 2, 2}, [3]int{1, 1, 1}, false, rng),
			nn.NewBatchNorm3dLayer("features.1", 8),
			nn.ReLULayer{},
			&nn.GlobalAvgPool3dLayer{Name: "pool"},
			nn.FlattenLayer{},
			nn.NewLinearLayer("classifier", 8, 1, true, rng),
		)
	}
	var losses []float64
	for _, engine := range []*gpu.Engine{nil, gpu.NewHostEngine()} {
		cfg.Engine = engine
		res, err := finetune.FineTune(context.Background(), cfg, newModel(), train, val, 1)
		if err != nil {
			fmt.Println(err)
			return
		}
		losses = append(losses, res.Runs[res.Chosen].BestValLoss)
	}
	fmt.Println("validation losses agree:", math.Abs(losses[0]-losses[1]) < 1e-4*losses[0])

	// A model of two logits per clip is an error, before anything runs.
	cfg.Engine = nil
	wide := nn.NewSequential(&nn.GlobalAvgPool3dLayer{Name: "pool"}, nn.FlattenLayer{},
		nn.NewLinearLayer("classifier", 3, 2, true, rand.New(rand.NewPCG(1, 2))))
	_, err = finetune.FineTune(context.Background(), cfg, wide, train, val, 1)
	fmt.Println(err)
	// Output:
	// validation losses agree: true
	// finetune: lr 0.001: epoch 1: step 1 of 3: the model outputs [16 2] for clips of shape [16 3 8 32 32], want (16, 1): one logit per clip
}
