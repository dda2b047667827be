package cuda

import (
	"fmt"
	"sync"
)

// DNNStatus is a cudnnStatus_t.
type DNNStatus int32

// cuDNN 9 enumerations (cudnn_graph.h, cudnn_ops.h).
const (
	DNNDataFloat = 0 // CUDNN_DATA_FLOAT

	DNNTensorNCHW = 0 // CUDNN_TENSOR_NCHW (also NCDHW for 5-D filters)

	DNNCrossCorrelation = 1 // CUDNN_CROSS_CORRELATION (PyTorch's convolution)

	DNNDefaultMath             = 0 // CUDNN_DEFAULT_MATH: TF32 tensor cores allowed on Ampere and later
	DNNTensorOp                = 1 // CUDNN_TENSOR_OP_MATH
	DNNTensorOpAllowConversion = 2 // CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
	DNNFMAMath                 = 3 // CUDNN_FMA_MATH: plain FP32 FMA kernels only

	DNNNotPropagateNaN = 0 // CUDNN_NOT_PROPAGATE_NAN
	DNNPropagateNaN    = 1 // CUDNN_PROPAGATE_NAN

	DNNPoolingMax        = 0 // CUDNN_POOLING_MAX
	DNNPoolingAvgInclPad = 1 // CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING (PyTorch's default)

	DNNBatchNormSpatial = 1 // CUDNN_BATCHNORM_SPATIAL: per-channel statistics over N and space

	DNNFwdAlgoCount       = 8 // CUDNN_CONVOLUTION_FWD_ALGO_COUNT
	DNNBwdDataAlgoCount   = 6 // CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT
	DNNBwdFilterAlgoCount = 7 // CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT
)

var dnnStatusNames = map[DNNStatus]string{
	0:    "CUDNN_STATUS_SUCCESS",
	1001: "CUDNN_STATUS_NOT_INITIALIZED",
	1002: "CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH",
	1003: "CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH",
	1004: "CUDNN_STATUS_DEPRECATED",
	1005: "CUDNN_STATUS_LICENSE_ERROR",
	1006: "CUDNN_STATUS_RUNTIME_IN_PROGRESS",
	1007: "CUDNN_STATUS_RUNTIME_FP_OVERFLOW",
	1008: "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED",
	2000: "CUDNN_STATUS_BAD_PARAM",
	2001: "CUDNN_STATUS_INVALID_VALUE",
	2002: "CUDNN_STATUS_BAD_PARAM_NULL_POINTER",
	2003: "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER",
	2004: "CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED",
	2005: "CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND",
	2006: "CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT",
	2007: "CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH",
	2008: "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH",
	2009: "CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES",
	2010: "CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE",
	2011: "CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH",
	2012: "CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE",
	3000: "CUDNN_STATUS_NOT_SUPPORTED",
	3001: "CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN",
	3002: "CUDNN_STATUS_NOT_SUPPORTED_SHAPE",
	3003: "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE",
	3004: "CUDNN_STATUS_NOT_SUPPORTED_LAYOUT",
	3005: "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER",
	3006: "CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART",
	3007: "CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH",
	3008: "CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING",
	3009: "CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE",
	3010: "CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT",
	3011: "CUDNN_STATUS_NOT_SUPPORTED_PADDING",
	3012: "CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM",
	3013: "CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API",
	4000: "CUDNN_STATUS_INTERNAL_ERROR",
	4001: "CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED",
	4002: "CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE",
	4003: "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED",
	4004: "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED",
	4005: "CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM",
	4006: "CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED",
	5000: "CUDNN_STATUS_EXECUTION_FAILED",
	5001: "CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER",
	5002: "CUDNN_STATUS_EXECUTION_FAILED_CUBLAS",
	5003: "CUDNN_STATUS_EXECUTION_FAILED_CUDART",
	5004: "CUDNN_STATUS_EXECUTION_FAILED_CURAND",
}

