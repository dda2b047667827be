package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// goldenFile is what make.py records about one saved file.
type goldenFile struct {
	Keys    []string `json:"keys"`
	Root    string   `json:"root"`
	Tensors []struct {
		Name  string   `json:"name"`
		DType string   `json:"dtype"`
		Shape []int    `json:"shape"`
		Bits  []uint32 `json:"bits"`
		Ints  []int64  `json:"ints"`
	} `json:"tensors"`
}

func loadGolden(t *testing.T) map[string]goldenFile {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGolden(t *testing.T) {
	for file, want := range loadGolden(t) {
		t.Run(file, func(t *testing.T) {
			f, err := ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.Keys, want.Keys) {
				t.Errorf("Keys = %q, want %q", f.Keys, want.Keys)
			}
			if f.Root != want.Root {
				t.Errorf("Root = %q, want %q", f.Root, want.Root)
			}
			if len(f.All) != len(want.Tensors) {
				t.Fatalf("%d tensors, want %d", len(f.All), len(want.Tensors))
			}
			for i, w := range want.Tensors {
				got := f.All[i]
				if got.Name != w.Name || got.DType != w.DType || !slices.Equal(got.Shape, w.Shape) {
					t.Errorf("tensor %d = %q %s %v, want %q %s %v", i, got.Name, got.DType, got.Shape, w.Name, w.DType, w.Shape)
					continue
				}
				if got.Shape == nil {
					t.Errorf("%s: nil Shape", w.Name)
				}
				bits := make([]uint32, len(got.Data))
				for j, v := range got.Data {
					bits[j] = math.Float32bits(v)
				}
				if !slices.Equal(bits, w.Bits) {
					t.Errorf("%s: data %v, want %v", w.Name, got.Data, bitsToFloats(w.Bits))
				}
				if !slices.Equal(got.Ints, w.Ints) || (got.Ints == nil) != (w.Ints == nil) {
					t.Errorf("%s: ints %v, want %v", w.Name, got.Ints, w.Ints)
				}
			}
			// Tensors is All under Root.
			var names []string
			for _, tt := range f.Tensors {
				names = append(names, tt.Name)
			}
			var wantNames []string
			for _, w := range want.Tensors {
				if want.Root == "" {
					wantNames = append(wantNames, w.Name)
				} else if rest, ok := strings.CutPrefix(w.Name, want.Root+"."); ok {
					wantNames = append(wantNames, rest)
				}
			}
			if !slices.Equal(names, wantNames) {
				t.Errorf("Tensors = %q, want %q", names, wantNames)
			}
		})
	}
}

func bitsToFloats(b []uint32) []float32 {
	out := make([]float32, len(b))
	for i, x := range b {
		out[i] = math.Float32frombits(x)
	}
	return out
}

func TestCheckpoint(t *testing.T) {
	f, err := ReadFile("testdata/checkpoint.pth")
	if err != nil {
		t.Fatal(err)
	}
	n, ok := f.Lookup("stem.1.num_batches_tracked")
	if !ok {
		t.Fatal("no stem.1.num_batches_tracked")
	}
	if n.DType != "int64" || len(n.Shape) != 0 || !slices.Equal(n.Ints, []int64{1}) || !slices.Equal(n.Data, []float32{1}) {
		t.Errorf("num_batches_tracked = %+v", n)
	}
	if _, ok := f.Lookup("state_dict.fc.weight"); ok {
		t.Error("Lookup found a name with the root's prefix")
	}
	opt := f.Under("optimizer.state")
	if len(opt) != 2 || opt[0].Name != "3.momentum_buffer" {
		t.Errorf("Under(optimizer.state) = %v", opt)
	}
	// The same state dict saved bare reads the same.
	bn, err := ReadFile("testdata/bn.pth")
	if err != nil {
		t.Fatal(err)
	}
	if len(bn.Tensors) != len(f.Tensors) {
		t.Fatalf("bn.pth has %d tensors, checkpoint %d", len(bn.Tensors), len(f.Tensors))
	}
	for i := range bn.Tensors {
		a, b := bn.Tensors[i], f.Tensors[i]
		if a.Name != b.Name || !slices.Equal(a.Data, b.Data) || !slices.Equal(a.Shape, b.Shape) {
			t.Errorf("tensor %d: bn.pth %s, checkpoint %s", i, a.Name, b.Name)
		}
	}
}

