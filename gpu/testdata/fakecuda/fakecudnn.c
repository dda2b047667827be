/*
 * A fake cuDNN 9 (libcudnn.so.9) for package gpu's tests: the legacy
 * descriptor API that package gpu calls, with cuDNN 9's prototypes
 * (cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h), computing on host memory in
 * double precision: 5-D packed float tensors, N-d cross-correlation with
 * dilation 1, spatial batch norm, max and average (padding included)
 * pooling. It checks the arguments package gpu passes (types, formats,
 * shapes, workspaces, scaling factors), and its algorithm search offers
 * one usable algorithm (1) that needs a 1024-byte workspace, and writes NaN
 * into the outputs while "benchmarking", so that a missing real call shows.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int cudnnStatus_t;
typedef void *cudnnHandle_t;

enum { OK = 0, BAD = 2000, UNSUPPORTED = 3000 };

static void logs(const char *kind, const int *a, int na, const int *b, int nb, int dir) {
	const char *p = getenv("FAKECUDA_LOG");
	if (!p)
		return;
	FILE *f = fopen(p, "a");
	if (!f)
		return;
	fprintf(f, "%s dir=%d x=", kind, dir);
	for (int i = 0; i < na; i++)
		fprintf(f, "%d,", a[i]);
	fprintf(f, " w=");
	for (int i = 0; i < nb; i++)
		fprintf(f, "%d,", b[i]);
	fputc('\n', f);
	fclose(f);
}

size_t cudnnGetVersion(void) { return 90600; }
const char *cudnnGetErrorString(cudnnStatus_t s) { return "fake cuDNN status"; }
static int handle_token;
cudnnStatus_t cudnnCreate(cudnnHandle_t *h) {
	*h = &handle_token;
	return OK;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) { return h == &handle_token ? OK : BAD; }
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, void *s) { return h == &handle_token && s ? OK : BAD; }

typedef struct {
	int nb, dims[8], strides[8];
} TDesc;
typedef struct {
	int dims[5];
} FDesc;
typedef struct {
	int pad[3], stride[3], math;
} CDesc;
typedef struct {
	int mode, nan, win[3], pad[3], stride[3];
} PDesc;

cudnnStatus_t cudnnCreateTensorDescriptor(TDesc **d) {
	*d = calloc(1, sizeof(TDesc));
	return OK;
}
cudnnStatus_t cudnnSetTensorNdDescriptor(TDesc *d, int dtype, int nb, const int dims[], const int strides[]) {
	if (dtype != 0 || nb != 5)
		return BAD;
	int acc = 1;
	for (int i = nb - 1; i >= 0; i--) {
		if (dims[i] < 1 || strides[i] != acc)
			return BAD; /* only packed tensors here */
		acc *= dims[i];
	}
	d->nb = nb;
	memcpy(d->dims, dims, nb * sizeof(int));
	memcpy(d->strides, strides, nb * sizeof(int));
	return OK;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(TDesc *d) {
	free(d);
	return OK;
}
cudnnStatus_t cudnnCreateFilterDescriptor(FDesc **d) {
	*d = calloc(1, sizeof(FDesc));
	return OK;
}
cudnnStatus_t cudnnSetFilterNdDescriptor(FDesc *d, int dtype, int format, int nb, const int dims[]) {
	if (dtype != 0 || format != 0 || nb != 5)
		return BAD;
	memcpy(d->dims, dims, 5 * sizeof(int));
	return OK;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(FDesc *d) {
	free(d);
	return OK;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(CDesc **d) {
	*d = calloc(1, sizeof(CDesc));
	return OK;
}
cudnnStatus_t cudnnSetConvolutionNdDescriptor(CDesc *d, int n, const int pad[], const int stride[], const int dil[],
                                              int mode, int ctype) {
	if (n != 3 || mode != 1 || ctype != 0)
		return BAD;
	for (int i = 0; i < 3; i++)
		if (dil[i] != 1 || stride[i] < 1 || pad[i] < 0)
			return BAD;
	memcpy(d->pad, pad, sizeof d->pad);
	memcpy(d->stride, stride, sizeof d->stride);
	return OK;
}
cudnnStatus_t cudnnSetConvolutionMathType(CDesc *d, int math) {
	if (math < 0 || math > 3)
		return BAD;
	d->math = math;
	return OK;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(CDesc *d) {
	free(d);
	return OK;
}

/* outDims computes the convolution's output shape; 0 when x and w do not fit. */
static int outDims(const CDesc *c, const TDesc *x, const FDesc *w, int y[5]) {
	if (x->nb != 5 || x->dims[1] != w->dims[1])
		return 0;
	y[0] = x->dims[0];
	y[1] = w->dims[0];
	for (int i = 0; i < 3; i++) {
		int p = x->dims[2 + i] + 2 * c->pad[i] - w->dims[2 + i];
		if (p < 0)
			return 0;
		y[2 + i] = p / c->stride[i] + 1;
	}
	return 1;
}
static int sameDims(const TDesc *t, const int d[5]) { return t->nb == 5 && !memcmp(t->dims, d, 5 * sizeof(int)); }

cudnnStatus_t cudnnGetConvolutionNdForwardOutputDim(CDesc *c, TDesc *x, FDesc *w, int nb, int out[]) {
	if (nb != 5 || !outDims(c, x, w, out))
		return BAD;
	return OK;
}

typedef struct {
	int algo;
	cudnnStatus_t status;
	float time;
	size_t memory;
	int determinism, mathType, reserved[3];
} Perf;

#define WS 1024
static cudnnStatus_t perfs(CDesc *c, int requested, int *returned, Perf *p, float time) {
	if (requested < 2 || !returned || !p)
		return BAD;
	memset(p, 0, 2 * sizeof(Perf));
	p[0].algo = 1, p[0].status = OK, p[0].time = time, p[0].memory = WS, p[0].determinism = 1, p[0].mathType = c->math;
	p[1].algo = 0, p[1].status = UNSUPPORTED, p[1].time = -1;
	*returned = 2;
	return OK;
}
static void nanfill(void *p, size_t n) { memset(p, 0xFF, n * sizeof(float)); }
static size_t numel(const int *d, int n) {
	size_t s = 1;
	for (int i = 0; i < n; i++)
		s *= d[i];
	return s;
}
/* checkConv validates a convolution's descriptors and returns the output shape. */
static int checkConv(CDesc *c, TDesc *x, FDesc *w, TDesc *y, int yd[5]) {
	return outDims(c, x, w, yd) && sameDims(y, yd);
}
static cudnnStatus_t wsSize(CDesc *c, TDesc *x, FDesc *w, TDesc *y, int algo, size_t *size) {
	int yd[5];
	if (!checkConv(c, x, w, y, yd))
		return BAD;
	if (algo != 1)
		return UNSUPPORTED;
	*size = WS;
	return OK;
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, TDesc *x, FDesc *w, CDesc *c, TDesc *y, int algo,
                                                      size_t *size) {
	return wsSize(c, x, w, y, algo, size);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, FDesc *w, TDesc *dy, CDesc *c, TDesc *dx,
                                                           int algo, size_t *size) {
	return wsSize(c, dx, w, dy, algo, size);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, TDesc *x, TDesc *dy, CDesc *c, FDesc *dw,
                                                             int algo, size_t *size) {
	return wsSize(c, x, dw, dy, algo, size);
}
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, TDesc *x, FDesc *w, CDesc *c, TDesc *y, int req,
                                                     int *ret, Perf *p) {
	int yd[5];
	return checkConv(c, x, w, y, yd) ? perfs(c, req, ret, p, -1) : BAD;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, FDesc *w, TDesc *dy, CDesc *c, TDesc *dx,
                                                          int req, int *ret, Perf *p) {
	int yd[5];
	return checkConv(c, dx, w, dy, yd) ? perfs(c, req, ret, p, -1) : BAD;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, TDesc *x, TDesc *dy, CDesc *c, FDesc *dw,
                                                            int req, int *ret, Perf *p) {
	int yd[5];
	return checkConv(c, x, dw, dy, yd) ? perfs(c, req, ret, p, -1) : BAD;
}
cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t h, TDesc *xd, const void *x, FDesc *wd, const void *w,
                                                     CDesc *c, TDesc *yd, void *y, int req, int *ret, Perf *p, void *ws,
                                                     size_t wsBytes) {
	int od[5];
	if (!checkConv(c, xd, wd, yd, od) || !x || !w || !y || (wsBytes > 0 && !ws))
		return BAD;
	logs("find", xd->dims, 5, wd->dims, 5, 0);
	nanfill(y, numel(od, 5));
	return perfs(c, req, ret, p, 0.5f);
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t h, FDesc *wd, const void *w, TDesc *dyd,
                                                          const void *dy, CDesc *c, TDesc *dxd, void *dx, int req,
                                                          int *ret, Perf *p, void *ws, size_t wsBytes) {
	int od[5];
	if (!checkConv(c, dxd, wd, dyd, od) || !w || !dy || !dx || (wsBytes > 0 && !ws))
		return BAD;
	logs("find", dxd->dims, 5, wd->dims, 5, 1);
	nanfill(dx, numel(dxd->dims, 5));
	return perfs(c, req, ret, p, 0.5f);
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnnHandle_t h, TDesc *xd, const void *x, TDesc *dyd,
                                                            const void *dy, CDesc *c, FDesc *dwd, void *dw, int req,
                                                            int *ret, Perf *p, void *ws, size_t wsBytes) {
	int od[5];
	if (!checkConv(c, xd, dwd, dyd, od) || !x || !dy || !dw || (wsBytes > 0 && !ws))
		return BAD;
	logs("find", xd->dims, 5, dwd->dims, 5, 2);
	nanfill(dw, numel(dwd->dims, 5));
	return perfs(c, req, ret, p, 0.5f);
}

/* taps calls f for every (output index, weight index, input index) of a
 * convolution with input dims xd, weight dims wd and output dims yd. */
typedef void (*tapfn)(size_t yi, size_t wi, size_t xi, void *ctx);
static void taps(const int *xd, const int *wd, const int *yd, const CDesc *c, tapfn f, void *ctx) {
	int N = xd[0], Ci = xd[1], Co = wd[0];
	for (int n = 0; n < N; n++)
		for (int o = 0; o < Co; o++)
			for (int ot = 0; ot < yd[2]; ot++)
				for (int oh = 0; oh < yd[3]; oh++)
					for (int ow = 0; ow < yd[4]; ow++) {
						size_t yi = ((((size_t)n * Co + o) * yd[2] + ot) * yd[3] + oh) * yd[4] + ow;
						for (int ci = 0; ci < Ci; ci++)
							for (int a = 0; a < wd[2]; a++) {
								int it = ot * c->stride[0] - c->pad[0] + a;
								if (it < 0 || it >= xd[2])
									continue;
								for (int b = 0; b < wd[3]; b++) {
									int ih = oh * c->stride[1] - c->pad[1] + b;
									if (ih < 0 || ih >= xd[3])
										continue;
									for (int e = 0; e < wd[4]; e++) {
										int iw = ow * c->stride[2] - c->pad[2] + e;
										if (iw < 0 || iw >= xd[4])
											continue;
										size_t wi = ((((size_t)o * Ci + ci) * wd[2] + a) * wd[3] + b) * wd[4] + e;
										size_t xi = ((((size_t)n * Ci + ci) * xd[2] + it) * xd[3] + ih) * xd[4] + iw;
										f(yi, wi, xi, ctx);
									}
								}
							}
					}
}
typedef struct {
	const float *a, *b;
	double *acc;
	int mode; /* 0: acc[y] += x*w; 1: acc[x] += dy*w; 2: acc[w] += x*dy */
} TapCtx;
static void tap(size_t yi, size_t wi, size_t xi, void *p) {
	TapCtx *c = p;
	switch (c->mode) {
	case 0:
		c->acc[yi] += (double)c->a[xi] * c->b[wi];
		break;
	case 1:
		c->acc[xi] += (double)c->a[yi] * c->b[wi];
		break;
	case 2:
		c->acc[wi] += (double)c->a[xi] * c->b[yi];
		break;
	}
}
static cudnnStatus_t runConv(int mode, const float *alpha, const float *beta, CDesc *c, TDesc *xd, FDesc *wd, TDesc *yd,
                             const float *a, const float *b, float *out, int algo, void *ws, size_t wsBytes) {
	int od[5];
	if (!checkConv(c, xd, wd, yd, od) || *alpha != 1 || *beta != 0 || algo != 1 || !ws || wsBytes < WS)
		return BAD;
	size_t n = mode == 0 ? numel(od, 5) : mode == 1 ? numel(xd->dims, 5) : numel(wd->dims, 5);
	double *acc = calloc(n, sizeof(double));
	TapCtx ctx = {a, b, acc, mode};
	taps(xd->dims, wd->dims, od, c, tap, &ctx);
	for (size_t i = 0; i < n; i++)
		out[i] = (float)acc[i];
	free(acc);
	return OK;
}
cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const float *alpha, TDesc *xd, const float *x, FDesc *wd,
                                      const float *w, CDesc *c, int algo, void *ws, size_t wsBytes, const float *beta,
                                      TDesc *yd, float *y) {
	return runConv(0, alpha, beta, c, xd, wd, yd, x, w, y, algo, ws, wsBytes);
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const float *alpha, FDesc *wd, const float *w, TDesc *dyd,
                                           const float *dy, CDesc *c, int algo, void *ws, size_t wsBytes,
                                           const float *beta, TDesc *dxd, float *dx) {
	return runConv(1, alpha, beta, c, dxd, wd, dyd, dy, w, dx, algo, ws, wsBytes);
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const float *alpha, TDesc *xd, const float *x, TDesc *dyd,
                                             const float *dy, CDesc *c, int algo, void *ws, size_t wsBytes,
                                             const float *beta, FDesc *dwd, float *dw) {
	return runConv(2, alpha, beta, c, xd, dwd, dyd, x, dy, dw, algo, ws, wsBytes);
}