// ConvPerf is cudnnConvolutionFwdAlgoPerf_t, and equally
// cudnnConvolutionBwdDataAlgoPerf_t and cudnnConvolutionBwdFilterAlgoPerf_t,
// which have the same layout: {algo, status, time, (4 bytes of padding),
// memory, determinism, mathType, reserved[3]}, 48 bytes.
type ConvPerf struct {
	// Algo is the algorithm (cudnnConvolution*Algo_t).
	Algo int32
	// Status is the status of trying it; non-zero means unusable.
	Status DNNStatus
	// Time is its measured time in milliseconds (Find) or -1 (Get).
	Time float32
	// Memory is the workspace it needs, in bytes.
	Memory uint64
	// Determinism is CUDNN_NON_DETERMINISTIC (0) or CUDNN_DETERMINISTIC (1).
	Determinism int32
	// MathType is the cudnnMathType_t to run it with.
	MathType int32
	// Reserved is unused.
	Reserved [3]int32
}

// CUDNN is the part of cuDNN 9 (libcudnn.so.9) that vidssl uses: the
// legacy descriptor API for N-d convolutions, batch norm and pooling, which
// cuDNN 9 keeps (deprecated but supported). Handles, descriptors, device
// pointers and workspace sizes are uintptr; alpha and beta point to host
// float32 values (for float data).
type CUDNN struct {
	// Path is the library file that was loaded.
	Path string

	// GetVersion is cudnnGetVersion(void).
	GetVersion func() uintptr `sym:"cudnnGetVersion"`
	// GetErrorString is cudnnGetErrorString(cudnnStatus_t status).
	GetErrorString func(s DNNStatus) string `sym:"cudnnGetErrorString"`
	// Create is cudnnCreate(cudnnHandle_t *handle).
	Create func(handle *uintptr) DNNStatus `sym:"cudnnCreate"`
	// Destroy is cudnnDestroy(cudnnHandle_t handle).
	Destroy func(handle uintptr) DNNStatus `sym:"cudnnDestroy"`
	// SetStream is cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId).
	SetStream func(handle, stream uintptr) DNNStatus `sym:"cudnnSetStream"`

	// CreateTensorDescriptor is cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *).
	CreateTensorDescriptor func(desc *uintptr) DNNStatus `sym:"cudnnCreateTensorDescriptor"`
	// SetTensorNdDescriptor is cudnnSetTensorNdDescriptor(desc, cudnnDataType_t,
	// int nbDims, const int dimA[], const int strideA[]).
	SetTensorNdDescriptor func(desc uintptr, dataType int32, nbDims int32, dims, strides *int32) DNNStatus `sym:"cudnnSetTensorNdDescriptor"`
	// DestroyTensorDescriptor is cudnnDestroyTensorDescriptor(desc).
	DestroyTensorDescriptor func(desc uintptr) DNNStatus `sym:"cudnnDestroyTensorDescriptor"`

	// CreateFilterDescriptor is cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *).
	CreateFilterDescriptor func(desc *uintptr) DNNStatus `sym:"cudnnCreateFilterDescriptor"`
	// SetFilterNdDescriptor is cudnnSetFilterNdDescriptor(desc, cudnnDataType_t,
	// cudnnTensorFormat_t, int nbDims, const int filterDimA[]).
	SetFilterNdDescriptor func(desc uintptr, dataType, format, nbDims int32, dims *int32) DNNStatus `sym:"cudnnSetFilterNdDescriptor"`
	// DestroyFilterDescriptor is cudnnDestroyFilterDescriptor(desc).
	DestroyFilterDescriptor func(desc uintptr) DNNStatus `sym:"cudnnDestroyFilterDescriptor"`

	// CreateConvolutionDescriptor is cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *).
	CreateConvolutionDescriptor func(desc *uintptr) DNNStatus `sym:"cudnnCreateConvolutionDescriptor"`
	// SetConvolutionNdDescriptor is cudnnSetConvolutionNdDescriptor(desc, int
	// arrayLength (spatial dims), const int padA[], const int filterStrideA[],
	// const int dilationA[], cudnnConvolutionMode_t, cudnnDataType_t computeType).
	SetConvolutionNdDescriptor func(desc uintptr, arrayLength int32, pad, stride, dilation *int32, mode, computeType int32) DNNStatus `sym:"cudnnSetConvolutionNdDescriptor"`
	// SetConvolutionMathType is cudnnSetConvolutionMathType(desc, cudnnMathType_t).
	SetConvolutionMathType func(desc uintptr, mathType int32) DNNStatus `sym:"cudnnSetConvolutionMathType"`
	// DestroyConvolutionDescriptor is cudnnDestroyConvolutionDescriptor(desc).
	DestroyConvolutionDescriptor func(desc uintptr) DNNStatus `sym:"cudnnDestroyConvolutionDescriptor"`
	// GetConvolutionNdForwardOutputDim is cudnnGetConvolutionNdForwardOutputDim(
	// convDesc, inputTensorDesc, filterDesc, int nbDims, int tensorOuputDimA[]).
	GetConvolutionNdForwardOutputDim func(conv, x, w uintptr, nbDims int32, out *int32) DNNStatus `sym:"cudnnGetConvolutionNdForwardOutputDim"`

	// FindConvolutionForwardAlgorithmEx is cudnnFindConvolutionForwardAlgorithmEx(
	// handle, xDesc, x, wDesc, w, convDesc, yDesc, y, int requestedAlgoCount,
	// int *returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t *perfResults,
	// void *workSpace, size_t workSpaceSizeInBytes).
	FindConvolutionForwardAlgorithmEx func(h, xd, x, wd, w, cd, yd, y uintptr, requested int32, returned *int32, perf *ConvPerf, ws, wsBytes uintptr) DNNStatus `sym:"cudnnFindConvolutionForwardAlgorithmEx"`
	// GetConvolutionForwardAlgorithmV7 is cudnnGetConvolutionForwardAlgorithm_v7(
	// handle, srcDesc, filterDesc, convDesc, destDesc, int requestedAlgoCount,
	// int *returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t *perfResults).
	GetConvolutionForwardAlgorithmV7 func(h, xd, wd, cd, yd uintptr, requested int32, returned *int32, perf *ConvPerf) DNNStatus `sym:"cudnnGetConvolutionForwardAlgorithm_v7"`
	// GetConvolutionForwardWorkspaceSize is cudnnGetConvolutionForwardWorkspaceSize(
	// handle, xDesc, wDesc, convDesc, yDesc, cudnnConvolutionFwdAlgo_t, size_t *).
	GetConvolutionForwardWorkspaceSize func(h, xd, wd, cd, yd uintptr, algo int32, size *uintptr) DNNStatus `sym:"cudnnGetConvolutionForwardWorkspaceSize"`
	// ConvolutionForward is cudnnConvolutionForward(handle, const void *alpha,
	// xDesc, x, wDesc, w, convDesc, algo, workSpace, workSpaceSizeInBytes,
	// const void *beta, yDesc, y).
	ConvolutionForward func(h uintptr, alpha *float32, xd, x, wd, w, cd uintptr, algo int32, ws, wsBytes uintptr, beta *float32, yd, y uintptr) DNNStatus `sym:"cudnnConvolutionForward"`

	// FindConvolutionBackwardDataAlgorithmEx is cudnnFindConvolutionBackwardDataAlgorithmEx(
	// handle, wDesc, w, dyDesc, dy, convDesc, dxDesc, dx, requestedAlgoCount,
	// returnedAlgoCount, perfResults, workSpace, workSpaceSizeInBytes).
	FindConvolutionBackwardDataAlgorithmEx func(h, wd, w, dyd, dy, cd, dxd, dx uintptr, requested int32, returned *int32, perf *ConvPerf, ws, wsBytes uintptr) DNNStatus `sym:"cudnnFindConvolutionBackwardDataAlgorithmEx"`
	// GetConvolutionBackwardDataAlgorithmV7 is cudnnGetConvolutionBackwardDataAlgorithm_v7(
	// handle, filterDesc, diffDesc, convDesc, gradDesc, requestedAlgoCount,
	// returnedAlgoCount, perfResults).
	GetConvolutionBackwardDataAlgorithmV7 func(h, wd, dyd, cd, dxd uintptr, requested int32, returned *int32, perf *ConvPerf) DNNStatus `sym:"cudnnGetConvolutionBackwardDataAlgorithm_v7"`
	// GetConvolutionBackwardDataWorkspaceSize is cudnnGetConvolutionBackwardDataWorkspaceSize(
	// handle, wDesc, dyDesc, convDesc, dxDesc, algo, size_t *).
	GetConvolutionBackwardDataWorkspaceSize func(h, wd, dyd, cd, dxd uintptr, algo int32, size *uintptr) DNNStatus `sym:"cudnnGetConvolutionBackwardDataWorkspaceSize"`
	// ConvolutionBackwardData is cudnnConvolutionBackwardData(handle, alpha,
	// wDesc, w, dyDesc, dy, convDesc, algo, workSpace, workSpaceSizeInBytes,
	// beta, dxDesc, dx).
	ConvolutionBackwardData func(h uintptr, alpha *float32, wd, w, dyd, dy, cd uintptr, algo int32, ws, wsBytes uintptr, beta *float32, dxd, dx uintptr) DNNStatus `sym:"cudnnConvolutionBackwardData"`

	// FindConvolutionBackwardFilterAlgorithmEx is cudnnFindConvolutionBackwardFilterAlgorithmEx(
	// handle, xDesc, x, dyDesc, y (the output gradient), convDesc, dwDesc, dw,
	// requestedAlgoCount, returnedAlgoCount, perfResults, workSpace,
	// workSpaceSizeInBytes).
	FindConvolutionBackwardFilterAlgorithmEx func(h, xd, x, dyd, dy, cd, dwd, dw uintptr, requested int32, returned *int32, perf *ConvPerf, ws, wsBytes uintptr) DNNStatus `sym:"cudnnFindConvolutionBackwardFilterAlgorithmEx"`
	// GetConvolutionBackwardFilterAlgorithmV7 is cudnnGetConvolutionBackwardFilterAlgorithm_v7(
	// handle, srcDesc, diffDesc, convDesc, gradDesc, requestedAlgoCount,
	// returnedAlgoCount, perfResults).
	GetConvolutionBackwardFilterAlgorithmV7 func(h, xd, dyd, cd, dwd uintptr, requested int32, returned *int32, perf *ConvPerf) DNNStatus `sym:"cudnnGetConvolutionBackwardFilterAlgorithm_v7"`
	// GetConvolutionBackwardFilterWorkspaceSize is cudnnGetConvolutionBackwardFilterWorkspaceSize(
	// handle, xDesc, dyDesc, convDesc, gradDesc, algo, size_t *).
	GetConvolutionBackwardFilterWorkspaceSize func(h, xd, dyd, cd, dwd uintptr, algo int32, size *uintptr) DNNStatus `sym:"cudnnGetConvolutionBackwardFilterWorkspaceSize"`
	// ConvolutionBackwardFilter is cudnnConvolutionBackwardFilter(handle, alpha,
	// xDesc, x, dyDesc, dy, convDesc, algo, workSpace, workSpaceSizeInBytes,
	// beta, dwDesc, dw).
	ConvolutionBackwardFilter func(h uintptr, alpha *float32, xd, x, dyd, dy, cd uintptr, algo int32, ws, wsBytes uintptr, beta *float32, dwd, dw uintptr) DNNStatus `sym:"cudnnConvolutionBackwardFilter"`

	// DeriveBNTensorDescriptor is cudnnDeriveBNTensorDescriptor(derivedBnDesc,
	// xDesc, cudnnBatchNormMode_t).
	DeriveBNTensorDescriptor func(bnDesc, xd uintptr, mode int32) DNNStatus `sym:"cudnnDeriveBNTensorDescriptor"`
	// BatchNormalizationForwardTraining is cudnnBatchNormalizationForwardTraining(
	// handle, mode, alpha, beta, xDesc, x, yDesc, y, bnScaleBiasMeanVarDesc,
	// bnScale, bnBias, double exponentialAverageFactor, resultRunningMean,
	// resultRunningVariance, double epsilon, resultSaveMean,
	// resultSaveInvVariance).
	BatchNormalizationForwardTraining func(h uintptr, mode int32, alpha, beta *float32, xd, x, yd, y, bnd, scale, bias uintptr, factor float64, runMean, runVar uintptr, eps float64, saveMean, saveInvVar uintptr) DNNStatus `sym:"cudnnBatchNormalizationForwardTraining"`
	// BatchNormalizationForwardInference is cudnnBatchNormalizationForwardInference(
	// handle, mode, alpha, beta, xDesc, x, yDesc, y, bnScaleBiasMeanVarDesc,
	// bnScale, bnBias, estimatedMean, estimatedVariance, double epsilon).
	BatchNormalizationForwardInference func(h uintptr, mode int32, alpha, beta *float32, xd, x, yd, y, bnd, scale, bias, mean, variance uintptr, eps float64) DNNStatus `sym:"cudnnBatchNormalizationForwardInference"`
	// BatchNormalizationBackward is cudnnBatchNormalizationBackward(handle,
	// mode, alphaDataDiff, betaDataDiff, alphaParamDiff, betaParamDiff, xDesc,
	// x, dyDesc, dy, dxDesc, dx, dBnScaleBiasDesc, bnScale, dBnScaleResult,
	// dBnBiasResult, double epsilon, savedMean, savedInvVariance).
	BatchNormalizationBackward func(h uintptr, mode int32, alphaData, betaData, alphaParam, betaParam *float32, xd, x, dyd, dy, dxd, dx, bnd, scale, dscale, dbias uintptr, eps float64, savedMean, savedInvVar uintptr) DNNStatus `sym:"cudnnBatchNormalizationBackward"`

	// CreatePoolingDescriptor is cudnnCreatePoolingDescriptor(cudnnPoolingDescriptor_t *).
	CreatePoolingDescriptor func(desc *uintptr) DNNStatus `sym:"cudnnCreatePoolingDescriptor"`
	// SetPoolingNdDescriptor is cudnnSetPoolingNdDescriptor(desc,
	// cudnnPoolingMode_t, cudnnNanPropagation_t, int nbDims (spatial dims),
	// const int windowDimA[], const int paddingA[], const int strideA[]).
	SetPoolingNdDescriptor func(desc uintptr, mode, nanOpt, nbDims int32, window, pad, stride *int32) DNNStatus `sym:"cudnnSetPoolingNdDescriptor"`
	// DestroyPoolingDescriptor is cudnnDestroyPoolingDescriptor(desc).
	DestroyPoolingDescriptor func(desc uintptr) DNNStatus `sym:"cudnnDestroyPoolingDescriptor"`
	// PoolingForward is cudnnPoolingForward(handle, poolingDesc, alpha, xDesc,
	// x, beta, yDesc, y).
	PoolingForward func(h, pd uintptr, alpha *float32, xd, x uintptr, beta *float32, yd, y uintptr) DNNStatus `sym:"cudnnPoolingForward"`
	// PoolingBackward is cudnnPoolingBackward(handle, poolingDesc, alpha,
	// yDesc, y, dyDesc, dy, xDesc, x, beta, dxDesc, dx).
	PoolingBackward func(h, pd uintptr, alpha *float32, yd, y, dyd, dy, xd, x uintptr, beta *float32, dxd, dx uintptr) DNNStatus `sym:"cudnnPoolingBackward"`
}

