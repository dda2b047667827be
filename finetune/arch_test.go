package finetune

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/resnet3d"
)

// TestFineTuneOtherArchitectures fine-tunes a tiny MC3 and R(2+1)D (width
// 4, one block per stage) on the CPU for an epoch, predicts with them, and
// checks that an Engine, which runs R3D only, is refused before anything
// runs.
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
			if _, err := FineTune(context.Background(), cfg, model, train, val, 1); err == nil || !strings.Contains(err.Error(), "Engine runs only R3D models") {
				t.Errorf("with an engine: %v", err)
			}
		})
	}
}
