package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// fakeAddr is a non-zero address for purego.RegisterFunc, which only checks
// the Go signature; the function is never called.
const fakeAddr = uintptr(0x1000)

// TestTablesBind registers every function of the three tables against a fake
// address: each field is tagged, symbols are unique, and purego accepts
// every signature (argument kinds, counts and stack use).
func TestTablesBind(t *testing.T) {
	for _, table := range []any{&Driver{}, &CUBLAS{}, &CUDNN{}} {
		name := reflect.TypeOf(table).Elem().Name()
		seen := map[string]bool{}
		var looked []string
		lookup := func(sym string) (uintptr, error) {
			looked = append(looked, sym)
			return fakeAddr, nil
		}
		if err := bind(name, lookup, table); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v := reflect.ValueOf(table).Elem()
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Type.Kind() != reflect.Func {
				continue
			}
			sym := f.Tag.Get("sym")
			if sym == "" {
				t.Errorf("%s.%s has no sym tag", name, f.Name)
				continue
			}
			if seen[sym] {
				t.Errorf("%s: symbol %s bound twice", name, sym)
			}
			seen[sym] = true
			if v.Field(i).IsNil() {
				t.Errorf("%s.%s (%s) was not bound", name, f.Name, sym)
			}
		}
		if len(looked) != len(seen) {
			t.Errorf("%s: looked up %d symbols, %d tagged", name, len(looked), len(seen))
		}
	}
}

// TestVersionedSymbols pins the driver symbols that cuda.h maps to versioned
// names: binding the unversioned ones would call the CUDA 3 ABI.
func TestVersionedSymbols(t *testing.T) {
	want := map[string]string{
		"MemAlloc": "cuMemAlloc_v2", "MemFree": "cuMemFree_v2", "MemGetInfo": "cuMemGetInfo_v2",
		"MemcpyHtoD": "cuMemcpyHtoD_v2", "MemcpyDtoH": "cuMemcpyDtoH_v2", "MemcpyDtoDAsync": "cuMemcpyDtoDAsync_v2",
		"DeviceTotalMem": "cuDeviceTotalMem_v2", "DevicePrimaryCtxRelease": "cuDevicePrimaryCtxRelease_v2",
		"StreamDestroy": "cuStreamDestroy_v2",
	}
	ty := reflect.TypeOf(Driver{})
	for field, sym := range want {
		f, ok := ty.FieldByName(field)
		if !ok || f.Tag.Get("sym") != sym {
			t.Errorf("Driver.%s is bound to %q, want %q", field, f.Tag.Get("sym"), sym)
		}
	}
	bt := reflect.TypeOf(CUBLAS{})
	for _, f := range []string{"Create", "Destroy", "SetStream", "Sgemm", "GetVersion"} {
		sf, _ := bt.FieldByName(f)
		if !strings.HasSuffix(sf.Tag.Get("sym"), "_v2") {
			t.Errorf("CUBLAS.%s is bound to %q, want the _v2 symbol", f, sf.Tag.Get("sym"))
		}
	}
}

func TestBindMissingSymbol(t *testing.T) {
	var table struct {
		A func() int32 `sym:"a"`
		B func() int32 `sym:"b"`
		C func() int32 `sym:"c,optional"`
	}
	lookup := func(sym string) (uintptr, error) {
		if sym == "a" {
			return fakeAddr, nil
		}
		return 0, errors.New("undefined symbol")
	}
	err := bind("libx.so", lookup, &table)
	if err == nil || err.Error() != "cuda: libx.so lacks b (wrong version?)" {
		t.Fatalf("bind error %v, want one naming b only", err)
	}
	if table.C != nil {
		t.Error("optional missing symbol was bound")
	}
}

func TestBindBadSignature(t *testing.T) {
	var table struct {
		A func(m map[int]int) int32 `sym:"a"`
	}
	err := bind("libx.so", func(string) (uintptr, error) { return fakeAddr, nil }, &table)
	if err == nil || !strings.Contains(err.Error(), "libx.so: a:") {
		t.Fatalf("bind error %v, want a recovered purego panic naming a", err)
	}
}

