// Package pretrain runs the paper's self-supervised pretraining of a video
// encoder: SimCLR, MI-SimCLR and MI-SimCLR+FO (EchoCLR), on the training
// split of a manifest or the splits Config.Splits names (AllSplits: every
// record), with checkpoints that a later run resumes exactly. PlanRun
// counts the pairs and steps per epoch before anything trains.
//
// # A run
//
// Run builds the model (NewModel: a resnet3d encoder without fc, or an
// Encoder of the caller's from Config.NewEncoder, the
// contrastive.ProjectionHead and, for frame order, the pretext.OrderHead),
// turns the videos of Config.Splits into positive pairs
// (contrastive.SimCLRItems or MultiInstanceItems), and trains with the
// paper's Adam or the optimiser Config.Optimizer chooses (SGD).
// Each step takes BatchPairs pairs from a video.Loader (two augmented views
// per pair, frames shuffled after augmentation for frame order), runs the
// encoder on each view (the same Params, bound once into one graph; batch
// norm sees each view as its own batch, as in the public code), and
// minimises
//
//	ContrastiveWeight * NTXent(z1, z2) + OrderWeight * (CE(order(h1), y1) + CE(order(h2), y2)) / 2
//
// The graph is built once, at the first step; the last partial batch of an
// epoch is dropped.
//
// PaperConfig is the paper's setting (R3D-18, 4-frame clips, 392 pairs per
// step, Adam lr 0.1, tau 0.05, 300 or 520 epochs); SmallConfig a preset that
// runs on a CPU in minutes on 32x32 frames. Same-group masking
// (Config.MaskSameGroup) is on in the presets for the multi-instance methods:
// the public code counts two pairs of one study in a batch as negatives of
// each other; set it false to reproduce that.
//
// # Files
//
// A run's directory holds history.csv (one row per epoch: mean losses,
// frame-order training accuracy, seconds; rewritten atomically), epoch
// checkpoints epoch-NNNN.safetensors every CheckpointEvery epochs and after
// the last, and, after a cancellation, interrupted-epoch-E-step-S.safetensors.
// A checkpoint holds the encoder (under "encoder.", the public code's and
// resnet3d's convention), the heads ("projector.0.weight",
// "projector.2.weight", "reordering_head.weight", "reordering_head.bias"),
// the optimiser's state (under "optimizer.": Adam's moments, SGD's momentum
// buffers) and the run's Config, position and history as metadata. Load
// reads one back; LoadEncoder (or resnet3d.Model.LoadWeights) puts its
// encoder into a classifier for fine-tuning.
//
// # Determinism and resumption
//
// A run is a function of its Config and data: the initialisation comes from
// Config.Seed, the pair order from the seed and the epoch, and every clip,
// augmentation and frame order from the seed, the epoch and the pair (the
// loader's streams). Run resumes from the furthest checkpoint in its
// directory and reproduces the uninterrupted run's numbers exactly,
// whether it was cancelled mid-epoch (the interrupted checkpoint records the
// step and the epoch's running sums) or killed (it restarts from the last
// epoch checkpoint).
//
// # Checking that it learns
//
// Probe measures a model on held-out videos: frame-order accuracy and
// same-study retrieval with frozen features (contrastive.RetrievalTop1).
// VideoFeatures and StudyProbes evaluate a frozen encoder as self-supervised
// learning libraries do, with a linear and a k-NN probe (package probe)
// fitted on labelled videos and scored at study level; Config.Monitor runs
// them, and the held-out frame-order accuracy, every few epochs during
// pretraining, into the history.
// The command pretrain/cmd/sslcheck pretrains on synthetic echosynth data
// sets and reports both against a randomly initialised model. Frame order
// can only be learnt where the heart visibly moves between a clip's frames:
// on 32x32 echosynth videos at 30 fps (a quarter pixel of wall motion per
// frame, under speckle that changes every frame) the order head stays at
// chance, so sslcheck pretrains MI-SimCLR+FO on 64x64 videos at 10 fps
// (about 1.4 pixels per frame); see its documentation.
//
// MeasureAlignment tells whether MI-SimCLR+FO's two losses pull the
// encoder the same way at a checkpoint: the cosine and the norm ratio of
// their gradients, by layer, with each gradient's consistency across
// batches (sslcheck -align prints it for a run's checkpoints).
package pretrain
