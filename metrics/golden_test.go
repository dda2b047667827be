package metrics

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// golden mirrors testdata/golden.json, written by testdata/make_golden.py
// from scikit-learn 1.2.1 (curves, areas, threshold metrics) and a numpy
// implementation of Sun & Xu's fast DeLong.
type golden struct {
	Curves []struct {
		Name             string
		Labels           []int
		Scores           []float64
		AUROC            float64 `json:"auroc"`
		AUPRCTrapezoid   float64 `json:"auprc_trapezoid"`
		AveragePrecision float64 `json:"average_precision"`
		ROC              struct {
			FPR, TPR             []float64
			ThresholdsAfterFirst []float64 `json:"thresholds_after_first"`
		}
		PR struct {
			Precision, Recall, Thresholds []float64
		}
		ThresholdMetrics []struct {
			Threshold        float64
			TP, FP, TN, FN   int
			Accuracy         float64
			BalancedAccuracy float64 `json:"balanced_accuracy"`
			MCC              float64
			Precision        float64
			Recall           float64
			F1               float64
		} `json:"threshold_metrics"`
		BestF1 goldenBest `json:"best_f1"`
		BestF2 goldenBest `json:"best_f2"`
	}
	DeLong []struct {
		Name           string
		Labels         []int
		A, B           []float64
		AUROCA         float64 `json:"auroc_a"`
		AUROCB         float64 `json:"auroc_b"`
		VarA           float64 `json:"var_a"`
		VarB           float64 `json:"var_b"`
		Cov, Var, Z, P float64
	}
}

type goldenBest struct {
	Threshold, F, Precision, Recall float64
}

const tol = 1e-12

var approx = cmpopts.EquateApprox(0, tol)

func loadGolden(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Curves) < 10 || len(g.DeLong) < 3 {
		t.Fatalf("golden.json has %d curve cases and %d DeLong cases", len(g.Curves), len(g.DeLong))
	}
	return g
}

func mustLabels(t *testing.T, y []int) []bool {
	t.Helper()
	l, err := LabelsFromInts(y)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %.17g, want %.17g (diff %.3g)", what, got, want, got-want)
	}
}

func TestGoldenCurves(t *testing.T) {
	for _, c := range loadGolden(t).Curves {
		t.Run(c.Name, func(t *testing.T) {
			y := mustLabels(t, c.Labels)
			s := c.Scores

			auc, err := AUROC(y, s)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "AUROC", auc, c.AUROC)
			ap, err := AveragePrecision(y, s)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "AveragePrecision", ap, c.AveragePrecision)
			tr, err := AUPRC(y, s)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "AUPRC", tr, c.AUPRCTrapezoid)

			roc, err := ROC(y, s)
			if err != nil {
				t.Fatal(err)
			}
			if !math.IsInf(roc.Thresholds[0], 1) {
				t.Errorf("first ROC threshold %v, want +Inf", roc.Thresholds[0])
			}
			if diff := cmp.Diff(c.ROC.FPR, roc.FPR, approx); diff != "" {
				t.Errorf("ROC FPR (-sklearn +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.ROC.TPR, roc.TPR, approx); diff != "" {
				t.Errorf("ROC TPR (-sklearn +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.ROC.ThresholdsAfterFirst, roc.Thresholds[1:], approx); diff != "" {
				t.Errorf("ROC thresholds (-sklearn +got):\n%s", diff)
			}

			pr, err := PR(y, s)
			if err != nil {
				t.Fatal(err)
			}
			want := PRCurve{Precision: c.PR.Precision, Recall: c.PR.Recall, Thresholds: c.PR.Thresholds}
			if diff := cmp.Diff(want, pr, approx); diff != "" {
				t.Errorf("PR curve (-sklearn +got):\n%s", diff)
			}

			for _, w := range c.ThresholdMetrics {
				cm, err := ConfusionAt(y, s, w.Threshold)
				if err != nil {
					t.Fatal(err)
				}
				if want := (Confusion{TP: w.TP, FP: w.FP, TN: w.TN, FN: w.FN}); cm != want {
					t.Errorf("ConfusionAt(%v) = %+v, want %+v", w.Threshold, cm, want)
				}
				got := []float64{cm.Accuracy(), cm.BalancedAccuracy(), cm.MCC(), cm.Precision(), cm.Recall(), cm.F1()}
				exp := []float64{w.Accuracy, w.BalancedAccuracy, w.MCC, w.Precision, w.Recall, w.F1}
				if diff := cmp.Diff(exp, got, approx); diff != "" {
					t.Errorf("threshold %v: [acc bacc mcc prec rec f1] (-sklearn +got):\n%s", w.Threshold, diff)
				}
				f1, err := AtThreshold(w.Threshold, Confusion.F1)(y, s)
				if err != nil || f1 != cm.F1() {
					t.Errorf("AtThreshold(%v, F1) = %v, %v; want %v", w.Threshold, f1, err, cm.F1())
				}
			}

			for _, b := range []struct {
				beta float64
				want goldenBest
			}{{1, c.BestF1}, {2, c.BestF2}} {
				got, err := BestFBeta(y, s, b.beta)
				if err != nil {
					t.Fatal(err)
				}
				if got.Threshold != b.want.Threshold {
					t.Errorf("BestFBeta(%v) threshold %v, want %v", b.beta, got.Threshold, b.want.Threshold)
				}
				gotv := []float64{got.F, got.Precision, got.Recall}
				wantv := []float64{b.want.F, b.want.Precision, b.want.Recall}
				if diff := cmp.Diff(wantv, gotv, approx); diff != "" {
					t.Errorf("BestFBeta(%v) [F P R] (-want +got):\n%s", b.beta, diff)
				}
			}
		})
	}
}

func TestGoldenDeLong(t *testing.T) {
	for _, c := range loadGolden(t).DeLong {
		t.Run(c.Name, func(t *testing.T) {
			r, err := DeLong(mustLabels(t, c.Labels), c.A, c.B)
			if err != nil {
				t.Fatal(err)
			}
			got := []float64{r.AUROCA, r.AUROCB, r.Diff, r.VarA, r.VarB, r.Cov, r.Var, r.Z, r.P}
			want := []float64{c.AUROCA, c.AUROCB, c.AUROCA - c.AUROCB, c.VarA, c.VarB, c.Cov, c.Var, c.Z, c.P}
			if diff := cmp.Diff(want, got, approx); diff != "" {
				t.Errorf("[aucA aucB diff varA varB cov var z p] (-numpy +got):\n%s", diff)
			}
		})
	}
}
