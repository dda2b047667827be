package finetune

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// initStream is the PCG stream of the model's random initialisation.
const initStream = 0x1a17_f1e7

// Init says how a model starts: random, or with encoder weights from a file.
type Init struct {
	// Weights is a PyTorch (.pth, .pt) or safetensors file holding the
	// encoder: torchvision's Kinetics-400 r3d_18 weights, a self-supervised
	// checkpoint (pretrain's, names under "encoder."), or a classifier. ""
	// means torchvision's random initialisation. With Kinetics-400 weights,
	// set Config.Kinetics too, so that clips are normalised as the weights
	// expect.
	Weights string
	// Prefixes are stripped from the file's names before matching; nil
	// means resnet3d.DefaultPrefixes ("module.", "encoder.").
	Prefixes []string
	// Partial allows a file that lacks some of the encoder's learnable
	// Params (they stay random). Otherwise a missing encoder Param is an
	// error: a file of another architecture must not load silently.
	Partial bool
	// LoadHead loads fc.weight and fc.bias from the file when their shapes
	// fit (a fine-tuned classifier of one output), to evaluate or continue
	// a fine-tuned model. Without it, or when the file's fc has another
	// class count (Kinetics-400's 400), fc keeps its random initialisation,
	// as in the paper.
	LoadHead bool
}

// InitReport says what NewModel loaded.
type InitReport struct {
	// Source is the weights file, or "random".
	Source string
	// Loaded are the Params set from the file.
	Loaded []string
	// Missing are Params the file lacks (fc, and any buffer it does not
	// hold); they keep their random initialisation.
	Missing []string
	// Unexpected are file tensors no Param uses, other than optimiser
	// state: projection and frame-order heads, or a sign that the file is
	// not what it was meant to be.
	Unexpected []string
	// Optimizer are the file's optimiser state tensors (names starting
	// "optimizer.", as pretrain's checkpoints keep their optimiser's
	// state), which fine-tuning does not use. They are expected in a
	// pretraining checkpoint and listed apart from Unexpected.
	Optimizer []string
	// Skipped are the file's fc tensors that were not loaded (see
	// Init.LoadHead).
	Skipped []string
}

// String summarises the report: "random", or "FILE: 62 loaded, 2 missing
// (fc.weight, fc.bias), ..., 124 optimiser state tensors not used".
func (r *InitReport) String() string {
	if r.Source == "random" {
		return "random"
	}
	s := fmt.Sprintf("%s: %d loaded", r.Source, len(r.Loaded))
	for _, part := range []struct {
		what  string
		names []string
	}{{"missing", r.Missing}, {"unexpected", r.Unexpected}, {"skipped", r.Skipped}} {
		if len(part.names) > 0 {
			s += fmt.Sprintf(", %d %s (%s)", len(part.names), part.what, listNames(part.names))
		}
	}
	if len(r.Optimizer) > 0 {
		s += fmt.Sprintf(", %d optimiser state tensors not used", len(r.Optimizer))
	}
	return s
}

func listNames(names []string) string {
	const most = 6
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:most], ", ") + fmt.Sprintf(", and %d more", len(names)-most)
}

// optimizerPrefix starts the names of optimiser state in a pretraining
// checkpoint (pretrain.OptimizerPrefix; finetune does not import pretrain).
const optimizerPrefix = "optimizer."

// isHead reports whether a Param name belongs to the fc layer.
func isHead(name string) bool { return strings.HasPrefix(name, "fc.") }

