package nn

import (
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/vidssl/vidssl/internal/atomicfile"
	"gorgonia.org/tensor"
)

// SaveCheckpoint writes tensors and metadata to path as a safetensors file
// (see WriteSafetensors), atomically: it writes a temporary file in path's
// directory, syncs and closes it, renames it to path and syncs the directory.
// On error the temporary file is removed and path is left as it was (absent,
// or the previous checkpoint), except when only the final directory sync
// fails: then path holds the complete new file, which may not yet be durable.
//
// Use ParamTensors to save a model's Params, and WithPrefix to add an
// optimiser's State beside them.
func SaveCheckpoint(path string, tensors map[string]*tensor.Dense, meta map[string]string) error {
	plan, err := planSafetensors(tensors, meta)
	if err != nil {
		return fmt.Errorf("nn: save checkpoint %s: %w", path, err)
	}
	return saveAtomic(path, plan)
}

// saveAtomic writes plan to path through a temporary file.
func saveAtomic(path string, plan *safetensorsPlan) error {
	if err := atomicfile.Write(path, 0o644, plan.write); err != nil {
		return fmt.Errorf("nn: save checkpoint %s: %w", path, err)
	}
	return nil
}

// LoadCheckpoint reads the safetensors file at path; see ReadSafetensors.
// Errors name the file. A tensor holding NaN or an infinity is an error
// naming it (see CheckFinite); ReadSafetensors, the format's reader, keeps
// such values.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nn: load checkpoint: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("nn: load checkpoint: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("nn: load checkpoint %s: not a regular file", path)
	}
	ck, err := readSafetensors(f, fi.Size(), path)
	if err != nil {
		return nil, err
	}
	if err := CheckFinite(ck.Tensors); err != nil {
		return nil, fmt.Errorf("nn: load checkpoint %s: %w", path, err)
	}
	return ck, nil
}

// ShapeMismatch is a name that a checkpoint and a model both have, with
// different shapes.
type ShapeMismatch struct {
	Name string
	// Param is the model's shape, File the checkpoint's.
	Param, File []int
}

// LoadReport says what loading a checkpoint into Params matched.
type LoadReport struct {
	// Loaded are the names of the Params that were set.
	Loaded []string
	// Missing are Params that the checkpoint lacks.
	Missing []string
	// Unexpected are checkpoint tensors that no Param has the name of.
	Unexpected []string
	// Mismatched are names whose shapes differ; those Params are left alone.
	Mismatched []ShapeMismatch
}

// OK reports whether every Param and every tensor matched.
func (r *LoadReport) OK() bool {
	return len(r.Missing) == 0 && len(r.Unexpected) == 0 && len(r.Mismatched) == 0
}

// String summarises the report, listing at most ten names of each kind.
func (r *LoadReport) String() string {
	s := fmt.Sprintf("%d loaded", len(r.Loaded))
	if p := r.problems(); p != "" {
		s += "; " + p
	}
	return s
}

// problems lists the missing, unexpected and mismatched names.
func (r *LoadReport) problems() string {
	var parts []string
	if len(r.Missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d missing: %s", len(r.Missing), listNames(r.Missing)))
	}
	if len(r.Unexpected) > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected: %s", len(r.Unexpected), listNames(r.Unexpected)))
	}
	if len(r.Mismatched) > 0 {
		ms := make([]string, len(r.Mismatched))
		for i, m := range r.Mismatched {
			ms[i] = fmt.Sprintf("%s (model %v, file %v)", m.Name, m.Param, m.File)
		}
		parts = append(parts, fmt.Sprintf("%d of another shape: %s", len(r.Mismatched), listNames(ms)))
	}
	return strings.Join(parts, "; ")
}

func listNames(names []string) string {
	const most = 10
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:most], ", ") + fmt.Sprintf(", and %d more", len(names)-most)
}

// LoadState reads the checkpoint at path and copies its tensors into the
// Params of the same names; see ApplyState.
func LoadState(path string, params []*Param, strict bool) (*LoadReport, error) {
	ck, err := LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	rep, err := ApplyState(params, ck.Tensors, strict)
	if err != nil {
		return rep, fmt.Errorf("nn: load state from %s: %w", path, err)
	}
	return rep, nil
}

