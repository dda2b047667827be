package nn

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gorgonia.org/tensor"
)

// ckptModel returns a small model's Params with distinct values.
func ckptModel() []*Param {
	w := NewParam("layer.0.weight", 2, 3)
	b := NewParam("layer.0.bias", 2)
	rm := NewBuffer("layer.1.running_mean", 2)
	nbt := NewBuffer("layer.1.num_batches_tracked", 1)
	for i := range w.Data() {
		w.Data()[i] = float32(i) - 2.5
	}
	copy(b.Data(), []float32{0.125, -7})
	copy(rm.Data(), []float32{3, 4})
	nbt.Data()[0] = 17
	return []*Param{w, b, rm, nbt}
}

func ckptData(ps []*Param) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range ps {
		out[p.Name] = append([]float32(nil), p.Data()...)
	}
	return out
}

// ckptDirEntries lists the names in dir.
func ckptDirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCheckpointSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	ps := ckptModel()
	tensors, err := ParamTensors(ps)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{"epoch": "20", "arch": "r3d_18"}
	// Twice: the second save replaces the first.
	for range 2 {
		if err := SaveCheckpoint(path, tensors, meta); err != nil {
			t.Fatal(err)
		}
	}
	if got := ckptDirEntries(t, dir); !cmp.Equal(got, []string{"model.safetensors"}) {
		t.Errorf("directory holds %v", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta, ck.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if ck.DTypes["layer.1.num_batches_tracked"] != "I64" || ck.DTypes["layer.0.weight"] != "F32" {
		t.Errorf("dtypes %v", ck.DTypes)
	}
	fresh := ckptModel()
	for _, p := range fresh {
		Fill(p, -1)
	}
	rep, err := LoadState(path, fresh, true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Loaded) != 4 {
		t.Errorf("report %v", rep)
	}
	if diff := cmp.Diff(ckptData(ps), ckptData(fresh)); diff != "" {
		t.Errorf("loaded Params (-saved +loaded):\n%s", diff)
	}
	if s := rep.String(); s != "4 loaded" {
		t.Errorf("report String %q", s)
	}
}

func TestCheckpointSaveErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	if err := os.WriteFile(path, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := map[string]*tensor.Dense{"bn.num_batches_tracked": stDense([]int{1}, 0.5)}
	err := SaveCheckpoint(path, bad, nil)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "bn.num_batches_tracked") {
		t.Errorf("bad tensor: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "previous" {
		t.Errorf("a failed save changed the file: %q", b)
	}
	// Renaming onto a non-empty directory fails after the data is written:
	// the temporary file must go.
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := map[string]*tensor.Dense{"w": stDense([]int{2}, 1, 2)}
	if err := SaveCheckpoint(sub, good, nil); err == nil {
		t.Errorf("saving over a directory succeeded")
	}
	if got := ckptDirEntries(t, dir); !cmp.Equal(got, []string{"ckpt.safetensors", "sub"}) {
		t.Errorf("directory holds %v after failed saves", got)
	}
	if err := SaveCheckpoint(filepath.Join(dir, "missing", "c.safetensors"), good, nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing directory: %v", err)
	}
}

func TestCheckpointLoadErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.safetensors")
	if err := os.WriteFile(path, stFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCheckpoint(path)
	if err == nil || !strings.Contains(err.Error(), "nn: safetensors "+path+`: tensor "w"`) {
		t.Errorf("broken file: %v", err)
	}
	if _, err := LoadCheckpoint(filepath.Join(dir, "absent")); err == nil {
		t.Errorf("absent file read")
	}
	if _, err := LoadCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := LoadState(path, ckptModel(), false); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadState of a broken file: %v", err)
	}
}