/* Batch norm (CUDNN_BATCHNORM_SPATIAL = 1 only). */
cudnnStatus_t cudnnDeriveBNTensorDescriptor(TDesc *bn, TDesc *x, int mode) {
	if (mode != 1 || x->nb != 5)
		return BAD;
	int d[5] = {1, x->dims[1], 1, 1, 1}, s[5] = {x->dims[1], 1, 1, 1, 1};
	return cudnnSetTensorNdDescriptor(bn, 0, 5, d, s);
}
static int checkBN(int mode, TDesc *x, TDesc *y, TDesc *bn) {
	return mode == 1 && x->nb == 5 && sameDims(y, x->dims) && bn->nb == 5 && bn->dims[1] == x->dims[1] &&
	       numel(bn->dims, 5) == (size_t)x->dims[1];
}
#define FOR_CHANNEL(xd, c, body)                                                                                       \
	for (int n_ = 0; n_ < (xd)->dims[0]; n_++)                                                                     \
		for (size_t s_ = 0, S_ = numel((xd)->dims + 2, 3); s_ < S_; s_++) {                                    \
			size_t i = ((size_t)n_ * (xd)->dims[1] + (c)) * S_ + s_;                                       \
			body;                                                                                          \
		}

cudnnStatus_t cudnnBatchNormalizationForwardTraining(cudnnHandle_t h, int mode, const float *alpha, const float *beta,
                                                     TDesc *xd, const float *x, TDesc *yd, float *y, TDesc *bnd,
                                                     const float *scale, const float *bias, double factor,
                                                     float *runMean, float *runVar, double eps, float *saveMean,
                                                     float *saveInvVar) {
	if (!checkBN(mode, xd, yd, bnd) || *alpha != 1 || *beta != 0 || eps <= 0 || factor < 0 || factor > 1 ||
	    !saveMean != !saveInvVar)
		return BAD;
	double m = (double)numel(xd->dims, 5) / xd->dims[1];
	for (int c = 0; c < xd->dims[1]; c++) {
		double s = 0, ss = 0;
		FOR_CHANNEL(xd, c, s += x[i]);
		double mean = s / m;
		FOR_CHANNEL(xd, c, ss += (x[i] - mean) * (x[i] - mean));
		double var = ss / m, inv = 1 / sqrt(var + eps);
		FOR_CHANNEL(xd, c, y[i] = (float)((x[i] - mean) * inv * scale[c] + bias[c]));
		runMean[c] = (float)((1 - factor) * runMean[c] + factor * mean);
		runVar[c] = (float)((1 - factor) * runVar[c] + factor * var * m / (m - 1));
		if (saveMean)
			saveMean[c] = (float)mean, saveInvVar[c] = (float)inv;
	}
	return OK;
}
cudnnStatus_t cudnnBatchNormalizationForwardInference(cudnnHandle_t h, int mode, const float *alpha, const float *beta,
                                                      TDesc *xd, const float *x, TDesc *yd, float *y, TDesc *bnd,
                                                      const float *scale, const float *bias, const float *mean,
                                                      const float *var, double eps) {
	if (!checkBN(mode, xd, yd, bnd) || *alpha != 1 || *beta != 0 || eps <= 0)
		return BAD;
	for (int c = 0; c < xd->dims[1]; c++) {
		double inv = 1 / sqrt((double)var[c] + eps);
		FOR_CHANNEL(xd, c, y[i] = (float)((x[i] - mean[c]) * inv * scale[c] + bias[c]));
	}
	return OK;
}
cudnnStatus_t cudnnBatchNormalizationBackward(cudnnHandle_t h, int mode, const float *aD, const float *bD,
                                              const float *aP, const float *bP, TDesc *xd, const float *x, TDesc *dyd,
                                              const float *dy, TDesc *dxd, float *dx, TDesc *bnd, const float *scale,
                                              float *dscale, float *dbias, double eps, const float *savedMean,
                                              const float *savedInvVar) {
	if (!checkBN(mode, xd, dyd, bnd) || !sameDims(dxd, xd->dims) || *aD != 1 || *bD != 0 || *aP != 1 || *bP != 0 ||
	    !savedMean || !savedInvVar)
		return BAD;
	double m = (double)numel(xd->dims, 5) / xd->dims[1];
	for (int c = 0; c < xd->dims[1]; c++) {
		double mean = savedMean[c], inv = savedInvVar[c], sdy = 0, sdyx = 0;
		FOR_CHANNEL(xd, c, sdy += dy[i]; sdyx += dy[i] * (x[i] - mean) * inv);
		dbias[c] = (float)sdy;
		dscale[c] = (float)sdyx;
		FOR_CHANNEL(xd, c, dx[i] = (float)(scale[c] * inv * (dy[i] - sdy / m - (x[i] - mean) * inv * sdyx / m)));
	}
	return OK;
}

