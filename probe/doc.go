// Package probe evaluates frozen representations the way self-supervised
// learning papers and libraries (solo-learn, lightly) do: a linear probe
// (L2-regularised logistic regression on standardised features) and a
// weighted k-nearest-neighbour classifier, both fitted on the features of
// labelled examples and scored on held-out ones. Fine-tuning curves alone
// cannot tell a weak encoder from a weak benchmark; a frozen-feature probe
// measures what pretraining put into the features.
//
// The functions work on feature matrices (row-major float32, n x d, as
// pretrain.Probe.Features returns them) and binary labels, and return a
// score per held-out row: the probability of the positive class. Study-level
// evaluation averages the scores of a study's videos (metrics.MeanBy) and
// computes the AUROC (metrics.AUROC), as the fine-tuned models are
// evaluated.
//
// Linear matches scikit-learn's LogisticRegression (lbfgs, the same C) on
// StandardScaler features; KNN is solo-learn's weighted k-NN (cosine
// similarity, weights exp(similarity / T)).
package probe
