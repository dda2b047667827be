// Package cuda binds the CUDA driver, cuBLAS and cuDNN 9 at run time through
// github.com/ebitengine/purego, so that vidssl builds with CGO_ENABLED=0 and
// uses an NVIDIA GPU when the libraries are present.
//
// The libraries are searched for, in order, in the directories of the
// environment variable VIDSSL_CUDA_LIB_DIR (a colon-separated list), by the
// dynamic linker (LD_LIBRARY_PATH, ld.so.cache), and in the usual CUDA, system
// and Python site-packages directories (the nvidia/*/lib folders that pip's
// nvidia-* wheels install). A library that cannot be found is an error such as
//
//	cuda: libcuda.so.1 not found (searched VIDSSL_CUDA_LIB_DIR (unset), ...)
//
// never a crash: purego panics on a missing symbol, and the loaders recover
// that into an error naming the symbol.
//
// The function tables ([Driver], [CUBLAS], [CUDNN]) are the C functions with
// their exact signatures (from cuda.h, cublas_api.h and cuDNN 9's
// cudnn_graph.h, cudnn_ops.h and cudnn_cnn.h); the enumeration values below
// are copied from the same headers. Calls through them follow the C rules:
// pointers passed in must stay valid for the call, and every call for a device
// must happen on the goroutine that [Device.Do] runs its functions on, which is
// locked to one OS thread with the device's context current.
//
// This package is internal: package gpu builds tensors, kernels and a training
// step on it.
package cuda
