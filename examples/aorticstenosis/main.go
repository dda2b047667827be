// Command aorticstenosis runs the whole pipeline of Holste et al.,
// "Self-supervised learning of echocardiogram videos enables data-efficient
// clinical diagnosis", on synthetic echoes by default:
//
//  1. generate an echosynth data set (or read -data DIR);
//  2. pretrain SimCLR, MI-SimCLR and MI-SimCLR+FO on the training split
//     (on every record with -pretrain-on all);
//  3. fine-tune every initialisation (Random, Kinetics-400 with -kinetics,
//     the three self-supervised ones) on nested subsets of 1 to 100% of the
//     training studies, with the paper's protocol;
//  4. evaluate on the test split at study level with bootstrap confidence
//     intervals and paired comparisons against Random;
//  5. fit a linear probe on every initialisation's frozen encoder at every
//     label fraction, evaluated and compared the same way;
//  6. compute Grad-CAM maps of the most confident severe-AS predictions;
//  7. write results.csv, comparisons.csv, figure2.png, roc.png,
//     figure3.png, every run's history and summary.md.
//
// Pretraining also runs a monitor: linear and k-NN probes of the frozen
// encoder on the validation split every few epochs, in each method's
// history.csv. The demo preset is the CPU benchmark sized to answer whether
// pretraining helps; run it with three seeds and combine them:
//
//	for s in 1 2 3; do go run ./examples/aorticstenosis -preset demo -seed $s -out demo-$s; done
//	go run ./examples/aorticstenosis -combine demo-1,demo-2,demo-3 -out demo-seeds
//
// Usage:
//
//	go run ./examples/aorticstenosis [-preset quick|demo|gpu|paper|tiny] [-out DIR] [-data DIR]
//	    [-kinetics r3d_18.pth] [-seed N] [-stages all] [-workers N]
//	    [-unreadable stop|skip] [-check-decode] [-pretrain-on train|all]
//	go run ./examples/aorticstenosis -combine OUT1,OUT2,OUT3 -out DIR
//
// -stages runs part of the pipeline: "-stages data,pretrain" prepares the
// data and pretrains, and stops there; a later "-stages finetune,gradcam,report"
// reads the data and checkpoints that run wrote. Before training, every
// video file's header is checked (every frame with -check-decode) and all
// unreadable files are listed at once; -unreadable skip leaves them out.
// A rerun skips every stage whose results exist for the same settings.
// Ctrl-C stops cleanly; the next run resumes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
)

