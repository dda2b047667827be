//go:build !amd64

package blas

// simdKernel reports that this architecture has no assembly micro-kernel.
func simdKernel() (k kernel, name string, ok bool) { return kernel{}, "", false }

// allKernels lists every micro-kernel this CPU can run, by name.
func allKernels() map[string]kernel { return map[string]kernel{"generic": genericKernel} }

// namedKernel reports that this architecture has no kernel to force by name.
func namedKernel(name string) (k kernel, ok bool) { return kernel{}, false }
