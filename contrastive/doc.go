// Package contrastive holds the contrastive half of SimCLR and MI-SimCLR:
// the NT-Xent loss, the projection head, positive-pair items and the sampler
// that turns them into two augmented views, and a retrieval measure of
// learned embeddings.
//
// # Loss
//
// NTXent is one gorgonia Op with an analytic backward Op: cosine similarity
// of the 2N stacked projections divided by tau (the paper's 0.05, Tau),
// cross-entropy of each row's positive against its 2N-1 others, summed and
// divided by 2N, exactly as the public code's NT_Xent (checked against it in
// value and gradient; testdata/make_golden.py). NTXentGrad computes the same
// on plain slices.
//
// Same-group masking: in multi-instance batches two pairs of one study are
// not really negatives of each other, yet the public code counts them as
// such. Give NTXent a groups node fed GroupCodes(batch.Groups).Float32s(),
// or NTXentGrad the GroupIDs themselves, and those rows are removed from each
// other's denominators; give nil for the public code's behaviour. vidssl's pretraining presets mask for MI-SimCLR
// and MI-SimCLR+FO and not for SimCLR (whose baseline, as in the paper,
// knows nothing of studies); see pretrain.Config.MaskSameGroup.
//
// # Pairs
//
// SimCLRItems makes one loader item per video; MultiInstanceItems one item
// per unordered pair of distinct videos of a study (or of a patient), a
// single-video study paired with itself. PairSampler is the video.SampleFunc
// for both: one clip augmented twice for SimCLR, a clip and augmentation per
// video for multi-instance pairs, and an optional ViewFunc after
// augmentation (pretext.RandomShuffle for frame order). A video.Loader with
// Shuffle on then yields, per step, two NCDHW batches (view 1 and view 2)
// whose Groups name each pair's study, shuffled by seed and epoch.
//
// # Head
//
// ProjectionHead is Linear(F, F/2, no bias), ReLU, Linear(F/2, F/4, no bias)
// (512 -> 256 -> 128 for R3D-18) under the public code's names
// "projector.0.weight" and "projector.2.weight".
package contrastive