func TestCheckpointApplyState(t *testing.T) {
	src := ckptModel()
	tensors, err := ParamTensors(src)
	if err != nil {
		t.Fatal(err)
	}
	tensors["head.weight"] = stDense([]int{1}, 9)            // unexpected
	tensors["layer.0.bias"] = stDense([]int{3}, 1, 2, 3)     // mismatched
	delete(tensors, "layer.1.running_mean")                  // missing
	tensors["layer.1.num_batches_tracked"] = stDense(nil, 5) // a scalar, as PyTorch's
	dst := ckptModel()
	for _, p := range dst {
		Fill(p, -1)
	}
	before := ckptData(dst)

	rep, err := ApplyState(dst, tensors, true)
	if err == nil {
		t.Fatal("strict load with problems succeeded")
	}
	for _, want := range []string{"nothing loaded", "1 missing: layer.1.running_mean", "1 unexpected: head.weight", "layer.0.bias (model [2], file [3])"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("strict error %q lacks %q", err, want)
		}
	}
	if len(rep.Loaded) != 0 {
		t.Errorf("strict failure reports loaded %v", rep.Loaded)
	}
	if diff := cmp.Diff(before, ckptData(dst)); diff != "" {
		t.Errorf("failed strict load changed Params:\n%s", diff)
	}

	rep, err = ApplyState(dst, tensors, false)
	if err != nil {
		t.Fatal(err)
	}
	want := &LoadReport{
		Loaded:     []string{"layer.0.weight", "layer.1.num_batches_tracked"},
		Missing:    []string{"layer.1.running_mean"},
		Unexpected: []string{"head.weight"},
		Mismatched: []ShapeMismatch{{Name: "layer.0.bias", Param: []int{2}, File: []int{3}}},
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	got := ckptData(dst)
	if diff := cmp.Diff(ckptData(src)["layer.0.weight"], got["layer.0.weight"]); diff != "" {
		t.Errorf("weight not loaded:\n%s", diff)
	}
	if got["layer.1.num_batches_tracked"][0] != 5 || got["layer.0.bias"][0] != -1 || got["layer.1.running_mean"][0] != -1 {
		t.Errorf("Params after non-strict load: %v", got)
	}

	dup := append(ckptModel(), NewParam("layer.0.weight", 2, 3))
	if _, err := ApplyState(dup, tensors, false); err == nil || !strings.Contains(err.Error(), `"layer.0.weight" appears twice`) {
		t.Errorf("duplicate Params: %v", err)
	}
	if _, err := ParamTensors(dup); err == nil {
		t.Errorf("ParamTensors accepted duplicate names")
	}
}

func TestCheckpointReportString(t *testing.T) {
	var names []string
	for i := range 12 {
		names = append(names, string(rune('a'+i)))
	}
	r := &LoadReport{Missing: names}
	if got, want := r.String(), "0 loaded; 12 missing: a, b, c, d, e, f, g, h, i, j, and 2 more"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestCheckpointPrefixes(t *testing.T) {
	m := map[string]*tensor.Dense{"w": stDense([]int{1}, 1), "b": stDense([]int{1}, 2)}
	all := WithPrefix("optim.", m)
	all["model.w"] = stDense([]int{1}, 3)
	under, rest := SplitPrefix("optim.", all)
	if !cmp.Equal(sortedKeys(under), []string{"b", "w"}) || !cmp.Equal(sortedKeys(rest), []string{"model.w"}) {
		t.Errorf("SplitPrefix: %v, %v", sortedKeys(under), sortedKeys(rest))
	}
	if under["w"] != m["w"] {
		t.Errorf("SplitPrefix copied a tensor")
	}
}

// TestCheckpointRefusesNonFinite checks that NaN or an infinity in a
// checkpoint is refused at load, naming the tensors, and leaves Params as
// they were.
func TestCheckpointRefusesNonFinite(t *testing.T) {
	src := ckptModel()
	src[0].Data()[4] = float32(math.NaN())
	src[2].Data()[1] = float32(math.Inf(-1))
	tensors, err := ParamTensors(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nan.safetensors")
	if err := SaveCheckpoint(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
	wantIn := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, s := range []string{`"layer.0.weight" (1 of 6 values, the first NaN at index 4)`, `"layer.1.running_mean" (1 of 2 values, the first -Inf at index 1)`} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q lacks %q", what, err, s)
			}
		}
		if strings.Contains(err.Error(), "layer.0.bias") {
			t.Errorf("%s: error %q names a finite tensor", what, err)
		}
	}
	_, err = LoadCheckpoint(path)
	wantIn("LoadCheckpoint", err)
	if err != nil && !strings.Contains(err.Error(), path) {
		t.Errorf("LoadCheckpoint: error %q does not name the file", err)
	}
	dst := ckptModel()
	_, err = LoadState(path, dst, false)
	wantIn("LoadState", err)
	_, err = ApplyState(dst, tensors, false)
	wantIn("ApplyState", err)
	if dst[1].Data()[1] != -7 {
		t.Errorf("a refused ApplyState changed a Param")
	}
	if err := CheckFinite(map[string]*tensor.Dense{"ok": tensor.New(tensor.WithBacking([]float32{1, 2}))}); err != nil {
		t.Errorf("finite tensor: %v", err)
	}
}