func TestSharedObject(t *testing.T) {
	// f32 and f32_t share a storage but are different tensors; expand has stride 0.
	f, err := ReadFile("testdata/basic.pth")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := f.Lookup("expand")
	if !slices.Equal(e.Data, []float32{4, 4, 4}) {
		t.Errorf("expand = %v", e.Data)
	}
	s, _ := f.Lookup("scalar")
	if len(s.Shape) != 0 || !slices.Equal(s.Data, []float32{2.5}) {
		t.Errorf("scalar = %v %v", s.Shape, s.Data)
	}
	em, _ := f.Lookup("empty")
	if !slices.Equal(em.Shape, []int{0, 3}) || em.Data == nil || len(em.Data) != 0 {
		t.Errorf("empty = %v %v", em.Shape, em.Data)
	}
}

func TestDeflated(t *testing.T) {
	// torch.save stores entries uncompressed; a re-zipped file reads the same.
	orig, err := os.ReadFile("testdata/bn.pth")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range zr.File {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, rc); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	want, err := read(orig)
	if err != nil {
		t.Fatal(err)
	}
	got, err := read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for i := range want.Tensors {
		if !slices.Equal(got.Tensors[i].Data, want.Tensors[i].Data) {
			t.Errorf("%s differs", want.Tensors[i].Name)
		}
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"legacy.pth", "_use_new_zipfile_serialization=True"},
		{"script.pt", "TorchScript"},
		{"make.py", "not a torch.save zip archive"},
	} {
		_, err := ReadFile(filepath.Join("testdata", tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
			t.Errorf("%s: err = %v, want one naming the file and saying %q", tc.file, err, tc.want)
		}
	}
}

// pickler writes protocol-2 pickles for hand-made test files.
type pickler struct{ b []byte }

func (p *pickler) op(b ...byte) *pickler { p.b = append(p.b, b...); return p }

func (p *pickler) str(s string) *pickler {
	p.b = append(p.b, 'X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
	return p
}

func (p *pickler) int(n int32) *pickler {
	p.b = append(p.b, 'J')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(n))
	return p
}

func (p *pickler) global(module, name string) *pickler {
	return p.op('c').op([]byte(module + "\n" + name + "\n")...)
}

func (p *pickler) ints(v ...int32) *pickler {
	p.op('(')
	for _, x := range v {
		p.int(x)
	}
	return p.op('t')
}

// tensor pushes _rebuild_tensor_v2 of storage key.
func (p *pickler) tensor(storageType, key string, numel, offset int32, size, stride []int32) *pickler {
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", storageType).str(key).str("cpu").int(numel).op('t', 'Q')
	p.int(offset).ints(size...).ints(stride...).op(0x89).op('}').op('t', 'R')
	return p
}

// stateDict is a pickle of OrderedDict{"w": tensor(...)}.
func stateDict(storageType, key string, numel, offset int32, size, stride []int32) []byte {
	p := (&pickler{}).op(0x80, 2).global("collections", "OrderedDict").op(')', 'R')
	p.str("w").tensor(storageType, key, numel, offset, size, stride).op('s', '.')
	return p.b
}

