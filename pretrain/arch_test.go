package pretrain

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/resnet3d"
)

// TestRunOtherArchitectures pretrains a tiny R(2+1)D and MC3 encoder (width
// 4, one block per stage) with MI-SimCLR+FO for an epoch on the CPU and on
// gpu's host engine (the GPU trainer's code with plain-Go ops): the losses
// agree.
func TestRunOtherArchitectures(t *testing.T) {
	m := testData(t)
	for _, arch := range []resnet3d.Config{resnet3d.R2Plus1D18(0), resnet3d.MC3_18(0)} {
		arch.Width, arch.Blocks = 4, [4]int{1, 1, 1, 1}
		t.Run(arch.Stem.String()+"/"+arch.Convs[3].String(), func(t *testing.T) {
			cfg := tinyConfig(MISimCLRFO)
			cfg.Model = arch
			cfg.Epochs = 1
			res, err := Run(context.Background(), cfg, m, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			h := res.History[0]
			t.Logf("loss %.4f, NT-Xent %.4f, order %.4f", h.Loss, h.NTXent, h.Order)
			if math.IsNaN(h.Loss) || math.IsInf(h.Loss, 0) || h.Loss <= 0 {
				t.Errorf("loss %v", h.Loss)
			}
			if enc, ok := res.Model.Encoder.(*resnet3d.Model); !ok || enc.Config != arch {
				t.Errorf("encoder %T %+v, want a resnet3d.Model of %+v", res.Model.Encoder, res.Model.Encoder, arch)
			}

			cfg.Engine = gpu.NewHostEngine()
			dev, err := Run(context.Background(), cfg, m, t.TempDir())
			if err != nil {
				t.Fatalf("on the host engine: %v", err)
			}
			d := dev.History[0]
			for _, l := range [][2]float64{{h.Loss, d.Loss}, {h.NTXent, d.NTXent}, {h.Order, d.Order}} {
				if math.Abs(l[0]-l[1]) > 1e-4*math.Abs(l[0]) {
					t.Errorf("loss %v on the CPU, %v on the host engine", l[0], l[1])
				}
			}
		})
	}
}

// TestOldCheckpointIdentity reads the model settings of a checkpoint written
// before resnet3d.Config had Stem, Block and Convs: it is the same R3D, so
// a run may resume from it.
func TestOldCheckpointIdentity(t *testing.T) {
	cfg := tinyConfig(MISimCLRFO)
	var old Config
	if err := json.Unmarshal([]byte(`{"Model":{"InChannels":3,"Width":4,"Blocks":[1,1,1,1],"NumClasses":0}}`), &old); err != nil {
		t.Fatal(err)
	}
	have := cfg
	have.Model = old.Model
	a, err := have.identity(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.identity(nil)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("identity of the old settings %s, of this run %s", a, b)
	}
}
