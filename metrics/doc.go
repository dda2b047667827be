// Package metrics evaluates binary classifiers the way the aortic-stenosis
// paper does: at the study level, by AUROC with a bootstrap confidence
// interval, plus AUPRC and threshold metrics.
//
// Functions are plain functions over parallel slices, in the manner of
// gonum's stat package: labels are []bool (true = positive, see
// LabelsFromInts for 0/1 data) and scores are []float64, higher meaning more
// likely positive. A sample is predicted positive when its score is at least
// the threshold.
//
// # Curves and areas
//
// ROC, PR, AUROC, AUPRC and AveragePrecision reproduce scikit-learn's
// roc_curve (drop_intermediate=True), precision_recall_curve, roc_auc_score,
// auc(recall, precision) and average_precision_score, ties included; the
// tests compare them with values written by scikit-learn 1.2.1
// (testdata/make_golden.py) to 1e-12. The one deliberate difference is the
// first ROC threshold, +Inf here as in scikit-learn 1.3 and later.
//
// # Threshold metrics
//
// ConfusionAt counts a confusion matrix at a threshold; its methods give
// accuracy, balanced accuracy, MCC, precision, recall and F1 with
// scikit-learn's zero-division conventions. BestFBeta (BestF1, BestF2) finds
// the threshold maximising an F-score over the precision-recall curve.
//
// # Aggregation
//
// Aggregate averages clip probabilities into videos and videos into studies;
// MeanBy does one level for any string key. Output is sorted by id.
//
// # Confidence intervals and comparisons
//
// Bootstrap gives a percentile interval for any Metric, BootstrapAUROC the
// same interval for AUROC in O(n) per resample. Resampling is of the rows
// passed in (pass study-level rows to resample studies), optionally
// stratified by class, seeded and reproducible whatever the number of
// goroutines. PairedBootstrap and PairedBootstrapAUROC compare two models on
// the same units; DeLong gives DeLong's test for two correlated AUROCs.
//
// # Errors
//
// Empty input, mismatched lengths, NaN or infinite scores, and a single
// class where a metric needs both are errors (ErrEmpty, ErrLength,
// ErrNotFinite, ErrOneClass, wrapped with the function's name and the
// details), never a silent 0.5 or NaN. The package does not panic on bad
// input and never prints.
package metrics
