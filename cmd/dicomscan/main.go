// Command dicomscan walks a folder tree of DICOM files (a PACS export; a
// DICOMDIR is not needed) and writes a manifest of the ultrasound cine loops
// in it, for vidssl's loaders and `-data DIR`: one row per loop with its
// path (relative to the manifest), patient_id (PatientID), study_id
// (StudyInstanceUID), frames, fps, width, height, channels,
// transfer_syntax, modality and view. Every file is decoded once, in
// parallel, so the manifest lists only loops that vidssl reads; every other
// file is reported with the reason it was skipped (not DICOM, damaged, an
// unsupported encoding, a structured report, another modality, a single
// frame, another view), on standard error and, with -skipped, as a CSV.
//
// Add a label column (0 or 1) before training; read the manifest in Go with
// video.ReadManifest(path, video.DICOMScanColumns) plus the label column.
//
// Usage:
//
//	go run ./cmd/dicomscan [-o manifest.csv] [-skipped skipped.csv] [-modality US] [-min-frames 2] [-view "parasternal long axis"] [-workers N] DIR
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/vidssl/vidssl/video"
)

func main() {
	out := flag.String("o", "manifest.csv", "manifest CSV to write")
	skipped := flag.String("skipped", "", "CSV to write the skipped files and why to (default: standard error only)")
	modality := flag.String("modality", "US", "comma-separated modalities to keep")
	minFrames := flag.Int("min-frames", 2, "least number of frames to keep")
	view := flag.String("view", "", "comma-separated views to keep (View Name or View Code Sequence meaning; default: any)")
	workers := flag.Int("workers", 0, "files read at once (default: GOMAXPROCS)")
	quiet := flag.Bool("q", false, "no progress bar")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: dicomscan [flags] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out, *skipped, *modality, *view, *minFrames, *workers, *quiet); err != nil {
		slog.Error("dicomscan", "err", err)
		os.Exit(1)
	}
}

func run(dir, out, skippedPath, modality, view string, minFrames, workers int, quiet bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := video.DICOMScanOptions{Modalities: split(modality), MinFrames: minFrames, Views: split(view), Workers: workers}
	if !quiet {
		opts.Progress = func(done, total int) {
			const width = 30
			n := width * done / total
			fmt.Fprintf(os.Stderr, "\r[%s%s] %d/%d files", strings.Repeat("#", n), strings.Repeat(" ", width-n), done, total)
			if done == total {
				fmt.Fprintln(os.Stderr)
			}
		}
	}
	entries, skips, err := video.ScanDICOM(ctx, dir, opts)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := video.WriteDICOMManifest(f, entries, filepath.Dir(out)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, s := range skips {
		fmt.Fprintf(os.Stderr, "skipped %s: %s\n", s.Path, s.Reason)
	}
	if skippedPath != "" {
		if err := writeSkipped(skippedPath, skips); err != nil {
			return err
		}
	}
	slog.Info("dicomscan", "kept", len(entries), "skipped", len(skips), "manifest", out)
	return nil
}

func writeSkipped(path string, skips []video.DICOMSkip) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"path", "reason"})
	for _, s := range skips {
		w.Write([]string{s.Path, s.Reason})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// split splits a comma-separated list; "" gives nil.
func split(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(f))
	}
	return out
}
