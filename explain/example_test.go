package explain_test

import (
	"context"
	"fmt"
	"image"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/vidssl/vidssl/explain"
	"github.com/vidssl/vidssl/nn"
)

// This example makes a saliency figure from a layer's activations and
// gradients, as a model would give them: here one video whose layer output
// (2 channels, 2 x 4 x 4) has a hot spot that the target logit depends on.
func Example() {
	const C, t, h, w = 2, 2, 4, 4 // the layer's output
	const T, H, W = 8, 32, 32     // the input clip
	acts := make([]float32, C*t*h*w)
	grads := make([]float32, C*t*h*w)
	for i := range t * h * w {
		grads[i] = 0.5 // channel 0 raises the logit
		grads[t*h*w+i] = -0.1
		acts[t*h*w+i] = 1 // channel 1 is on everywhere
	}
	acts[(1*h+1)*w+2] = 3 // channel 0: a spot at time 1, row 1, column 2

	heat, shape, err := explain.Saliency(acts, grads, [5]int{1, C, t, h, w}, [3]int{T, H, W})
	if err != nil {
		log.Fatal(err)
	}
	best := 0
	for i, v := range heat {
		if v > heat[best] {
			best = i
		}
	}
	fmt.Printf("heatmaps %v, peak %.2f at row %d, column %d\n", shape, heat[best], best/W, best%W)

	// Show it over the clip's first frame (grey, H x W x 1).
	frame := make([]uint8, H*W)
	for i := range frame {
		frame[i] = uint8(4 * (i % W))
	}
	over, err := explain.Overlay(frame, H, W, 1, heat, explain.Jet, 0.5)
	if err != nil {
		log.Fatal(err)
	}
	colours, err := explain.Colorize(heat, H, W, explain.Inferno)
	if err != nil {
		log.Fatal(err)
	}
	fig, err := explain.Grid([][]*image.RGBA{{over, colours}}, []string{"model"}, []string{"overlay", "map"})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "explain")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := explain.WritePNG(filepath.Join(dir, "figure3.png"), fig); err != nil {
		log.Fatal(err)
	}
	fmt.Println("figure", fig.Bounds().Size())
	// Output:
	// heatmaps [1 32 32], peak 1.00 at row 11, column 19
	// figure (115,57)
}

// Upscale small frames before putting them in a Grid, so that they stay
// visible and their column labels fit.
func ExampleUpscale() {
	heat := make([]float32, 32*32)
	for i := range heat {
		heat[i] = float32(i%32) / 31
	}
	img, err := explain.Colorize(heat, 32, 32, explain.Jet)
	if err != nil {
		log.Fatal(err)
	}
	big, err := explain.Upscale(img, 4)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(big.Bounds().Dx(), "x", big.Bounds().Dy())
	// Output: 128 x 128
}

// ModelCAM explains any model made of nn's layers, cut at its target layer:
// here a convolution (the layer), then pooling and a linear classifier.
func ExampleModelCAM() {
	rng := rand.New(rand.NewPCG(1, 2))
	conv := nn.NewConv3dLayer("conv", 3, 8, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, false, rng)
	fc := nn.NewLinearLayer("fc", 8, 2, true, rng)
	model := explain.Split{
		Before: nn.NewSequential(conv, nn.ReLULayer{}),
		After:  nn.NewSequential(&nn.GlobalAvgPool3dLayer{Name: "avgpool"}, nn.FlattenLayer{}, fc),
	}
	shape := [5]int{1, 3, 4, 16, 16} // one clip of 4 frames of 16 x 16
	clip := make([]float32, 3*4*16*16)
	for i := range clip {
		clip[i] = float32(rng.NormFloat64())
	}
	cam, err := explain.ModelCAM(context.Background(), model, clip, shape, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("volume", cam.Shape, "heatmap values", len(cam.Heatmaps), "logits", len(cam.Logits))
	// Output:
	// volume [1 4 16 16] heatmap values 256 logits 2
}
