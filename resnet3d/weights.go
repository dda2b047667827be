package resnet3d

import (
	"fmt"
	"path/filepath"
	"strings"

	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/pth"
	"github.com/vidssl/vidssl/nn"
)

// DefaultPrefixes are stripped from tensor names before matching: DataParallel
// files name every tensor "module.<name>" and self-supervised checkpoints keep
// the backbone under "encoder.<name>".
var DefaultPrefixes = []string{"module.", "encoder."}

// LoadOptions control LoadWeights.
type LoadOptions struct {
	// Strict makes any missing, unexpected or shape-mismatched name an error
	// (and leaves the model unchanged). Otherwise matching tensors are loaded
	// and the rest reported: the way encoder weights are loaded for
	// fine-tuning, leaving a new fc random.
	Strict bool
	// Prefixes are stripped, repeatedly and in any order, from the start of
	// every name in the file; nil means DefaultPrefixes.
	Prefixes []string
	// Skip lists names to ignore in the file (after stripping), such as
	// "fc.weight" and "fc.bias" when the class count differs.
	Skip []string
}

// ReadWeights reads the named tensors of a PyTorch file (.pth or .pt, as
// torch.save writes a state dict or a checkpoint holding one) or a
// safetensors file (.safetensors). A tensor holding NaN or an infinity is an
// error naming it (see nn.CheckFinite).
func ReadWeights(path string) (map[string]*tensor.Dense, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors":
		ck, err := nn.LoadCheckpoint(path)
		if err != nil {
			return nil, err
		}
		return ck.Tensors, nil
	case ".pth", ".pt", ".tar", ".ckpt":
		f, err := pth.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out := make(map[string]*tensor.Dense, len(f.Tensors))
		for _, t := range f.Tensors {
			shape := t.Shape
			if len(shape) == 0 {
				shape = []int{1}
			}
			data := append([]float32(nil), t.Data...)
			out[t.Name] = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
		}
		if err := nn.CheckFinite(out); err != nil {
			return nil, fmt.Errorf("resnet3d: read weights %s: %w", path, err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("resnet3d: read weights %s: unknown extension %q (want .pth, .pt or .safetensors)", path, filepath.Ext(path))
	}
}

// StripPrefixes returns m with every name's leading prefixes removed. Two
// names that become the same are an error.
func StripPrefixes(m map[string]*tensor.Dense, prefixes []string) (map[string]*tensor.Dense, error) {
	out := make(map[string]*tensor.Dense, len(m))
	from := make(map[string]string, len(m))
	for name, t := range m {
		short := name
		for changed := true; changed; {
			changed = false
			for _, p := range prefixes {
				if p != "" && strings.HasPrefix(short, p) {
					short, changed = short[len(p):], true
				}
			}
		}
		if prev, dup := from[short]; dup {
			return nil, fmt.Errorf("resnet3d: %q and %q both become %q after removing prefixes %q", prev, name, short, prefixes)
		}
		from[short] = name
		out[short] = t
	}
	return out, nil
}

// LoadWeights copies the tensors of a .pth or .safetensors file into the
// model's Params by name, after stripping prefixes, and reports what matched.
// With opt.Strict, any mismatch is an error listing the names and nothing is
// loaded.
func (m *Model) LoadWeights(path string, opt LoadOptions) (*nn.LoadReport, error) {
	tensors, err := ReadWeights(path)
	if err != nil {
		return nil, err
	}
	prefixes := opt.Prefixes
	if prefixes == nil {
		prefixes = DefaultPrefixes
	}
	if tensors, err = StripPrefixes(tensors, prefixes); err != nil {
		return nil, fmt.Errorf("resnet3d: load %s: %w", path, err)
	}
	for _, name := range opt.Skip {
		delete(tensors, name)
	}
	rep, err := nn.ApplyState(m.Params(), tensors, opt.Strict)
	if err != nil {
		return rep, fmt.Errorf("resnet3d: load %s: %w", path, err)
	}
	return rep, nil
}

// SaveWeights writes the model's Params to a safetensors file under their
// torchvision names (num_batches_tracked as int64), atomically.
func (m *Model) SaveWeights(path string, meta map[string]string) error {
	tensors, err := nn.ParamTensors(m.Params())
	if err != nil {
		return err
	}
	return nn.SaveCheckpoint(path, tensors, meta)
}
