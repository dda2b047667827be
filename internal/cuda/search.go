package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebitengine/purego"
)

// LibDirEnv names the environment variable that lists (colon-separated)
// directories searched first for the CUDA libraries.
const LibDirEnv = "VIDSSL_CUDA_LIB_DIR"

// finder searches for shared libraries. Its functions are the operating
// system's in production and fakes in tests.
type finder struct {
	getenv func(string) string
	glob   func(string) ([]string, error)
	exists func(string) bool
	open   func(string) (uintptr, error)
	home   string
	// root prefixes the fixed system paths ("" in production), so tests can
	// lay out a fake file system.
	root string
}

// systemFinder returns a finder over the real file system and dlopen.
func systemFinder() finder {
	home, _ := os.UserHomeDir()
	return finder{
		getenv: os.Getenv,
		glob:   filepath.Glob,
		exists: func(p string) bool {
			st, err := os.Stat(p)
			return err == nil && !st.IsDir()
		},
		open: func(p string) (uintptr, error) { return purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL) },
		home: home,
	}
}

// envDirs returns the directories of VIDSSL_CUDA_LIB_DIR.
func (f finder) envDirs() []string { return splitList(f.getenv(LibDirEnv)) }

func splitList(s string) []string {
	var out []string
	for _, d := range strings.Split(s, string(os.PathListSeparator)) {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// systemDirs returns the directories searched after the dynamic linker, in
// order and without duplicates: LD_LIBRARY_PATH, the CUDA toolkit and system
// library directories, and the lib folders of Python nvidia-* wheels (and of
// torch, whose older wheels carry cuDNN) in virtual environments, conda, the
// system and user site-packages. Directories of stub libraries are left out.
func (f finder) systemDirs() []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(ds ...string) {
		for _, d := range ds {
			d = filepath.Clean(d)
			if seen[d] || strings.Contains(d, string(filepath.Separator)+"stubs") {
				continue
			}
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	globs := func(patterns ...string) {
		for _, p := range patterns {
			m, err := f.glob(p)
			if err != nil {
				continue
			}
			// Newer versions sort last; prefer them.
			for i := len(m) - 1; i >= 0; i-- {
				add(m[i])
			}
		}
	}
	add(splitList(f.getenv("LD_LIBRARY_PATH"))...)
	r := f.root
	add(r+"/usr/local/cuda/lib64", r+"/usr/local/cuda/targets/x86_64-linux/lib", r+"/usr/local/cuda/targets/sbsa-linux/lib")
	globs(r+"/usr/local/cuda-*/lib64", r+"/usr/local/cuda-*/targets/*/lib")
	add(r+"/usr/lib/x86_64-linux-gnu", r+"/usr/lib/aarch64-linux-gnu", r+"/usr/lib64", r+"/usr/lib",
		r+"/usr/local/lib", r+"/usr/lib/wsl/lib", r+"/opt/cuda/lib64", r+"/opt/cuda/lib")
	var prefixes []string
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := f.getenv(env); p != "" {
			prefixes = append(prefixes, p)
		}
	}
	// A Python on PATH (a virtual environment's bin, say) names its prefix.
	for _, d := range splitList(f.getenv("PATH")) {
		if filepath.Base(d) == "bin" && f.exists(filepath.Join(d, "python3")) {
			prefixes = append(prefixes, filepath.Dir(d))
		}
	}
	prefixes = append(prefixes, r+"/usr", r+"/usr/local", r+"/opt/conda")
	if f.home != "" {
		prefixes = append(prefixes, f.home+"/.local")
	}
	for _, p := range prefixes {
		for _, sp := range []string{"site-packages", "dist-packages"} {
			globs(p+"/lib/python3*/"+sp+"/nvidia/*/lib", p+"/lib/python3*/"+sp+"/torch/lib")
		}
		globs(p+"/lib/python3/dist-packages/nvidia/*/lib", p+"/lib/python3/dist-packages/torch/lib")
	}
	return dirs
}

// library is an opened shared library.
type library struct {
	name   string // file name that matched, e.g. "libcudnn.so.9"
	path   string // path opened ("libcudnn.so.9" when found by the dynamic linker)
	handle uintptr
	notes  []string // companion libraries that failed to preload
}

// find opens the first of names that can be found, trying each name in turn:
// in VIDSSL_CUDA_LIB_DIR, through the dynamic linker, then in systemDirs.
// Before a library is opened from a directory, the companions that exist in
// the same directory are opened first (RTLD_GLOBAL), so that its
// dependencies and the sub-libraries it loads by name resolve to that
// directory even when it is not on the linker's path.
func (f finder) find(names []string, companions func(name string) []string) (*library, error) {
	env, sys := f.envDirs(), f.systemDirs()
	var failed []string
	for _, name := range names {
		try := func(dir string) *library {
			p := filepath.Join(dir, name)
			if !f.exists(p) {
				return nil
			}
			var notes []string
			if companions != nil {
				for _, c := range companions(name) {
					cp := filepath.Join(dir, c)
					if !f.exists(cp) {
						continue
					}
					if _, err := f.open(cp); err != nil {
						notes = append(notes, fmt.Sprintf("preload %s: %v", cp, err))
					}
				}
			}
			h, err := f.open(p)
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", p, err))
				return nil
			}
			return &library{name: name, path: p, handle: h, notes: notes}
		}
		for _, d := range env {
			if l := try(d); l != nil {
				return l, nil
			}
		}
		if h, err := f.open(name); err == nil {
			return &library{name: name, path: name, handle: h}, nil
		}
		for _, d := range sys {
			if l := try(d); l != nil {
				return l, nil
			}
		}
	}
	what := strings.Join(names, " or ")
	if len(failed) > 0 {
		return nil, fmt.Errorf("cuda: %s found but not loadable: %s", what, strings.Join(failed, "; "))
	}
	return nil, &NotFoundError{Names: names, Searched: f.searched(env, sys)}
}

// searched describes the search, for NotFoundError.
func (f finder) searched(env, sys []string) []string {
	envDesc := LibDirEnv + " (unset)"
	if len(env) > 0 {
		envDesc = LibDirEnv + "=" + strings.Join(env, string(os.PathListSeparator))
	}
	return append([]string{envDesc, "the dynamic linker's path (LD_LIBRARY_PATH, ld.so.cache)"}, sys...)
}

// NotFoundError reports a library that is in none of the searched places.
type NotFoundError struct {
	// Names are the file names looked for, in order of preference.
	Names []string
	// Searched describes the places searched, in order.
	Searched []string
}

// Error names the files and the places searched.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("cuda: %s not found (searched %s)", strings.Join(e.Names, " or "), strings.Join(e.Searched, ", "))
}

// IsNotFound reports whether err says that a CUDA library is not installed
// (as opposed to installed but failing).
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}