func main() {
	var o options
	flag.StringVar(&o.Preset, "preset", "quick", "settings: quick (CPU, minutes), demo (the CPU benchmark that can answer whether pretraining helps; about an hour), gpu (R3D-18 at 112 px on 2,000 synthetic studies, about an hour on one GPU), paper (the paper's, for a GPU) or tiny (tests)")
	flag.StringVar(&o.Out, "out", "aorticstenosis-out", "output directory")
	flag.StringVar(&o.Data, "data", "", "a real data set: a directory with manifest.csv (path, patient_id, study_id, label, split) or train.csv/val.csv/test.csv in the paper's columns (fpath, acc_num, av_stenosis); default: synthetic echoes in OUT/data")
	flag.StringVar(&o.Kinetics, "kinetics", "", "torchvision r3d_18 Kinetics-400 weights (.pth) for the Kinetics-400 initialisation (paper preset)")
	flag.Uint64Var(&o.Seed, "seed", 0, "seed of the synthetic data set, the label subsets, initialisations and data order")
	flag.StringVar(&o.Stages, "stages", "all", "comma-separated stages to run: data, pretrain, probe, finetune, gradcam, report (or all); a stage reads what the stages before it wrote, and nothing after the last one named runs")
	flag.StringVar(&o.Unreadable, "unreadable", "stop", "what to do with video files that the check before training cannot read: stop (list them all and exit) or skip (leave them out, counted and logged)")
	flag.BoolVar(&o.CheckDecode, "check-decode", false, "the check before training decodes every frame of every video, not only the headers")
	flag.StringVar(&o.PretrainOn, "pretrain-on", "train", "the records that pretrain the encoders: train (the training split, the paper's choice) or all (every record, the unlabelled split included; the encoders then see the val and test videos, not their labels; checkpoints in OUT/pretrain-all)")
	flag.IntVar(&o.Workers, "workers", runtime.GOMAXPROCS(0), "goroutines decoding videos")
	flag.StringVar(&o.Device, "device", "auto", "where pretraining, fine-tuning and evaluation run: cpu, cuda (an NVIDIA GPU through CUDA 12/13 and cuDNN 9, found at run time), or auto (cuda when usable, else cpu)")
	flag.BoolVar(&o.Quiet, "quiet", false, "no progress bars")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	combineDirs := flag.String("combine", "", "comma-separated -out directories of runs with different -seed: write the mean and spread of their results to -out (seeds.md, seeds.csv, figure2-seeds.png) and exit")
	flag.Parse()
	if *combineDirs != "" {
		if err := combine(strings.Split(*combineDirs, ","), o.Out); err != nil {
			fmt.Fprintln(os.Stderr, "combine:", err)
			os.Exit(1)
		}
		return
	}
	if os.Getenv("GOGC") == "" {
		// Each training step allocates its activations anew; collecting
		// sooner reuses that memory instead of faulting in fresh pages,
		// which is both faster and smaller (see the README).
		debug.SetGCPercent(25)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpuprofile:", err)
			os.Exit(2)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if code := exitCode(run(ctx, o, log), o, log); code != 0 {
		stop()
		if *cpuprofile != "" {
			pprof.StopCPUProfile()
		}
		os.Exit(code)
	}
}

// exitCode logs how a run ended and returns the process's exit status.
func exitCode(err error, o options, log *slog.Logger) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		log.Warn("interrupted; run again to resume", "out", o.Out)
		return 130
	default:
		log.Error("failed", "err", err)
		return 1
	}
}

// options are the command's flags.
type options struct {
	Preset, Out, Data, Kinetics, Stages, Device string
	Seed                                        uint64
	Workers                                     int
	Quiet                                       bool
	// Unreadable is "stop" or "skip" (see video.FileCheckOptions); "" is stop.
	Unreadable string
	// CheckDecode decodes every video in the check before training.
	CheckDecode bool
	// PretrainOn is "train" or "all" (see pretrain.Config.Splits); "" is
	// train.
	PretrainOn string
}

// stageOrder is the order in which stages run.
var stageOrder = []string{"data", "pretrain", "probe", "finetune", "gradcam", "report"}

// needs reports whether the run goes as far as stage name: it or a later
// stage was asked for. A stage that is needed but not asked for reads what
// an earlier run wrote.
func (o options) needs(name string) bool {
	later := false
	for _, s := range stageOrder {
		later = later || s == name
		if later && o.stage(s) {
			return true
		}
	}
	return false
}

func (o options) stage(name string) bool {
	if o.Stages == "" || o.Stages == "all" {
		return true
	}
	for _, s := range strings.Split(o.Stages, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

func (o options) validate() error {
	for _, s := range strings.Split(o.Stages, ",") {
		switch strings.TrimSpace(s) {
		case "all", "data", "pretrain", "probe", "finetune", "gradcam", "report":
		default:
			return fmt.Errorf("-stages: unknown stage %q (want data, pretrain, probe, finetune, gradcam, report or all)", s)
		}
	}
	switch o.Device {
	case "cpu", "cuda", "auto":
	default:
		return fmt.Errorf("-device %q: want cpu, cuda or auto", o.Device)
	}
	switch o.Unreadable {
	case "", "stop", "skip":
	default:
		return fmt.Errorf("-unreadable %q: want stop or skip", o.Unreadable)
	}
	switch o.PretrainOn {
	case "", "train", "all":
	default:
		return fmt.Errorf("-pretrain-on %q: want train or all", o.PretrainOn)
	}
	if o.Workers < 1 {
		return fmt.Errorf("-workers %d: want at least 1", o.Workers)
	}
	return nil
}
