package blas

import (
	"syscall"
	"testing"
	"unsafe"
)

// guardedBuf returns a zeroed slice of n values that ends where a page that
// may not be read begins, so that an assembly kernel's load past the end
// faults. The pages are unmapped when the test ends.
func guardedBuf(t *testing.T, n int) []float32 {
	page := syscall.Getpagesize()
	size := (4*n+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	all := unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), (size-page)/4)
	return all[len(all)-n:]
}