// NewModel builds cfg.Model with torchvision's random initialisation, drawn
// from cfg.Seed, and loads init's encoder weights into it non-strictly: the
// encoder's Params are set from the file by name (after stripping
// init.Prefixes), fc stays random (unless init.LoadHead), and file tensors
// that fit nothing are reported, not refused. A file that sets no encoder
// Param, one whose encoder tensors have other shapes (another width or
// depth), and, unless init.Partial, one that lacks an encoder weight are
// errors.
func NewModel(cfg Config, init Init) (*resnet3d.Model, *InitReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	m, err := resnet3d.New(cfg.Model, rand.New(rand.NewPCG(cfg.Seed, initStream)))
	if err != nil {
		return nil, nil, fmt.Errorf("finetune: new model: %w", err)
	}
	if init.Weights == "" {
		return m, &InitReport{Source: "random"}, nil
	}
	rep, err := loadEncoder(m, init)
	if err != nil {
		return nil, rep, err
	}
	return m, rep, nil
}

// loadEncoder loads init.Weights into m as NewModel describes.
func loadEncoder(m *resnet3d.Model, init Init) (*InitReport, error) {
	path := init.Weights
	where := "finetune: load " + path
	raw, err := resnet3d.ReadWeights(path)
	if err != nil {
		return nil, fmt.Errorf("finetune: load encoder: %w", err)
	}
	prefixes := init.Prefixes
	if prefixes == nil {
		prefixes = resnet3d.DefaultPrefixes
	}
	tensors, err := resnet3d.StripPrefixes(raw, prefixes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	params := m.Params()
	shapes := map[string][]int{}
	for _, p := range params {
		shapes[p.Name] = p.Shape()
	}
	rep := &InitReport{Source: path}
	use := map[string]*tensor.Dense{}
	for name, t := range tensors {
		if isHead(name) {
			if want, ok := shapes[name]; init.LoadHead && ok && sameSize(want, t.Shape()) {
				use[name] = t
			} else {
				rep.Skipped = append(rep.Skipped, name)
			}
			continue
		}
		use[name] = t
	}
	slices.Sort(rep.Skipped)
	lr, err := nn.ApplyState(params, use, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	rep.Loaded = lr.Loaded
	for _, name := range lr.Unexpected {
		if strings.HasPrefix(name, optimizerPrefix) {
			rep.Optimizer = append(rep.Optimizer, name)
		} else {
			rep.Unexpected = append(rep.Unexpected, name)
		}
	}
	byName := map[string]*nn.Param{}
	for _, p := range params {
		byName[p.Name] = p
	}
	var missingWeights []string
	for _, name := range lr.Missing {
		rep.Missing = append(rep.Missing, name)
		if p := byName[name]; !isHead(name) && !p.Buffer {
			missingWeights = append(missingWeights, name)
		}
	}
	encoderLoaded := 0
	for _, name := range lr.Loaded {
		if !isHead(name) {
			encoderLoaded++
		}
	}
	switch {
	case len(lr.Mismatched) > 0:
		ms := make([]string, len(lr.Mismatched))
		for i, mm := range lr.Mismatched {
			ms[i] = fmt.Sprintf("%s (model %v, file %v)", mm.Name, mm.Param, mm.File)
		}
		return rep, fmt.Errorf("%s: %d encoder tensors of another shape, the file holds another architecture than %+v: %s", where, len(ms), m.Config, listNames(ms))
	case encoderLoaded == 0:
		return rep, fmt.Errorf("%s: no encoder tensor matched (the file has %d tensors, e.g. %s; prefixes stripped: %q)", where, len(raw), listNames(firstNames(raw, 3)), prefixes)
	case len(missingWeights) > 0 && !init.Partial:
		return rep, fmt.Errorf("%s: the file lacks %d encoder weights: %s (set Init.Partial to allow it)", where, len(missingWeights), listNames(missingWeights))
	}
	return rep, nil
}

// sameSize reports whether two shapes hold the same values (a scalar and a
// one-element vector alike).
func sameSize(a, b []int) bool {
	if slices.Equal(a, b) {
		return true
	}
	n := func(s []int) int {
		p := 1
		for _, d := range s {
			p *= d
		}
		return p
	}
	return n(a) == 1 && n(b) == 1
}

func firstNames(m map[string]*tensor.Dense, k int) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names[:min(k, len(names))]
}
