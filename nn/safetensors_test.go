package nn

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/golden"
)

// stBits returns the bit patterns of a tensor's data, for exact comparisons
// that tell NaNs and signed zeros apart.
func stBits(t *testing.T, d *tensor.Dense) []uint32 {
	t.Helper()
	data, _, err := denseFloat32s(d)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint32, len(data))
	for i, v := range data {
		out[i] = math.Float32bits(v)
	}
	return out
}

func stDense(shape []int, data ...float32) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// stFile assembles a safetensors file from a header and data.
func stFile(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func stRead(b []byte) (*Checkpoint, error) {
	return ReadSafetensors(bytes.NewReader(b), int64(len(b)))
}

// stRoundTripTensors covers shapes, special values and names.
func stRoundTripTensors() map[string]*tensor.Dense {
	nan := math.Float32frombits(0x7fc00123) // a NaN with a payload
	return map[string]*tensor.Dense{
		"stem.0.weight":                   stDense([]int{2, 1, 1, 2, 3}, 1, -2, 3.5, 1e-45, -0.0, 3.4028235e38, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
		"stem.1.running_var":              stDense([]int{3}, nan, float32(math.Inf(1)), float32(math.Inf(-1))),
		"stem.1.num_batches_tracked":      stDense([]int{1}, 123456),
		"layer1.0.bn.num_batches_tracked": stDense([]int{2}, -7, 1<<40),
		"fc.bias":                         stDense(nil, 0.25),
		`odd "name" <&> é`:                stDense([]int{1, 1}, 42),
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	in := stRoundTripTensors()
	meta := map[string]string{"epoch": "12", "format": "pt", "quote\"d": "a\nb\\c <&> é 日本"}
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, in, meta); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	n := binary.LittleEndian.Uint64(raw)
	if n%8 != 0 || raw[8] != '{' || !bytes.HasPrefix(raw[8:], []byte(`{"__metadata__":{"epoch":"12"`)) {
		t.Errorf("header (length %d) starts %q", n, raw[8:min(len(raw), 48)])
	}
	if !json.Valid(raw[8 : 8+n]) {
		t.Errorf("header is not valid JSON: %q", raw[8:8+n])
	}
	ck, err := stRead(raw)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta, ck.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if len(ck.Tensors) != len(in) {
		t.Fatalf("read %d tensors, wrote %d", len(ck.Tensors), len(in))
	}
	for name, want := range in {
		got := ck.Tensors[name]
		if got == nil {
			t.Fatalf("%q not read back", name)
		}
		wantShape := []int(want.Shape())
		wantDType := "F32"
		if strings.HasSuffix(name, "num_batches_tracked") {
			wantDType = "I64"
			if want.Shape().TotalSize() == 1 {
				wantShape = []int{}
			}
		}
		if diff := cmp.Diff(wantShape, []int(got.Shape()), cmp.Comparer(func(a, b []int) bool { return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b)) })); diff != "" {
			t.Errorf("%q shape (-want +got):\n%s", name, diff)
		}
		if ck.DTypes[name] != wantDType {
			t.Errorf("%q dtype %s, want %s", name, ck.DTypes[name], wantDType)
		}
		if diff := cmp.Diff(stBits(t, want), stBits(t, got)); diff != "" {
			t.Errorf("%q bits (-want +got):\n%s", name, diff)
		}
	}
	// Writing what was read gives the same bytes.
	var again bytes.Buffer
	if err := WriteSafetensors(&again, ck.Tensors, ck.Metadata); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, again.Bytes()) {
		t.Errorf("second write differs from the first")
	}
}

func TestSafetensorsWriteErrors(t *testing.T) {
	cases := []struct {
		tensors map[string]*tensor.Dense
		meta    map[string]string
		want    string
	}{
		{map[string]*tensor.Dense{"a.num_batches_tracked": stDense([]int{1}, 1.5)}, nil, `"a.num_batches_tracked": value 1.5 at index 0 is not an int64`},
		{map[string]*tensor.Dense{"a.num_batches_tracked": stDense([]int{1}, float32(math.Inf(1)))}, nil, "not an int64"},
		{map[string]*tensor.Dense{"a.num_batches_tracked": stDense([]int{1}, 1<<63)}, nil, "not an int64"},
		{map[string]*tensor.Dense{"__metadata__": stDense([]int{1}, 1)}, nil, `invalid tensor name "__metadata__"`},
		{map[string]*tensor.Dense{"": stDense([]int{1}, 1)}, nil, `invalid tensor name ""`},
		{map[string]*tensor.Dense{"bad\xff": stDense([]int{1}, 1)}, nil, "invalid tensor name"},
		{map[string]*tensor.Dense{"x": nil}, nil, `tensor "x": tensor is nil`},
		{map[string]*tensor.Dense{"x": tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, 2}))}, nil, `tensor "x": dtype float64`},
		{nil, map[string]string{"k": "\xff"}, `metadata "k" is not valid UTF-8`},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		err := WriteSafetensors(&buf, c.tensors, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("WriteSafetensors: %v, want %q", err, c.want)
		}
		if buf.Len() != 0 {
			t.Errorf("WriteSafetensors wrote %d bytes before failing", buf.Len())
		}
	}
}

