// Package gpu trains vidssl's video models on an NVIDIA GPU: tensors in
// device memory, device ops for a whole training step, and trainers that
// run a model's training step (forward, backward, Adam or SGD) on the device, with
// only the outputs (a few values per clip) and their loss's gradients
// crossing to and from the host. No network is written here: a trainer traces the
// graph that an nn.Module builds (nn.Graph.Trace) and compiles the tape
// into engine calls, so resnet3d's R3D, MC3, R(2+1)D and Bottleneck
// networks, and any model made of nn's layers, run through the same code.
// Nor does it know a self-supervised method: a [ViewTrainer] hands a step's
// outputs to the caller's loss on the host and takes its gradients back,
// so the package imports nn and internal packages only.
//
// The CUDA libraries are loaded at run time (see internal/cuda), so the
// package builds with CGO_ENABLED=0 everywhere; where there is no GPU,
// [CUDAAvailable] and [OpenCUDA] return an error saying what is missing,
// e.g. "cuda: libcuda.so.1 not found (searched ...)".
//
// An [Engine] holds [Tensor]s and runs ops on them:
//
//   - Conv3d and its two backward passes through cuDNN's N-d convolution API,
//     with algorithms found once per shape (by timing them all, like PyTorch
//     with cudnn.benchmark, or by cuDNN's heuristics) and a shared workspace;
//   - BatchNorm (training with running statistics, inference, backward) and
//     max and average pooling through cuDNN;
//   - Linear through cuBLAS (row-major matrices as transposed column-major
//     ones);
//   - ReLU, residual additions, global average pooling, Adam, SGD and a
//     finiteness check as hand-written PTX kernels.
//
// The engine has no loss: a trainer copies the model's outputs (a logit or
// a projection per clip) to the host, where the caller's loss computes
// their gradients (nn.BCEWithLogitsGrad, nn.CrossEntropyGrad,
// contrastive.NTXentGrad), and uploads those.
//
// [NewHostEngine] runs the same ops on the CPU with nn's own kernels (the
// convolutions of internal/conv3d, batch norm of internal/bnorm, pooling of
// internal/pool3d, vidssl's SGEMM, internal/vec's loops and optimiser
// steps): a CPU backend for the same compiled plan, which the tests use on
// every machine to check the plan (op schedule, buffer reuse, arena layout,
// optimiser state) against nn's CPU training step.
//
// A [Trainer] runs the fine-tuning step (BCEWithLogits on the single logit,
// optionally after dropout, as finetune does; a one-view ViewTrainer whose
// loss is nn's BCEWithLogitsGrad on the host) and evaluation-mode
// predictions; a [ViewTrainer] runs one or more views of a batch through a
// [MultiHead] (a trunk and heads sharing its output) and lets the caller
// compute the loss on the host from the outputs: pretrain computes NT-Xent
// and the frame-order cross-entropy of two views that way; a [Predictor]
// runs a model in evaluation mode with no optimiser or gradients. To
// train, the compiled plan keeps every activation for the backward pass and gives
// gradients slots reused by liveness (ReLU backward in place, residual
// additions without copies); the ops it runs are those of nn.TapeKind
// (Conv3d without bias, BatchNorm3d with fused ReLU, ReLU, Add with fused
// ReLU, max and average pooling, global average pooling, Reshape, Linear),
// and a model with another op is an error naming it. Both trainers take
// batches smaller than the one they were made for. Parameters, gradients
// and the optimiser's state (Adam's moments, SGD's momentum buffers) each
// live in one device allocation, so the optimiser is one kernel launch per
// step; SyncToHost copies parameters, batch-norm buffers and the optimiser's
// state back into the model and the nn.Adam or nn.SGD for checkpoints and
// CPU evaluation:
//
//	e, err := gpu.OpenCUDA(gpu.CUDAOptions{AllowTF32: true})
//	if err != nil {
//		return err // no GPU: train on the CPU with resnet3d.NewClassifierTrainer
//	}
//	defer e.Close()
//	tr, err := gpu.NewTrainer(e, model, [5]int{n, c, t, h, w}, posWeight, adam)
//	...
//	loss, err := tr.Step(ctx, clips, targets)
//	...
//	err = tr.SyncToHost() // then nn.SaveCheckpoint as usual
//
// Operations on a CUDA engine run on one stream from one OS thread; an
// Engine is not safe for concurrent use. The package never prints.
package gpu
