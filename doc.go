// Package vidssl is a library of self-supervised video learning primitives in
// Go, with the aortic-stenosis study of Holste et al. ("Self-supervised
// learning of echocardiogram videos enables data-efficient clinical
// diagnosis") as its worked example.
//
// The packages, from the bottom up:
//
//   - nn: 3-D layers, losses and optimisers as gorgonia Ops matching PyTorch
//     (Conv3d, BatchNorm3d, pooling, Linear, Dropout, BCEWithLogits,
//     CrossEntropy, Adam, SGD), named state and safetensors checkpoints.
//   - resnet3d: torchvision's video ResNets (R3D-18, MC3-18, R(2+1)D-18) as one
//     table of stem, block and conv makers, smaller variants, weight import.
//   - contrastive and pretext: NT-Xent, projection heads, positive-pair
//     samplers (SimCLR and multi-instance), the frame-order task.
//   - pretrain: the SimCLR, MI-SimCLR and MI-SimCLR+FO runner, with
//     checkpoints, exact resumption and an online monitor of the frozen
//     encoder.
//   - probe: linear and k-NN probes of frozen features (scikit-learn's
//     logistic regression, solo-learn's weighted k-NN).
//   - finetune: the paper's fine-tuning protocol (label fractions, early
//     stopping, learning-rate sweep) and study-level evaluation.
//   - job: the settings that pretrain's and finetune's configs share (seed,
//     video loading, engine), one struct embedded in both.
//   - video and video/echosynth: echo video IO, preprocessing, clips,
//     augmentation, manifests, a concurrent loader, and synthetic echoes.
//   - metrics and figures: AUROC and friends, bootstrap confidence intervals,
//     paired comparisons, and the paper's plots.
//   - explain: Grad-CAM saliency for 3-D CNNs.
//   - gpu: CUDA, cuBLAS and cuDNN through purego (no cgo): any model of nn's
//     layers, traced into a plan of kernel calls, trained (Adam or SGD) or
//     evaluated on an NVIDIA GPU, or on the host engine that runs the same
//     plan on the CPU with nn's kernels. The fine-tuning step has run on an
//     H200 (matching the CPU's losses and gradients, at 0.96-0.99x PyTorch's
//     speed on R3D-18, before the generic plan); the generic plan and the
//     self-supervised step are tested against the CPU on the host engine,
//     and their GPU checks (.gpu/check.sh) have not yet run on a GPU. See
//     the README.
//
// examples/aorticstenosis runs the whole pipeline on synthetic echoes:
//
//	go run ./examples/aorticstenosis
//
// Numbers are float32 and activations NCDHW. Matrix products use vidssl's
// own SGEMM (internal/blas: AVX-512 and AVX2+FMA micro-kernels, plain Go
// elsewhere) on CPUs with AVX-512, OpenBLAS elsewhere when libopenblas.so.0
// can be loaded at run time, else vidssl's SGEMM; VIDSSL_BLAS (go,
// go-generic, go-avx2, openblas, gonum) forces one (see the README).
package vidssl
