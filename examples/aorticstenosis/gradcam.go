package main

import (
	"context"
	"fmt"
	"image"
	"path/filepath"
	"sort"

	"github.com/vidssl/vidssl/explain"
	"github.com/vidssl/vidssl/finetune"
	"github.com/vidssl/vidssl/video"
)

// gradcam draws the paper's Figure 3: Grad-CAM of layer4 for the most
// confident severe-AS test predictions of MI-SimCLR+FO, for the Kinetics-400
// (or Random) model on the top row and MI-SimCLR+FO below, at the largest
// label fraction, over the first CAMFrames frames of each video, shown as
// the temporal maximum over the first frame.
func (pl *pipeline) gradcam(ctx context.Context) error {
	f := pl.sortedFractions()[len(pl.p.Fractions)-1]
	top := pl.result(initKinetics, f)
	if top == nil {
		top = pl.result(initRandom, f)
	}
	ssl := pl.result(sslInitName[sslMethods[len(sslMethods)-1]], f)
	if top == nil || ssl == nil {
		return fmt.Errorf("no fine-tuned models at %s of labels", pctName(f))
	}
	var severe []finetune.Prediction
	for _, q := range ssl.Predictions.Videos {
		if q.Label == 1 {
			severe = append(severe, q)
		}
	}
	sort.SliceStable(severe, func(i, j int) bool { return severe[i].Prob > severe[j].Prob })
	if len(severe) == 0 {
		return fmt.Errorf("no severe-AS test videos")
	}
	severe = severe[:min(pl.p.CAMVideos, len(severe))]

	// The clips: the first CAMFrames frames, preprocessed as for training.
	n, s, t := len(severe), pl.p.FrameSize, pl.p.CAMFrames
	frames := make([]*video.Video, n)
	var cols []string
	clips := func(kinetics bool) ([]float32, error) {
		data := make([]float32, n*3*t*s*s)
		for i, q := range severe {
			v, err := video.ReadFile(q.ID)
			if err != nil {
				return nil, err
			}
			if v, err = pl.preprocess()(v); err != nil {
				return nil, err
			}
			clip, err := video.Gather(v, video.ClipIndices(v.T, 0, t, 1))
			if err != nil {
				return nil, err
			}
			frames[i] = clip
			if err := video.ClipTensor(data[i*3*t*s*s:(i+1)*3*t*s*s], clip, video.BatchOptions{Channels: 3, Kinetics: kinetics}); err != nil {
				return nil, fmt.Errorf("%s: %w", q.ID, err)
			}
		}
		return data, nil
	}
	for _, q := range severe {
		cols = append(cols, fmt.Sprintf("%s p=%.2f", filepath.Base(q.Study), q.Prob))
	}
	var rows [][]*image.RGBA
	var rowNames []string
	for _, r := range []*unitResult{top, ssl} {
		model, err := pl.loadModel(r)
		if err != nil {
			return err
		}
		data, err := clips(r.Init == initKinetics)
		if err != nil {
			return err
		}
		cam, err := explain.ResNetCAM(ctx, model, data, [5]int{n, 3, t, s, s}, 4, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Init, err)
		}
		var row []*image.RGBA
		for i := range severe {
			fr := frames[i]
			img, err := explain.Overlay(fr.Frame(0), fr.H, fr.W, fr.C, cam.Heatmaps[i*s*s:(i+1)*s*s], explain.Jet, 0.45)
			if err != nil {
				return err
			}
			big, err := explain.Upscale(img, max(1, 128/s))
			if err != nil {
				return err
			}
			row = append(row, big)
		}
		rows = append(rows, row)
		rowNames = append(rowNames, r.Init)
	}
	grid, err := explain.Grid(rows, rowNames, cols)
	if err != nil {
		return err
	}
	path := filepath.Join(pl.o.Out, "figure3.png")
	if err := explain.WritePNG(path, grid); err != nil {
		return err
	}
	pl.log.Info("Grad-CAM figure written", "path", path, "videos", n)
	return nil
}