// ApplyState copies tensors into the Params of the same names and reports
// which names matched. A scalar and a one-element vector count as the same
// shape (PyTorch stores num_batches_tracked as a scalar).
//
// When strict, any missing, unexpected or mismatched name is an error that
// lists them, and no Param is changed. Otherwise the Params that match are
// set and the others left alone; note that this skips shape mismatches,
// where PyTorch's load_state_dict(strict=False) raises. Duplicate Param names
// and Params without a float32 tensor are always errors.
func ApplyState(params []*Param, tensors map[string]*tensor.Dense, strict bool) (*LoadReport, error) {
	if err := CheckFinite(tensors); err != nil {
		return nil, fmt.Errorf("nn: apply state: %w", err)
	}
	rep := &LoadReport{}
	type pair struct{ dst, src []float32 }
	var copies []pair
	seen := make(map[string]bool, len(params))
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("nn: apply state: Param %d is nil", i)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("nn: apply state: Param name %q appears twice", p.Name)
		}
		seen[p.Name] = true
		dst, pshape, err := denseFloat32s(p.Value)
		if err != nil {
			return nil, fmt.Errorf("nn: apply state: Param %q: %w", p.Name, err)
		}
		t, ok := tensors[p.Name]
		if !ok {
			rep.Missing = append(rep.Missing, p.Name)
			continue
		}
		src, fshape, err := denseFloat32s(t)
		if err != nil {
			return nil, fmt.Errorf("nn: apply state: tensor %q: %w", p.Name, err)
		}
		if !sameStateShape(pshape, fshape) {
			rep.Mismatched = append(rep.Mismatched, ShapeMismatch{Name: p.Name, Param: pshape, File: fshape})
			continue
		}
		copies = append(copies, pair{dst, src})
		rep.Loaded = append(rep.Loaded, p.Name)
	}
	for _, name := range sortedKeys(tensors) {
		if !seen[name] {
			rep.Unexpected = append(rep.Unexpected, name)
		}
	}
	if strict && !rep.OK() {
		rep.Loaded = nil
		return rep, fmt.Errorf("nn: apply state (strict): nothing loaded: %s", rep.problems())
	}
	for _, c := range copies {
		copy(c.dst, c.src)
	}
	return rep, nil
}

// CheckFinite reports an error naming every float32 tensor of tensors that
// holds a NaN or an infinity, with the first such value and its flat index.
// A model loaded from such a file would train or predict NaN, so loading
// (LoadCheckpoint, LoadState, ApplyState and what calls them) refuses
// it.
func CheckFinite(tensors map[string]*tensor.Dense) error {
	var bad []string
	for _, name := range sortedKeys(tensors) {
		t := tensors[name]
		if t == nil || t.Dtype() != tensor.Float32 {
			continue
		}
		count := 0
		first := -1
		for i, v := range t.Float32s() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				if count == 0 {
					first = i
				}
				count++
			}
		}
		if count > 0 {
			bad = append(bad, fmt.Sprintf("%q (%d of %d values, the first %v at index %d)", name, count, t.Shape().TotalSize(), t.Float32s()[first], first))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("non-finite values in %d tensor(s): %s", len(bad), listNames(bad))
	}
	return nil
}

// ParamTensors maps each Param's name to its tensor (shared, not copied),
// for SaveCheckpoint. Duplicate names are an error.
func ParamTensors(params []*Param) (map[string]*tensor.Dense, error) {
	out := make(map[string]*tensor.Dense, len(params))
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("nn: param tensors: Param %d is nil", i)
		}
		if _, dup := out[p.Name]; dup {
			return nil, fmt.Errorf("nn: param tensors: duplicate name %q", p.Name)
		}
		out[p.Name] = p.Value
	}
	return out, nil
}

// WithPrefix returns a copy of m with prefix added to every name, to keep
// several state dicts (a model's, an optimiser's) in one checkpoint.
func WithPrefix(prefix string, m map[string]*tensor.Dense) map[string]*tensor.Dense {
	out := make(map[string]*tensor.Dense, len(m))
	for k, v := range m {
		out[prefix+k] = v
	}
	return out
}

// SplitPrefix undoes WithPrefix: under holds the entries of m whose names
// start with prefix, with prefix removed, and rest all the others.
func SplitPrefix(prefix string, m map[string]*tensor.Dense) (under, rest map[string]*tensor.Dense) {
	under, rest = map[string]*tensor.Dense{}, map[string]*tensor.Dense{}
	for k, v := range m {
		if name, ok := strings.CutPrefix(k, prefix); ok {
			under[name] = v
		} else {
			rest[k] = v
		}
	}
	return under, rest
}