/* Pooling: 0 max (first maximum, NaN wins with propagation), 1 average with padding counted. */
cudnnStatus_t cudnnCreatePoolingDescriptor(PDesc **d) {
	*d = calloc(1, sizeof(PDesc));
	return OK;
}
cudnnStatus_t cudnnSetPoolingNdDescriptor(PDesc *d, int mode, int nan, int nb, const int win[], const int pad[],
                                          const int stride[]) {
	if ((mode != 0 && mode != 1) || (nan != 0 && nan != 1) || nb != 3)
		return BAD;
	d->mode = mode, d->nan = nan;
	memcpy(d->win, win, sizeof d->win);
	memcpy(d->pad, pad, sizeof d->pad);
	memcpy(d->stride, stride, sizeof d->stride);
	return OK;
}
cudnnStatus_t cudnnDestroyPoolingDescriptor(PDesc *d) {
	free(d);
	return OK;
}
/* pool runs forward (dx == NULL) or backward. */
static cudnnStatus_t pool(PDesc *p, TDesc *xd, const float *x, TDesc *yd, float *y, const float *dy, float *dx) {
	int od[5] = {xd->dims[0], xd->dims[1]};
	for (int i = 0; i < 3; i++)
		od[2 + i] = (xd->dims[2 + i] + 2 * p->pad[i] - p->win[i]) / p->stride[i] + 1;
	if (!sameDims(yd, od))
		return BAD;
	size_t xs = numel(xd->dims + 2, 3), ys = numel(od + 2, 3), planes = (size_t)od[0] * od[1];
	if (dx)
		memset(dx, 0, planes * xs * sizeof(float));
	for (size_t pl = 0; pl < planes; pl++) {
		const float *xp = x + pl * xs;
		size_t o = 0;
		for (int ot = 0; ot < od[2]; ot++)
			for (int oh = 0; oh < od[3]; oh++)
				for (int ow = 0; ow < od[4]; ow++, o++) {
					int lo[3] = {ot * p->stride[0] - p->pad[0], oh * p->stride[1] - p->pad[1],
					             ow * p->stride[2] - p->pad[2]};
					int hi[3], div = 1;
					for (int i = 0; i < 3; i++) {
						hi[i] = lo[i] + p->win[i];
						int phi = hi[i] < xd->dims[2 + i] + p->pad[i] ? hi[i] : xd->dims[2 + i] + p->pad[i];
						div *= phi - lo[i];
						if (lo[i] < 0)
							lo[i] = 0;
						if (hi[i] > xd->dims[2 + i])
							hi[i] = xd->dims[2 + i];
					}
					double s = 0;
					long best = -1;
					float bv = 0;
					for (int t = lo[0]; t < hi[0]; t++)
						for (int h = lo[1]; h < hi[1]; h++)
							for (int w = lo[2]; w < hi[2]; w++) {
								long i = ((long)t * xd->dims[3] + h) * xd->dims[4] + w;
								float v = xp[i];
								if (best < 0 || v > bv || (isnan(v) && !isnan(bv) && p->nan))
									best = i, bv = v;
								if (dx && p->mode == 1)
									dx[pl * xs + i] += dy[pl * ys + o] / div;
								s += v;
							}
					if (dx) {
						if (p->mode == 0)
							dx[pl * xs + best] += dy[pl * ys + o];
					} else
						y[pl * ys + o] = p->mode == 0 ? bv : (float)(s / div);
				}
	}
	return OK;
}
cudnnStatus_t cudnnPoolingForward(cudnnHandle_t h, PDesc *p, const float *alpha, TDesc *xd, const float *x,
                                  const float *beta, TDesc *yd, float *y) {
	if (*alpha != 1 || *beta != 0)
		return BAD;
	return pool(p, xd, x, yd, y, 0, 0);
}
cudnnStatus_t cudnnPoolingBackward(cudnnHandle_t h, PDesc *p, const float *alpha, TDesc *yd, const float *y, TDesc *dyd,
                                   const float *dy, TDesc *xd, const float *x, const float *beta, TDesc *dxd,
                                   float *dx) {
	if (*alpha != 1 || *beta != 0 || !sameDims(dyd, yd->dims) || !sameDims(dxd, xd->dims) || !y)
		return BAD;
	return pool(p, xd, x, yd, 0, dy, dx);
}
