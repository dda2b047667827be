/*
 * A fake cuBLAS (libcublas.so.12) for package gpu's tests: column-major
 * SGEMM on host memory, with cublas_api.h's prototypes and argument checks.
 */
#include <stddef.h>

typedef int cublasStatus_t;
typedef void *cublasHandle_t;
static int handle_token;

cublasStatus_t cublasCreate_v2(cublasHandle_t *h) {
	*h = &handle_token;
	return 0;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) { return h == &handle_token ? 0 : 7; }
cublasStatus_t cublasGetVersion_v2(cublasHandle_t h, int *v) {
	*v = 120402;
	return 0;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, void *s) { return h == &handle_token && s ? 0 : 7; }
cublasStatus_t cublasSetMathMode(cublasHandle_t h, int mode) { return 0; }

cublasStatus_t cublasSgemm_v2(cublasHandle_t h, int ta, int tb, int m, int n, int k, const float *alpha,
                              const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc) {
	int ra = ta ? k : m, rb = tb ? n : k;
	if (h != &handle_token || (ta != 0 && ta != 1) || (tb != 0 && tb != 1) || m < 0 || n < 0 || k < 0)
		return 7; /* CUBLAS_STATUS_INVALID_VALUE */
	if (lda < (ra > 1 ? ra : 1) || ldb < (rb > 1 ? rb : 1) || ldc < (m > 1 ? m : 1))
		return 7;
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			double s = 0;
			for (int l = 0; l < k; l++) {
				double a = ta ? A[l + (size_t)i * lda] : A[i + (size_t)l * lda];
				double b = tb ? B[j + (size_t)l * ldb] : B[l + (size_t)j * ldb];
				s += a * b;
			}
			double v = *alpha * s;
			if (*beta != 0)
				v += *beta * C[i + (size_t)j * ldc];
			C[i + (size_t)j * ldc] = (float)v;
		}
	return 0;
}