var (
	dnnOnce sync.Once
	dnnLib  *CUDNN
	dnnErr  error
)

// dnnCompanions are the cuDNN 9 sub-libraries, opened before libcudnn.so.9
// from its directory so that the shim's dlopen by name finds them (pip
// installs them in site-packages/nvidia/cudnn/lib, off the linker's path).
// libcudnn_graph comes first: the others depend on it.
func dnnCompanions(string) []string {
	return []string{
		"libcudnn_graph.so.9",
		"libcudnn_engines_precompiled.so.9",
		"libcudnn_engines_runtime_compiled.so.9",
		"libcudnn_heuristic.so.9",
		"libcudnn_ops.so.9",
		"libcudnn_cnn.so.9",
		"libcudnn_adv.so.9",
	}
}

// LoadCUDNN loads cuDNN 9 once per process.
func LoadCUDNN() (*CUDNN, error) {
	dnnOnce.Do(func() { dnnLib, dnnErr = loadCUDNN(systemFinder()) })
	return dnnLib, dnnErr
}

func loadCUDNN(f finder) (*CUDNN, error) {
	d := &CUDNN{}
	lib, err := load(f, []string{"libcudnn.so.9"}, dnnCompanions, d)
	if err != nil {
		return nil, err
	}
	d.Path = lib.path
	if v := d.GetVersion(); v < 90000 || v >= 100000 {
		return nil, fmt.Errorf("cuda: %s is cuDNN version %d, want 9.x", lib.path, v)
	}
	return d, nil
}

// Check turns a cudnnStatus_t into nil or an *Error naming call.
func (d *CUDNN) Check(call string, s DNNStatus) error {
	if s == 0 {
		return nil
	}
	name, ok := dnnStatusNames[s]
	if !ok {
		name = fmt.Sprintf("cudnnStatus %d", int(s))
	}
	e := &Error{Call: call, Code: int(s), Name: name}
	if d != nil && d.GetErrorString != nil {
		e.Detail = d.GetErrorString(s)
	}
	return e
}
