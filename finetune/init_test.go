package finetune

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// values maps a model's Param names to copies of their values.
func values(m nn.Module) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range m.Params() {
		out[p.Name] = slices.Clone(p.Data())
	}
	return out
}

func TestNewModelLoadsEncoder(t *testing.T) {
	cfg := tinyConfig()
	dir := t.TempDir()

	// A self-supervised checkpoint: the encoder (no fc) under "encoder.",
	// a projection head and optimiser state beside it.
	encCfg := cfg.Model
	encCfg.NumClasses = 0
	enc, err := resnet3d.New(encCfg, rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		t.Fatal(err)
	}
	tensors, err := nn.ParamTensors(enc.Params())
	if err != nil {
		t.Fatal(err)
	}
	file := nn.WithPrefix("encoder.", tensors)
	file["projector.0.weight"] = tensor.New(tensor.WithShape(16, 32), tensor.Of(tensor.Float32))
	file["optimizer.encoder.stem.0.weight.exp_avg"] = tensors["stem.0.weight"]
	ssl := filepath.Join(dir, "ssl.safetensors")
	if err := nn.SaveCheckpoint(ssl, file, nil); err != nil {
		t.Fatal(err)
	}
	random, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	m, rep, err := NewModel(cfg, Init{Weights: ssl})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	want, got, rnd := values(enc), values(m), values(random)
	for name, v := range got {
		switch {
		case strings.HasPrefix(name, "fc."):
			if !slices.Equal(v, rnd[name]) {
				t.Errorf("%s: not the random initialisation", name)
			}
		case !slices.Equal(v, want[name]):
			t.Errorf("%s: not loaded from the checkpoint", name)
		}
	}
	if len(rep.Loaded) != len(want) || !slices.Equal(rep.Missing, []string{"fc.weight", "fc.bias"}) ||
		!slices.Equal(rep.Unexpected, []string{"projector.0.weight"}) ||
		!slices.Equal(rep.Optimizer, []string{"optimizer.encoder.stem.0.weight.exp_avg"}) ||
		!strings.HasSuffix(rep.String(), "1 unexpected (projector.0.weight), 1 optimiser state tensors not used") {
		t.Errorf("report %v", rep)
	}

	// torchvision's file of a 3-class model (as Kinetics-400's has 400):
	// fc is skipped and stays random, the encoder loads.
	pth := "../resnet3d/testdata/small.pth"
	m, rep, err = NewModel(cfg, Init{Weights: pth})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Skipped, []string{"fc.bias", "fc.weight"}) || len(rep.Unexpected) != 0 || len(rep.Loaded) != len(want) {
		t.Errorf(".pth report %v", rep)
	}
	if !slices.Equal(values(m)["fc.weight"], rnd["fc.weight"]) {
		t.Error(".pth: fc is not the random initialisation")
	}
	if !strings.Contains(rep.String(), "2 skipped (fc.bias, fc.weight)") {
		t.Errorf("report string %q", rep)
	}

	// A fine-tuned classifier: LoadHead takes its fc, the default does not.
	ft := filepath.Join(dir, "ft.safetensors")
	for _, p := range m.Params() {
		if p.Name == "fc.weight" {
			nn.Fill(p, 0.5) // unlike any random initialisation
		}
	}
	if err := m.SaveWeights(ft, nil); err != nil {
		t.Fatal(err)
	}
	for _, head := range []bool{false, true} {
		m2, rep, err := NewModel(cfg, Init{Weights: ft, LoadHead: head})
		if err != nil {
			t.Fatal(err)
		}
		loaded := slices.Contains(rep.Loaded, "fc.weight")
		if loaded != head || slices.Equal(values(m2)["fc.weight"], values(m)["fc.weight"]) != head {
			t.Errorf("LoadHead %v: fc loaded %v (report %v)", head, loaded, rep)
		}
	}

	// Errors: another architecture, nothing matching, a missing weight.
	wide := cfg
	wide.Model.Width = 8
	if _, _, err := NewModel(wide, Init{Weights: ssl}); err == nil || !strings.Contains(err.Error(), "another shape") {
		t.Errorf("width 8 from a width-4 file: error %v", err)
	}
	if _, _, err := NewModel(cfg, Init{Weights: ssl, Prefixes: []string{"module."}}); err == nil || !strings.Contains(err.Error(), "no encoder tensor matched") {
		t.Errorf("without stripping encoder.: error %v", err)
	}
	delete(file, "encoder.layer4.0.conv2.0.weight")
	partial := filepath.Join(dir, "partial.safetensors")
	if err := nn.SaveCheckpoint(partial, file, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewModel(cfg, Init{Weights: partial}); err == nil || !strings.Contains(err.Error(), "layer4.0.conv2.0.weight") {
		t.Errorf("a missing weight: error %v", err)
	}
	if _, rep, err := NewModel(cfg, Init{Weights: partial, Partial: true}); err != nil || !slices.Contains(rep.Missing, "layer4.0.conv2.0.weight") {
		t.Errorf("a missing weight with Partial: %v, report %v", err, rep)
	}
	if _, _, err := NewModel(cfg, Init{Weights: filepath.Join(dir, "none.pth")}); err == nil || !strings.Contains(err.Error(), "none.pth") {
		t.Errorf("a missing file: error %v", err)
	}
}
