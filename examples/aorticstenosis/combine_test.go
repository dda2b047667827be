package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCombine combines two seeds' results and checks the means, spreads
// and counts, and that a missing or old-format directory is an error.
func TestCombine(t *testing.T) {
	dir := t.TempDir()
	seed := func(name, randomAUROC, simclrAUROC, diff, p string) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o755)
		res := "initialisation,evaluation,fraction,train_studies,level,n,positives,auroc\n" +
			"Random,fine-tune,0.01,10,study,300,60," + randomAUROC + "\n" +
			"Random,fine-tune,0.01,10,video,900,180,0.5\n" +
			"SimCLR,fine-tune,0.01,10,study,300,60," + simclrAUROC + "\n" +
			"SimCLR,linear probe,0.01,10,study,300,60,0.7\n"
		cmp := "initialisation,baseline,evaluation,fraction,auroc_difference,difference_lower,difference_upper,paired_bootstrap_p,delong_z,delong_p\n" +
			"SimCLR,Random,fine-tune,0.01," + diff + ",0,0," + p + ",0,0\n"
		os.WriteFile(filepath.Join(d, "results.csv"), []byte(res), 0o644)
		os.WriteFile(filepath.Join(d, "comparisons.csv"), []byte(cmp), 0o644)
		return d
	}
	a := seed("a", "0.6", "0.7", "0.1", "0.01")
	hist := filepath.Join(a, "pretrain", "mi-simclr-fo")
	os.MkdirAll(hist, 0o755)
	os.WriteFile(filepath.Join(hist, "history.csv"), []byte("epoch,steps,loss,ntxent,order,order_accuracy,seconds,linear_auroc,knn_auroc,held_out_order_accuracy\n"+
		"1,10,7,4.1,3.18,0.04,1,,,\n2,10,5,1.5,2.5,0.3,1,0.81,0.79,0.25\n"), 0o644)
	b := seed("b", "0.8", "0.7", "-0.1", "0.5")
	out := filepath.Join(dir, "out")
	if err := combine([]string{a, b}, out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "seeds.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| Random | 0.700 ± 0.141 [0.600, 0.800] (n=2) |",
		"| SimCLR | 0.700 ± 0.000 [0.700, 0.700] (n=2) |",
		"## linear probe",
		"| SimCLR | fine-tune | 1% | +0.000 | -0.100 to +0.100 | 1 | 0 | 2 |",
		"| mi-simclr-fo | " + a + " | 2 | 4.100 → 1.500 | 2.500 | 0.250 | 0.810 | 0.790 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("seeds.md lacks %q:\n%s", want, md)
		}
	}
	for _, name := range []string{"seeds.csv", "figure2-seeds.png"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	if err := combine([]string{a}, out); err == nil {
		t.Error("one directory accepted")
	}
	if err := combine([]string{a, filepath.Join(dir, "missing")}, out); err == nil {
		t.Error("a missing directory accepted")
	}
	old := filepath.Join(dir, "old")
	os.MkdirAll(old, 0o755)
	os.WriteFile(filepath.Join(old, "results.csv"), []byte("initialisation,fraction,level,auroc\nRandom,1,study,0.5\n"), 0o644)
	if err := combine([]string{a, old}, out); err == nil || !strings.Contains(err.Error(), "evaluation") {
		t.Errorf("results without an evaluation column: %v", err)
	}
}