// TestConvPerfLayout checks ConvPerf against the C struct: int algo, int
// status, float time, (padding), size_t memory at offset 16, int
// determinism, int mathType, int reserved[3]; 48 bytes in all.
func TestConvPerfLayout(t *testing.T) {
	var p ConvPerf
	if s := unsafe.Sizeof(p); s != 48 {
		t.Errorf("sizeof ConvPerf = %d, want 48", s)
	}
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Status", unsafe.Offsetof(p.Status), 4},
		{"Time", unsafe.Offsetof(p.Time), 8},
		{"Memory", unsafe.Offsetof(p.Memory), 16},
		{"Determinism", unsafe.Offsetof(p.Determinism), 24},
		{"MathType", unsafe.Offsetof(p.MathType), 28},
		{"Reserved", unsafe.Offsetof(p.Reserved), 32},
	} {
		if c.got != c.want {
			t.Errorf("offset of %s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// fakeFS is a finder over a map of existing files; open succeeds for paths
// in loadable and fails otherwise, and records what was opened.
type fakeFS struct {
	root     string
	env      map[string]string
	files    map[string]bool
	loadable map[string]bool
	opened   []string
}

func (fs *fakeFS) finder() finder {
	return finder{
		getenv: func(k string) string { return fs.env[k] },
		glob:   filepath.Glob,
		exists: func(p string) bool { return fs.files[p] },
		open: func(p string) (uintptr, error) {
			fs.opened = append(fs.opened, p)
			if fs.loadable[p] {
				return 1, nil
			}
			return 0, fmt.Errorf("%s: cannot open shared object file", p)
		},
		home: fs.root + "/home/u",
		root: fs.root,
	}
}

// mkfile creates a real (empty) file under root, for the globs, and marks it
// as existing and loadable.
func (fs *fakeFS) mkfile(t *testing.T, rel string, loadable bool) string {
	t.Helper()
	p := filepath.Join(fs.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fs.files[p] = true
	if loadable {
		fs.loadable[p] = true
	}
	return p
}

func newFakeFS(t *testing.T) *fakeFS {
	return &fakeFS{root: t.TempDir(), env: map[string]string{}, files: map[string]bool{}, loadable: map[string]bool{}}
}

func TestNotFoundMessage(t *testing.T) {
	fs := newFakeFS(t)
	_, err := fs.finder().find([]string{"libcuda.so.1"}, nil)
	if err == nil {
		t.Fatal("found a library in an empty file system")
	}
	msg := err.Error()
	for _, want := range []string{
		"cuda: libcuda.so.1 not found (searched ",
		"VIDSSL_CUDA_LIB_DIR (unset)",
		"the dynamic linker's path",
		fs.root + "/usr/local/cuda/lib64",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if !IsNotFound(err) {
		t.Errorf("IsNotFound(%v) = false", err)
	}
	fs.env[LibDirEnv] = "/opt/a:/opt/b"
	_, err = fs.finder().find([]string{"libcublas.so.13", "libcublas.so.12"}, nil)
	if err == nil || !strings.Contains(err.Error(), "libcublas.so.13 or libcublas.so.12 not found") ||
		!strings.Contains(err.Error(), "VIDSSL_CUDA_LIB_DIR=/opt/a:/opt/b") {
		t.Errorf("error %v does not name both files and the variable's directories", err)
	}
}

// TestFindPythonWheel finds cuDNN in a pip install's nvidia/cudnn/lib and
// opens its sub-libraries from there first.
func TestFindPythonWheel(t *testing.T) {
	fs := newFakeFS(t)
	dir := "usr/local/lib/python3.11/dist-packages/nvidia/cudnn/lib"
	graph := fs.mkfile(t, dir+"/libcudnn_graph.so.9", true)
	cnn := fs.mkfile(t, dir+"/libcudnn_cnn.so.9", true)
	main := fs.mkfile(t, dir+"/libcudnn.so.9", true)
	lib, err := fs.finder().find([]string{"libcudnn.so.9"}, dnnCompanions)
	if err != nil {
		t.Fatal(err)
	}
	if lib.path != main {
		t.Errorf("found %s, want %s", lib.path, main)
	}
	// The bare name goes to the dynamic linker first, then the companions in
	// dependency order, then the library itself.
	want := []string{"libcudnn.so.9", graph, cnn, main}
	if !reflect.DeepEqual(fs.opened, want) {
		t.Errorf("opened %v, want %v", fs.opened, want)
	}
}

func TestFindUserSitePackagesAndVenv(t *testing.T) {
	fs := newFakeFS(t)
	user := fs.mkfile(t, "home/u/.local/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12", true)
	lib, err := fs.finder().find(blasNames(12040), blasCompanions)
	if err != nil || lib.path != user {
		t.Fatalf("find = %v, %v; want %s", lib, err, user)
	}
	fs.env["VIRTUAL_ENV"] = filepath.Join(fs.root, "venv")
	venv := fs.mkfile(t, "venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13", true)
	lib, err = fs.finder().find(blasNames(13000), blasCompanions)
	if err != nil || lib.path != venv {
		t.Fatalf("find = %v, %v; want %s", lib, err, venv)
	}
}

// TestFindPythonOnPath: a virtual environment whose bin is on PATH (as in
// images that put /opt/torch/.venv/bin first) is searched without VIRTUAL_ENV.
func TestFindPythonOnPath(t *testing.T) {
	fs := newFakeFS(t)
	fs.mkfile(t, "opt/torch/.venv/bin/python3", true)
	want := fs.mkfile(t, "opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9", true)
	fs.env["PATH"] = filepath.Join(fs.root, "usr/bin") + ":" + filepath.Join(fs.root, "opt/torch/.venv/bin")
	lib, err := fs.finder().find([]string{"libcudnn.so.9"}, nil)
	if err != nil || lib.path != want {
		t.Fatalf("find = %v, %v; want %s", lib, err, want)
	}
}

func TestFindEnvDirFirst(t *testing.T) {
	fs := newFakeFS(t)
	envLib := fs.mkfile(t, "custom/libcuda.so.1", true)
	fs.mkfile(t, "usr/lib/x86_64-linux-gnu/libcuda.so.1", true)
	fs.loadable["libcuda.so.1"] = true // the dynamic linker would find one too
	fs.env[LibDirEnv] = filepath.Join(fs.root, "custom")
	lib, err := fs.finder().find([]string{"libcuda.so.1"}, nil)
	if err != nil || lib.path != envLib {
		t.Fatalf("find = %v, %v; want %s", lib, err, envLib)
	}
}

func TestFindSkipsStubs(t *testing.T) {
	fs := newFakeFS(t)
	fs.mkfile(t, "usr/local/cuda/lib64/stubs/libcuda.so.1", true)
	fs.env["LD_LIBRARY_PATH"] = filepath.Join(fs.root, "usr/local/cuda/lib64/stubs")
	if _, err := fs.finder().find([]string{"libcuda.so.1"}, nil); !IsNotFound(err) {
		t.Fatalf("find = %v, want not found (stub libraries do not count)", err)
	}
}

func TestFindUnloadable(t *testing.T) {
	fs := newFakeFS(t)
	p := fs.mkfile(t, "usr/lib64/libcudnn.so.9", false)
	_, err := fs.finder().find([]string{"libcudnn.so.9"}, nil)
	if err == nil || IsNotFound(err) || !strings.Contains(err.Error(), "found but not loadable: "+p) {
		t.Fatalf("find = %v, want a load failure naming %s", err, p)
	}
}

func TestBLASNames(t *testing.T) {
	if got := blasNames(12080); got[0] != "libcublas.so.12" {
		t.Errorf("blasNames(12080) = %v, want .12 first", got)
	}
	if got := blasNames(13000); got[0] != "libcublas.so.13" {
		t.Errorf("blasNames(13000) = %v, want .13 first", got)
	}
	if got := blasCompanions("libcublas.so.13"); !reflect.DeepEqual(got, []string{"libcublasLt.so.13"}) {
		t.Errorf("blasCompanions = %v", got)
	}
}

// TestLoadHere loads the real libraries: on a machine without CUDA the result
// is a clear not-found error, never a panic.
func TestLoadHere(t *testing.T) {
	_, _, _, err := Libraries()
	if err == nil {
		t.Skip("CUDA libraries are installed here")
	}
	t.Logf("Libraries() = %v", err)
	if !strings.HasPrefix(err.Error(), "cuda: ") {
		t.Errorf("error %q does not start with \"cuda: \"", err)
	}
	if _, err := Open(0); err == nil {
		t.Error("Open(0) succeeded without libraries")
	}
}

func TestStatusErrors(t *testing.T) {
	var drv Driver // no GetErrorName: the code is still named
	err := drv.Check("cuMemAlloc_v2", ErrOutOfMemory)
	if err == nil || err.Error() != "cuda: cuMemAlloc_v2: CUresult 2 (2)" {
		t.Errorf("driver error %v", err)
	}
	if drv.Check("cuInit", Success) != nil {
		t.Error("CUDA_SUCCESS is an error")
	}
	var blas CUBLAS
	err = blas.Check("cublasSgemm_v2", 3)
	if err == nil || !strings.Contains(err.Error(), "CUBLAS_STATUS_ALLOC_FAILED (3)") || !IsOutOfMemory(err) {
		t.Errorf("cublas error %v, want an out-of-memory CUBLAS_STATUS_ALLOC_FAILED", err)
	}
	var dnn *CUDNN
	err = dnn.Check("cudnnConvolutionForward", 3000)
	if err == nil || err.Error() != "cuda: cudnnConvolutionForward: CUDNN_STATUS_NOT_SUPPORTED (3000)" {
		t.Errorf("cudnn error %v", err)
	}
	if IsOutOfMemory(err) {
		t.Error("NOT_SUPPORTED counted as out of memory")
	}
	if !IsOutOfMemory(fmt.Errorf("wrapped: %w", &Error{Name: "CUDA_ERROR_OUT_OF_MEMORY"})) {
		t.Error("wrapped CUDA_ERROR_OUT_OF_MEMORY not seen")
	}
}

func TestWorkerPanicAndClose(t *testing.T) {
	cleaned := false
	w, err := startWorker(func() error { return nil }, func() { cleaned = true })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.do(func() error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panic in job gave %v", err)
	}
	want := errors.New("job error")
	if err := w.do(func() error { return want }); err != want {
		t.Errorf("do returned %v, want the job's error", err)
	}
	w.close()
	w.close() // twice is fine
	if !cleaned {
		t.Error("cleanup did not run")
	}
	if err := w.do(func() error { return nil }); err != ErrClosed {
		t.Errorf("do after close = %v, want ErrClosed", err)
	}
}

func TestWorkerInitError(t *testing.T) {
	want := errors.New("no device")
	if _, err := startWorker(func() error { return want }, nil); err != want {
		t.Errorf("startWorker = %v, want the init error", err)
	}
}
