package figures_test

import (
	"bytes"
	"fmt"
	"image/png"

	"github.com/vidssl/vidssl/figures"
)

func ExampleAUROCByFraction() {
	series := []figures.FractionSeries{
		{Name: "MI-SimCLR+FO", Points: []figures.FractionPoint{
			{Percent: 1, AUROC: 0.818, Lower: 0.794, Upper: 0.840},
			{Percent: 5, AUROC: 0.872, Lower: 0.853, Upper: 0.891},
		}},
		{Name: "Kinetics-400", Points: []figures.FractionPoint{
			{Percent: 1, AUROC: 0.644, Lower: 0.610, Upper: 0.677},
			{Percent: 5, AUROC: 0.799, Lower: 0.775, Upper: 0.822},
		}},
	}
	var buf bytes.Buffer // or figures.AUROCByFractionFile("fig2.png", ...)
	if err := figures.AUROCByFraction(&buf, series, figures.Options{Title: "Severe AS", Width: 640, Height: 480}); err != nil {
		fmt.Println(err)
		return
	}
	img, err := png.Decode(&buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(img.Bounds().Size())
	// Output: (640,480)
}

func ExampleROC() {
	curves := []figures.ROCCurve{{
		Name:  "MI-SimCLR+FO",
		FPR:   []float64{0, 0, 0.1, 0.3, 1}, // from metrics.ROC
		TPR:   []float64{0, 0.4, 0.7, 0.9, 1},
		AUROC: 0.872, Lower: 0.853, Upper: 0.891,
	}}
	var buf bytes.Buffer
	err := figures.ROC(&buf, curves, figures.Options{Width: 480, Height: 480})
	fmt.Println(err, buf.Len() > 0)
	// Output: <nil> true
}
