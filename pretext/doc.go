// Package pretext holds the frame-order pretext task of MI-SimCLR+FO
// (EchoCLR): a clip's K frames are permuted by one of the K! permutations of
// 0..K-1, and a head on the encoder's feature predicts which.
//
// Classes are the permutations in lexicographic order (Permutations; for K =
// 4 the 24 orders 0123, 0132, ..., 3210, as Python's
// itertools.permutations(range(4)) lists them). Shuffle applies a
// permutation to a clip (frame t of the result is frame perm[t], numpy's
// clip[perm]) and returns its class; Unshuffle undoes it; RandomShuffle
// draws a class uniformly and is a contrastive.ViewFunc, applied after
// augmentation as in the public code. OrderHead is the public code's
// reordering_head, Linear(F, K!) with bias, and Loss its cross-entropy.
package pretext