// archive zips data.pkl and the named entries under "archive/".
func archive(t testing.TB, pkl []byte, entries ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/" + name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	add("data.pkl", pkl)
	for i := 0; i+1 < len(entries); i += 2 {
		add(entries[i].(string), entries[i+1].([]byte))
	}
	add("version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func floatsLE(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func read(b []byte) (*File, error) { return Read(bytes.NewReader(b), int64(len(b)), "x.pth") }

func TestHandMade(t *testing.T) {
	data := floatsLE(1, 2, 3, 4, 5, 6)
	f, err := read(archive(t, stateDict("FloatStorage", "0", 6, 1, []int32{2, 2}, []int32{1, 2}), "data/0", data))
	if err != nil {
		t.Fatal(err)
	}
	if w := f.Tensors[0]; !slices.Equal(w.Data, []float32{2, 4, 3, 5}) || !slices.Equal(w.Shape, []int{2, 2}) {
		t.Errorf("w = %v %v", w.Shape, w.Data)
	}

	// byteorder "big" swaps the storage bytes.
	var be []byte
	for _, x := range []float32{1.5, -2} {
		be = binary.BigEndian.AppendUint32(be, math.Float32bits(x))
	}
	f, err = read(archive(t, stateDict("FloatStorage", "0", 2, 0, []int32{2}, []int32{1}), "data/0", be, "byteorder", []byte("big")))
	if err != nil {
		t.Fatal(err)
	}
	if w := f.Tensors[0]; !slices.Equal(w.Data, []float32{1.5, -2}) {
		t.Errorf("big-endian w = %v", w.Data)
	}
}

func TestErrors(t *testing.T) {
	sd := func(numel, offset int32, size, stride []int32) []byte {
		return stateDict("FloatStorage", "0", numel, offset, size, stride)
	}
	data := floatsLE(1, 2, 3, 4)
	evil := (&pickler{}).op(0x80, 2).global("os", "system").str("echo hi").op(0x85, 'R', '.').b
	cyclic := (&pickler{}).op(']', 'q', 0, 'h', 0, 'a', '.').b
	deep := (&pickler{}).op(bytes.Repeat([]byte{']'}, 100)...).op(bytes.Repeat([]byte{'a'}, 99)...).op('.').b
	// BINUNICODE8 of 2^40 bytes: 11 bytes that make a general unpickler
	// (github.com/nlpodyssey/gopickle v0.3.0) allocate 1 TiB before reading.
	long := (&pickler{}).op(0x80, 4, 0x8d, 0, 0, 0, 0, 0, 1, 0, 0).b
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"global", archive(t, evil), `global "os.system" is not allowed`},
		{"numel", archive(t, sd(5, 0, []int32{4}, []int32{1}), "data/0", data), `5 float32 elements claimed but archive/data/0 holds 16 bytes`},
		{"reach", archive(t, sd(4, 1, []int32{2, 2}, []int32{2, 1}), "data/0", data), `tensor "w": size [2 2] and stride [2 1] at offset 1 reach past`},
		{"offset", archive(t, sd(4, 4, []int32{1}, []int32{1}), "data/0", data), `tensor "w": storage offset 4 is past`},
		{"huge", archive(t, sd(4, 0, []int32{1 << 30, 1 << 30}, []int32{0, 0}), "data/0", data), `more elements than the file can fill`},
		{"negative", archive(t, sd(4, 0, []int32{-1}, []int32{1}), "data/0", data), `tensor size 0 is not a non-negative int`},
		{"missing", archive(t, sd(4, 0, []int32{4}, []int32{1})), `no entry archive/data/0`},
		{"dtype", archive(t, stateDict("ComplexFloatStorage", "0", 1, 0, nil, nil), "data/0", data), `"torch.ComplexFloatStorage" is not allowed`},
		{"truncated", archive(t, sd(4, 0, []int32{4}, []int32{1})[:20]), `archive/data.pkl: byte`},
		{"cyclic", archive(t, cyclic), `"0": a container holds itself`},
		{"deep", archive(t, deep), `containers nested deeper than 64`},
		{"long", archive(t, long), `opcode 0x8d: pickle ends early`},
		{"byteorder", archive(t, sd(4, 0, []int32{4}, []int32{1}), "data/0", data, "byteorder", []byte("middle")), `unknown byte order "middle"`},
		{"nopkl", archive(t, nil)[:0], `not a torch.save zip archive`},
	} {
		_, err := read(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "pth: read x.pth: ") {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestR3D18(t *testing.T) {
	path := os.Getenv("VIDSSL_R3D18_PTH")
	if path == "" {
		t.Skip("VIDSSL_R3D18_PTH is not set; make one with: /usr/bin/python3 internal/pth/testdata/make.py --r3d18 /tmp/r3d18.pth")
	}
	b, err := os.ReadFile("testdata/r3d18.json")
	if err != nil {
		t.Fatal(err)
	}
	var want []struct {
		Name  string `json:"name"`
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(want) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(want))
	}
	total := 0
	for i, w := range want {
		got := f.Tensors[i]
		if got.Name != w.Name || got.DType != w.DType || !slices.Equal(got.Shape, w.Shape) {
			t.Errorf("tensor %d = %s %s %v, want %s %s %v", i, got.Name, got.DType, got.Shape, w.Name, w.DType, w.Shape)
		}
		total += len(got.Data)
	}
	t.Logf("%d tensors, %d values", len(f.Tensors), total)
}
