// Package figures draws the evaluation figures of the aortic-stenosis paper
// as PNG images with gonum.org/v1/plot: ROC curves with their AUROCs in the
// legend (ROC), and AUROC with bootstrap confidence intervals against the
// fraction of training labels, one line per initialisation, like the paper's
// Figure 2 (AUROCByFraction).
//
// The package takes plain structs, so it does not depend on the rest of
// vidssl: fill them from the metrics package or from anywhere else. Each
// figure writes to an io.Writer, or to a file path by a File variant that
// writes atomically (a temporary file in the same directory, then a rename),
// so a reader never sees half a PNG. Invalid input is an error naming the
// function and the offending curve or point; nothing is printed.
package figures
