/*
 * A fake CUDA driver (libcuda.so.1) for package gpu's tests on machines
 * without a GPU. "Device memory" is host memory from malloc (filled with NaN
 * bytes, so that reads of unwritten memory show), and cuLaunchKernel runs
 * each of package gpu's PTX kernels as C code with the same semantics,
 * reading its parameters through kernelParams as the real driver does.
 * Prototypes are those of cuda.h (CUDA 12.6). Not a GPU emulator: only
 * what package gpu calls, with checks of the arguments it passes.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext, *CUstream, *CUmodule, *CUfunction;

static void logf_(const char *fmt, const char *s) {
	const char *p = getenv("FAKECUDA_LOG");
	if (!p)
		return;
	FILE *f = fopen(p, "a");
	if (f) {
		fprintf(f, fmt, s);
		fputc('\n', f);
		fclose(f);
	}
}

CUresult cuInit(unsigned int flags) { return flags == 0 ? 0 : 1; }
CUresult cuDriverGetVersion(int *v) {
	*v = 12040;
	return 0;
}
CUresult cuDeviceGetCount(int *n) {
	*n = 1;
	return 0;
}
CUresult cuDeviceGet(CUdevice *d, int ordinal) {
	if (ordinal != 0)
		return 101; /* CUDA_ERROR_INVALID_DEVICE */
	*d = 0;
	return 0;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
	snprintf(name, len, "Fake GPU");
	return 0;
}
CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
	*v = attr == 75 ? 9 : attr == 76 ? 0 : 1;
	return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *b, CUdevice d) {
	*b = (size_t)80 << 30;
	return 0;
}
static int ctx_token, stream_token, module_token;
static __thread int current; /* per thread, as CUDA's current context */
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) {
	*c = &ctx_token;
	return 0;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) { return 0; }
CUresult cuCtxSetCurrent(CUcontext c) {
	current = c == &ctx_token;
	return 0;
}
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) {
	*f = (size_t)1 << 30;
	*t = (size_t)80 << 30;
	return 0;
}
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
	const char *lim = getenv("FAKECUDA_MAX_ALLOC");
	if (!current)
		return 201; /* CUDA_ERROR_INVALID_CONTEXT */
	if (n == 0)
		return 1;
	if (lim && n > strtoull(lim, 0, 10))
		return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
	void *m = aligned_alloc(256, (n + 255) & ~(size_t)255);
	if (!m)
		return 2;
	memset(m, 0xFF, n); /* NaN: unwritten memory shows */
	*p = (CUdeviceptr)(uintptr_t)m;
	return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
	free((void *)(uintptr_t)p);
	return 0;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) {
	memcpy((void *)(uintptr_t)d, s, n);
	return 0;
}
CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) {
	memcpy(d, (void *)(uintptr_t)s, n);
	return 0;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) {
	if (st != &stream_token)
		return 400;
	memmove((void *)(uintptr_t)d, (void *)(uintptr_t)s, n);
	return 0;
}
CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream st) {
	if (st != &stream_token)
		return 400;
	uint32_t *p = (uint32_t *)(uintptr_t)d;
	for (size_t i = 0; i < n; i++)
		p[i] = v;
	return 0;
}
CUresult cuStreamCreate(CUstream *s, unsigned int flags) {
	if (flags != 0)
		return 1;
	*s = &stream_token;
	return 0;
}
CUresult cuStreamDestroy_v2(CUstream s) { return s == &stream_token ? 0 : 400; }
CUresult cuStreamSynchronize(CUstream s) { return s == &stream_token ? 0 : 400; }
CUresult cuGetErrorName(CUresult r, const char **s) {
	*s = r == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : r == 218 ? "CUDA_ERROR_INVALID_PTX" : "CUDA_ERROR_FAKE";
	return 0;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
	*s = "fake driver error";
	return 0;
}

static const char *kernels[] = {"vs_relu", "vs_relu_bwd", "vs_add", "vs_add_relu", "vs_gap", "vs_gap_bwd",
                                "vs_bias_rows", "vs_sum_rows", "vs_adam", "vs_nonfinite", "vs_sgd", 0};

CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned int nopt, int *opts, void **vals) {
	const char *s = image, *rej = getenv("FAKECUDA_REJECT_TARGET");
	char want[64];
	if (rej) {
		snprintf(want, sizeof want, ".target %s\n", rej);
		if (strstr(s, want)) {
			for (unsigned i = 0; i < nopt; i++)
				if (opts[i] == 5) /* CU_JIT_ERROR_LOG_BUFFER */
					snprintf((char *)vals[i], 64, "ptxas fatal: target %s rejected", rej);
			return 218;
		}
	}
	if (!strstr(s, ".version 7.0") || !strstr(s, ".address_size 64"))
		return 218;
	for (int i = 0; kernels[i]; i++) {
		snprintf(want, sizeof want, ".entry %s(", kernels[i]);
		if (!strstr(s, want))
			return 218;
	}
	*m = &module_token;
	return 0;
}
CUresult cuModuleUnload(CUmodule m) { return 0; }
CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
	if (m != &module_token)
		return 400;
	for (int i = 0; kernels[i]; i++)
		if (!strcmp(kernels[i], name)) {
			*f = (CUfunction)(uintptr_t)(i + 1);
			return 0;
		}
	return 500; /* CUDA_ERROR_NOT_FOUND */
}

#define U64(i) (*(uint64_t *)kp[i])
#define F32(i) (*(float *)kp[i])
#define P(i) ((float *)(uintptr_t)U64(i))

static float relu(float v) { return v <= 0 ? 0 : v; }

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shm, CUstream st, void **kp, void **extra) {
	int id = (int)(uintptr_t)f - 1;
	if (id < 0 || id >= 11 || gx == 0 || bx == 0 || bx > 1024 || gy != 1 || gz != 1 || by != 1 || bz != 1 ||
	    shm != 0 || st != &stream_token || !kp || extra)
		return 1;
	logf_("launch %s", kernels[id]);
	uint64_t n = U64(0);
	switch (id) {
	case 0: /* vs_relu(n, x, y) */
		for (uint64_t i = 0; i < n; i++)
			P(2)[i] = relu(P(1)[i]);
		break;
	case 1: /* vs_relu_bwd(n, y, dy, dx) */
		for (uint64_t i = 0; i < n; i++)
			P(3)[i] = P(1)[i] > 0 ? P(2)[i] : 0;
		break;
	case 2: /* vs_add(n, a, b, y) */
	case 3:
		for (uint64_t i = 0; i < n; i++) {
			float s = P(1)[i] + P(2)[i];
			P(3)[i] = id == 3 ? relu(s) : s;
		}
		break;
	case 4: /* vs_gap(planes, size, x, y) */
		for (uint64_t p = 0; p < n; p++) {
			double s = 0;
			for (uint64_t j = 0; j < U64(1); j++)
				s += P(2)[p * U64(1) + j];
			P(3)[p] = (float)(s / (double)U64(1));
		}
		break;
	case 5: /* vs_gap_bwd(total, size, dy, dx) */
		for (uint64_t i = 0; i < n; i++)
			P(3)[i] = P(2)[i / U64(1)] / (float)U64(1);
		break;
	case 6: /* vs_bias_rows(total, cols, y, b) */
		for (uint64_t i = 0; i < n; i++)
			P(2)[i] += P(3)[i % U64(1)];
		break;
	case 7: /* vs_sum_rows(cols, rows, dy, db) */
		for (uint64_t j = 0; j < n; j++) {
			double s = 0;
			for (uint64_t r = 0; r < U64(1); r++)
				s += P(2)[r * n + j];
			P(3)[j] = (float)s;
		}
		break;
	case 8: /* vs_adam(n, p, g, m, v, b1, 1-b1, b2, 1-b2, wd, eps, negStep, bc2sqrt) */
		for (uint64_t i = 0; i < n; i++) {
			float g = P(2)[i];
			if (F32(9) != 0)
				g = fmaf(P(1)[i], F32(9), g);
			P(3)[i] = fmaf(g, F32(6), P(3)[i] * F32(5));
			float t2 = F32(8) * g;
			P(4)[i] = P(4)[i] * F32(7) + t2 * g;
			float d = sqrtf(P(4)[i]) / F32(12) + F32(10);
			float u = F32(11) * P(3)[i];
			P(1)[i] += u / d;
		}
		break;
	case 9: /* vs_nonfinite(n, x, flag) */
		for (uint64_t i = 0; i < n; i++)
			if (!isfinite(P(1)[i]))
				*(uint32_t *)P(2) = 1;
		break;
	case 10: /* vs_sgd(n, p, g, buf, wd, momentum, 1-dampening, -lr, has momentum, first, nesterov) */
		for (uint64_t i = 0; i < n; i++) {
			float d = P(2)[i];
			if (F32(4) != 0)
				d = fmaf(P(1)[i], F32(4), d);
			if (F32(8) != 0) {
				float b = F32(9) != 0 ? d : fmaf(d, F32(6), P(3)[i] * F32(5));
				P(3)[i] = b;
				d = F32(10) != 0 ? fmaf(b, F32(5), d) : b;
			}
			P(1)[i] = fmaf(d, F32(7), P(1)[i]);
		}
		break;
	}
	return 0;
}