// TestSafetensorsTorchFile reads the file make_golden.py wrote with PyTorch.
func TestSafetensorsTorchFile(t *testing.T) {
	ck, err := LoadCheckpoint(filepath.Join("testdata", "optim", "torch.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := golden.Load(filepath.Join("testdata", "optim", "torch_safetensors.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantDTypes := map[string]string{
		"stem.0.weight": "F32", "stem.1.running_var": "F16", "stem.1.num_batches_tracked": "I64",
		"layer1.0.conv1.0.weight": "BF16", "fc.weight": "F64", "fc.bias": "F32", "counts": "I64", "half.special": "F16",
	}
	if diff := cmp.Diff(wantDTypes, ck.DTypes); diff != "" {
		t.Errorf("dtypes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"format": "pt", "epoch": "7", "note": "made by make_golden.py"}, ck.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	for name, w := range want {
		got := ck.Tensors[name]
		if got == nil {
			t.Errorf("%q missing", name)
			continue
		}
		if len(w.Shape) != got.Shape().Dims() || (len(w.Shape) > 0 && !cmp.Equal(w.Shape, []int(got.Shape()))) {
			t.Errorf("%q shape %v, want %v", name, got.Shape(), w.Shape)
		}
		wt := stDense(w.Shape, w.Float32()...)
		if diff := cmp.Diff(stBits(t, wt), stBits(t, got)); diff != "" {
			t.Errorf("%q bits (-want +got):\n%s", name, diff)
		}
	}
	// torchvision's scalar counter loads into our one-element buffer.
	nbt := NewBuffer("stem.1.num_batches_tracked", 1)
	rep, err := ApplyState([]*Param{nbt}, ck.Tensors, false)
	if err != nil || len(rep.Loaded) != 1 || nbt.Data()[0] != 1234 {
		t.Errorf("num_batches_tracked: %v, %v, value %v", rep, err, nbt.Data())
	}
}

// goSafetensorsValues are the tensors of go.safetensors; make_golden.py's
// go_values makes the same.
func goSafetensorsValues() (map[string]*tensor.Dense, map[string]string) {
	w := make([]float32, 24)
	for i := range w {
		w[i] = float32(i)/8 - 1
	}
	return map[string]*tensor.Dense{
		"a.weight":               stDense([]int{2, 3, 4}, w...),
		"a.bias":                 stDense([]int{4}, 0.5, -2, 3.0e-38, 1.0e38),
		"bn.num_batches_tracked": stDense([]int{1}, 42),
		"scalar":                 stDense(nil, -1.5),
	}, map[string]string{"epoch": "3", "note": "vidssl <go> & \"quotes\" é"}
}

// TestSafetensorsGoFile checks our writer against go.safetensors, which
// make_golden.py read and checked against the reference layout. Set
// VIDSSL_UPDATE_GOLDEN=1 to rewrite it.
func TestSafetensorsGoFile(t *testing.T) {
	tensors, meta := goSafetensorsValues()
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "optim", "go.safetensors")
	if os.Getenv("VIDSSL_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("WriteSafetensors differs from %s:\n got %q\nwant %q", path, buf.Bytes(), want)
	}
}

func TestSafetensorsDTypes(t *testing.T) {
	le := binary.LittleEndian
	var data []byte
	header := `{`
	add := func(name, dtype, shape string, b []byte) {
		if header != `{` {
			header += ","
		}
		header += `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":[` +
			jsonInt(len(data)) + `,` + jsonInt(len(data)+len(b)) + `]}`
		data = append(data, b...)
	}
	f64 := make([]byte, 16)
	le.PutUint64(f64, math.Float64bits(0.1))
	le.PutUint64(f64[8:], math.Float64bits(-1e300))
	add("f64", "F64", "[2]", f64)
	// F16: 1, -2, smallest subnormal, largest subnormal, 65504, -inf, NaN, -0.
	f16 := []uint16{0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0xfc00, 0x7e00, 0x8000}
	b16 := make([]byte, 2*len(f16))
	for i, v := range f16 {
		le.PutUint16(b16[2*i:], v)
	}
	add("f16", "F16", "[2,4]", b16)
	add("bf16", "BF16", "[2]", []byte{0x80, 0x3f, 0x49, 0xc0}) // 1, -3.140625
	i64 := make([]byte, 16)
	minus5 := int64(-5)
	le.PutUint64(i64, uint64(minus5))
	le.PutUint64(i64[8:], 1<<53+1)
	add("i64", "I64", "[2]", i64)
	add("i32", "I32", "[1]", []byte{0xfe, 0xff, 0xff, 0xff})
	add("i16", "I16", "[1]", []byte{0x00, 0x80})
	add("i8", "I8", "[1]", []byte{0xff})
	add("u8", "U8", "[1]", []byte{0xff})
	add("u16", "U16", "[1]", []byte{0xff, 0xff})
	add("u32", "U32", "[1]", []byte{0x01, 0x00, 0x00, 0x80})
	add("u64", "U64", "[1]", []byte{0, 0, 0, 0, 0, 0, 0, 0x80})
	add("bool", "BOOL", "[3]", []byte{0, 1, 7})
	header += "}"
	ck, err := stRead(stFile(header, data))
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	want := map[string][]float32{
		"f64":  {0.1, float32(math.Inf(-1))},
		"f16":  {1, -2, 5.9604645e-08, 6.097555e-05, 65504, float32(math.Inf(-1)), nan, float32(math.Copysign(0, -1))},
		"bf16": {1, -3.140625},
		"i64":  {-5, 1 << 53},
		"i32":  {-2}, "i16": {-32768}, "i8": {-1}, "u8": {255}, "u16": {65535}, "u32": {1<<31 + 1},
		"u64": {1 << 63}, "bool": {0, 1, 1},
	}
	for name, w := range want {
		got, _, err := denseFloat32s(ck.Tensors[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(w, got, cmp.Comparer(func(a, b float32) bool {
			return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
		})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if ck.DTypes["bf16"] != "BF16" || len(ck.Metadata) != 0 {
		t.Errorf("dtypes %v, metadata %v", ck.DTypes, ck.Metadata)
	}
	if got := []int(ck.Tensors["f16"].Shape()); !cmp.Equal(got, []int{2, 4}) {
		t.Errorf("f16 shape %v", got)
	}
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSafetensorsReadErrors(t *testing.T) {
	f32 := func(name, shape, offsets string) string {
		return `"` + name + `":{"dtype":"F32","shape":` + shape + `,"data_offsets":` + offsets + `}`
	}
	lenOnly := func(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
	cases := []struct {
		what string
		file []byte
		want string
	}{
		{"empty", nil, "file of 0 bytes is too short"},
		{"short", []byte{1, 2, 3}, "file of 3 bytes is too short"},
		{"header past end", append(lenOnly(100), `{}`...), "header length 100 is larger than the file (10 bytes)"},
		{"huge header", append(lenOnly(math.MaxUint64), `{}`...), "header length 18446744073709551615 is larger than the file"},
		{"header length 2^63", append(lenOnly(1<<63), `{}`...), "is larger than the file"},
		{"no brace", stFile(`[1,2]   `, nil), "does not start with '{'"},
		{"zero header", stFile(``, nil), "does not start with '{'"},
		{"bad json", stFile(`{"a":{`, nil), "header JSON"},
		{"bad utf8", stFile("{\"\xff\":1}", nil), "not valid UTF-8"},
		{"trailing", stFile(`{}  x`, nil), "followed by 1 bytes"},
		{"entry not object", stFile(`{"a":3}`, nil), `tensor "a": header entry is 3`},
		{"duplicate", stFile(`{`+f32("a", "[1]", "[0,4]")+`,`+f32("a", "[1]", "[4,8]")+`}`, make([]byte, 8)), `header names "a" twice`},
		{"duplicate field", stFile(`{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a": header entry names "dtype" twice`},
		{"duplicate metadata", stFile(`{"__metadata__":{"k":"1","k":"2"}}`, nil), `__metadata__ names "k" twice`},
		{"metadata value", stFile(`{"__metadata__":{"k":1}}`, nil), `__metadata__ "k" is 1, want a string`},
		{"metadata array", stFile(`{"__metadata__":[1]}`, nil), `__metadata__ is [`},
		{"no dtype", stFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a" has no dtype`},
		{"no shape", stFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a" has no shape`},
		{"null shape", stFile(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a" has no shape`},
		{"no offsets", stFile(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), `tensor "a" has no data_offsets`},
		{"three offsets", stFile(`{`+f32("a", "[1]", "[0,4,8]")+`}`, make([]byte, 4)), `tensor "a": data_offsets has 3 values`},
		{"negative offset", stFile(`{`+f32("a", "[1]", "[-4,0]")+`}`, make([]byte, 4)), `tensor "a": data_offsets`},
		{"float dim", stFile(`{`+f32("a", "[1.5]", "[0,4]")+`}`, make([]byte, 4)), `tensor "a": shape`},
		{"negative dim", stFile(`{`+f32("a", "[-1]", "[0,4]")+`}`, make([]byte, 4)), `tensor "a": invalid dimension -1`},
		{"unknown dtype", stFile(`{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a": unknown dtype "Q7"`},
		{"f8", stFile(`{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a": unsupported dtype F8_E4M3`},
		{"size mismatch", stFile(`{`+f32("a", "[2]", "[0,6]")+`}`, make([]byte, 6)), `tensor "a": dtype F32 and shape [2] need 8 bytes, data_offsets [0, 6] hold 6`},
		{"f16 size", stFile(`{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), `tensor "a": dtype F16 and shape [3] need 6 bytes`},
		{"reversed", stFile(`{`+f32("a", "[1]", "[4,0]")+`}`, make([]byte, 4)), `tensor "a": data_offsets [4, 0] end before they begin`},
		{"past end", stFile(`{`+f32("a", "[4]", "[0,16]")+`}`, make([]byte, 8)), `tensor "a": data_offsets [0, 16] run past the end of the data (8 bytes)`},
		{"huge end", stFile(`{`+f32("a", "[4]", "[0,18446744073709551615]")+`}`, make([]byte, 8)), `tensor "a": data_offsets [0, 18446744073709551615] run past the end`},
		{"huge shape", stFile(`{`+f32("a", "[4294967296,4294967296]", "[0,16]")+`}`, make([]byte, 16)), `tensor "a": shape [4294967296 4294967296] has more elements`},
		{"overlap", stFile(`{`+f32("a", "[2]", "[0,8]")+`,`+f32("b", "[2]", "[4,12]")+`}`, make([]byte, 12)), `tensor "b": data_offsets [4, 12] overlap tensor "a"`},
		{"gap", stFile(`{`+f32("a", "[1]", "[0,4]")+`,`+f32("b", "[1]", "[8,12]")+`}`, make([]byte, 12)), `tensor "b": data_offsets [8, 12] leave a gap of 4 bytes`},
		{"uncovered", stFile(`{`+f32("a", "[1]", "[0,4]")+`}`, make([]byte, 12)), "tensors cover 4 bytes of data, the file holds 12"},
		{"zero size", stFile(`{`+f32("a", "[0,3]", "[0,0]")+`}`, nil), `tensor "a": shape [0 3] has no elements`},
	}
	for _, c := range cases {
		ck, err := stRead(c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.what, err, c.want)
		}
		if ck != nil {
			t.Errorf("%s: a Checkpoint with the error", c.what)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "nn: safetensors: ") {
			t.Errorf("%s: error %q lacks the prefix", c.what, err)
		}
	}
	// A reader that holds less than the size it was given.
	good := stFile(`{`+f32("a", "[2]", "[0,8]")+`}`, make([]byte, 8))
	_, err := ReadSafetensors(bytes.NewReader(good[:len(good)-3]), int64(len(good)))
	if err == nil || !strings.Contains(err.Error(), `tensor "a"`) || !strings.Contains(err.Error(), "file truncated") {
		t.Errorf("truncated data: %v", err)
	}
	_, err = ReadSafetensors(bytes.NewReader(good[:12]), int64(len(good)))
	if err == nil || !strings.Contains(err.Error(), "reading the") || !strings.Contains(err.Error(), "file truncated") {
		t.Errorf("truncated header: %v", err)
	}
	// Every prefix of a good file is an error, never a panic.
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, stRoundTripTensors(), map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	for n := range buf.Len() {
		if _, err := stRead(buf.Bytes()[:n]); err == nil {
			t.Fatalf("prefix of %d bytes read without error", n)
		}
	}
}

func TestSafetensorsHighRank(t *testing.T) {
	shape := func(rank int) string { return "[" + strings.Repeat("1,", rank-1) + "2]" }
	ck, err := stRead(stFile(`{"a":{"dtype":"F32","shape":`+shape(64)+`,"data_offsets":[0,8]}}`, make([]byte, 8)))
	if err != nil {
		t.Fatal(err)
	}
	if d := ck.Tensors["a"].Shape().Dims(); d != 64 {
		t.Errorf("rank %d, want 64", d)
	}
	_, err = stRead(stFile(`{"a":{"dtype":"F32","shape":`+shape(65)+`,"data_offsets":[0,8]}}`, make([]byte, 8)))
	if err == nil || !strings.Contains(err.Error(), `tensor "a": shape has 65 dimensions, at most 64`) {
		t.Errorf("rank 65: %v", err)
	}
}
