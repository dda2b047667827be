package finetune

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// TestFineTuneOtherArchitectures fine-tunes a tiny MC3 and R(2+1)D (width
// 4, one block per stage) on the CPU for an epoch and predicts with them,
// then does the same from the same initialisation on gpu's host engine
// (the GPU trainer's code with plain-Go ops): the losses agree.
func TestFineTuneOtherArchitectures(t *testing.T) {
	train, val, test := synthData(t, 24, 12, 2)
	train.Records = train.Records[:9]
	for _, arch := range []resnet3d.Config{resnet3d.MC3_18(1), resnet3d.R2Plus1D18(1)} {
		arch.Width, arch.Blocks = tinyModel.Width, tinyModel.Blocks
		t.Run(arch.Stem.String()+"/"+arch.Convs[3].String(), func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Model = arch
			cfg.BatchSize = 4
			cfg.MaxEpochs = 1
			model, _, err := NewModel(cfg, Init{})
			if err != nil {
				t.Fatal(err)
			}
			before := slices.Clone(model.Params()[0].Data())
			res, err := FineTune(context.Background(), cfg, model, train, val, 1)
			if err != nil {
				t.Fatal(err)
			}
			h := res.Runs[0].History[0]
			t.Logf("train loss %.4f, val loss %.4f (%.2fs)", h.TrainLoss, h.ValLoss, h.Seconds)
			if !finite(h.TrainLoss) || !finite(h.ValLoss) || slices.Equal(before, model.Params()[0].Data()) {
				t.Errorf("losses %v, %v; stem changed: %v", h.TrainLoss, h.ValLoss, !slices.Equal(before, model.Params()[0].Data()))
			}
			preds, err := Predict(context.Background(), cfg, model, test)
			if err != nil {
				t.Fatal(err)
			}
			if len(preds.Videos) != len(test.Records) {
				t.Errorf("%d video predictions for %d videos", len(preds.Videos), len(test.Records))
			}

			cfg.Engine = gpu.NewHostEngine()
			fresh, _, err := NewModel(cfg, Init{})
			if err != nil {
				t.Fatal(err)
			}
			dev, err := FineTune(context.Background(), cfg, fresh, train, val, 1)
			if err != nil {
				t.Fatalf("on the host engine: %v", err)
			}
			d := dev.Runs[0].History[0]
			t.Logf("host engine: train loss %.4f, val loss %.4f", d.TrainLoss, d.ValLoss)
			for _, l := range [][2]float64{{h.TrainLoss, d.TrainLoss}, {h.ValLoss, d.ValLoss}} {
				if math.Abs(l[0]-l[1]) > 1e-4*math.Abs(l[0]) {
					t.Errorf("loss %v on the CPU, %v on the host engine", l[0], l[1])
				}
			}
		})
	}
}

// TestNewModelLoadsOtherArchitectures loads a self-supervised R(2+1)D
// encoder (names under "encoder.") into an R(2+1)D classifier, and refuses
// to load an R3D's or an MC3's encoder into it, or the R(2+1)D's into an
// R3D.
func TestNewModelLoadsOtherArchitectures(t *testing.T) {
	dir := t.TempDir()
	save := func(arch resnet3d.Config) string {
		arch.Width, arch.Blocks = tinyModel.Width, tinyModel.Blocks
		enc, err := resnet3d.New(arch, rand.New(rand.NewPCG(3, 3)))
		if err != nil {
			t.Fatal(err)
		}
		tensors, err := nn.ParamTensors(enc.Params())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, arch.Stem.String()+arch.Convs[3].String()+".safetensors")
		if err := nn.SaveCheckpoint(path, nn.WithPrefix("encoder.", tensors), nil); err != nil {
			t.Fatal(err)
		}
		return path
	}
	r21, r3d, mc3 := save(resnet3d.R2Plus1D18(0)), save(resnet3d.R3D18(0)), save(resnet3d.MC3_18(0))

	cfg := tinyConfig()
	cfg.Model = resnet3d.R2Plus1D18(1)
	cfg.Model.Width, cfg.Model.Blocks = tinyModel.Width, tinyModel.Blocks
	m, rep, err := NewModel(cfg, Init{Weights: r21})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(m.Params()) - 2; len(rep.Loaded) != want || len(rep.Unexpected) != 0 {
		t.Errorf("loaded %d of the %d encoder entries, unexpected %v", len(rep.Loaded), want, rep.Unexpected)
	}
	for _, other := range []string{r3d, mc3} {
		if _, _, err := NewModel(cfg, Init{Weights: other}); err == nil {
			t.Errorf("%s loaded into an R(2+1)D", filepath.Base(other))
		}
	}
	cfg.Model = tinyModel
	if _, _, err := NewModel(cfg, Init{Weights: r21}); err == nil {
		t.Error("an R(2+1)D encoder loaded into an R3D")
	}
	cfg.Model = resnet3d.MC3_18(1)
	cfg.Model.Width, cfg.Model.Blocks = tinyModel.Width, tinyModel.Blocks
	if _, _, err := NewModel(cfg, Init{Weights: r3d}); err == nil {
		t.Error("an R3D encoder loaded into an MC3")
	}
}
