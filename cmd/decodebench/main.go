// Command decodebench measures how fast vidssl decodes a 112x112 Motion JPEG
// AVI, with and without the loader's preprocessing, and compares it with
// ffmpeg decoding the same file on one thread in the same run.
//
// Without -file it writes a -frames long echosynth video (study 0, video 0
// of echosynth.DefaultConfig, grey, JPEG quality 90) with video.WriteAVIFile
// to a temporary directory; with -file it uses that file instead.
//
// The Go part runs on one goroutine with runtime.GOMAXPROCS(1). Each timed
// run decodes the file -passes times with video.ReadFile ("decode"), or
// decodes it and applies video.MaskAndResize(112, 112) ("decode+
// preprocess").
//
// When ffmpeg is on PATH (or -ffmpeg names it), it decodes the same file
// with one decoder and one filter thread, looping over it with -stream_loop
// so that one process decodes as many frames as one Go run, in two
// variants, the second for comparison with decode+preprocess:
//
//	ffmpeg -threads 1 -filter_threads 1 -stream_loop P-1 -i FILE -f null -
//	ffmpeg -threads 1 -filter_threads 1 -stream_loop P-1 -i FILE -vf format=gray -f null -
//
// and each also with one pass (no -stream_loop), which measures what a
// process costs besides decoding (start, probing, set-up). The "steady"
// rows subtract it: P passes minus one pass, for (P-1) x frames frames.
//
// Every measurement runs once per round, -reps rounds in turn (so that a
// change in a shared machine's load hits all alike), and the best wall-clock
// time and the best CPU time (user + system; for Go the whole process's)
// of each are kept. The Go/ffmpeg columns divide Go's frames/s by steady
// ffmpeg's, by wall-clock and by CPU time; 1 or more means Go is at least as
// fast.
//
// Usage:
//
//	go run ./cmd/decodebench [-file video.avi] [-frames 64] [-passes 50] [-reps 5] [-ffmpeg ffmpeg]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vidssl/vidssl/internal/cputime"
	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

func main() {
	file := flag.String("file", "", "AVI file to decode (default: write an echosynth video to a temporary directory)")
	frames := flag.Int("frames", 64, "frames of the echosynth video written when -file is empty")
	passes := flag.Int("passes", 50, "decodes of the file per timed run (ffmpeg: -stream_loop passes-1)")
	reps := flag.Int("reps", 5, "timed runs of each measurement; the best is kept")
	ffmpegName := flag.String("ffmpeg", "ffmpeg", "ffmpeg command (skipped when not found)")
	flag.Parse()
	if *passes < 2 || *reps < 1 || *frames < 1 {
		fatal(errors.New("want -passes >= 2, -reps >= 1 and -frames >= 1"))
	}
	runtime.GOMAXPROCS(1)

	path := *file
	if path == "" {
		dir, err := os.MkdirTemp("", "decodebench-")
		if err != nil {
			fatal(err)
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "echosynth112.avi")
		if err := writeVideo(path, *frames); err != nil {
			fatal(err)
		}
	}
	v, err := video.ReadFile(path)
	if err != nil {
		fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		fatal(err)
	}
	nf := v.T
	fmt.Printf("file %s: %d frames of %dx%dx%d, %d bytes (%.0f bytes/frame)\n", path, nf, v.H, v.W, v.C, st.Size(), float64(st.Size())/float64(nf))
	fmt.Printf("%s %s/%s, GOMAXPROCS=1, %d CPUs; best of %d runs of %d passes (%d frames) each\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), *reps, *passes, *passes*nf)

	prep := video.MaskAndResize(112, 112)
	total := *passes * nf
	steadyN := (*passes - 1) * nf
	ms := []*measurement{
		{name: "Go decode (video.ReadFile)", frames: total, run: func() (cost, error) {
			return goCost(func() error {
				for range *passes {
					if _, err := video.ReadFile(path); err != nil {
						return err
					}
				}
				return nil
			})
		}},
		{name: "Go decode+preprocess (MaskAndResize 112)", frames: total, run: func() (cost, error) {
			return goCost(func() error {
				for range *passes {
					v, err := video.ReadFile(path)
					if err != nil {
						return err
					}
					if _, err := prep(v); err != nil {
						return err
					}
				}
				return nil
			})
		}},
	}
	ff, lookErr := exec.LookPath(*ffmpegName)
	if lookErr == nil {
		for _, vr := range []struct {
			name string
			vf   []string
		}{
			{"ffmpeg -threads 1 -f null", nil},
			{"ffmpeg -threads 1 -vf format=gray -f null", []string{"-vf", "format=gray"}},
		} {
			ms = append(ms,
				&measurement{name: vr.name + ", 1 pass (process)", frames: nf, run: func() (cost, error) {
					return runFFmpeg(ff, path, 1, vr.vf)
				}},
				&measurement{name: fmt.Sprintf("%s, %d passes (process)", vr.name, *passes), frames: total, run: func() (cost, error) {
					return runFFmpeg(ff, path, *passes, vr.vf)
				}})
		}
	}
	// Rounds: every measurement once per round, so that a change in the
	// machine's load hits all of them alike.
	for range *reps {
		for _, m := range ms {
			runtime.GC()
			c, err := m.run()
			if err != nil {
				fatal(err)
			}
			m.best.wall = minPositive(m.best.wall, c.wall)
			m.best.cpu = minPositive(m.best.cpu, c.cpu)
		}
	}

	var rows [][]string
	row := func(name string, n int, c cost, ratios ...string) {
		cells := []string{"", ""}
		copy(cells, ratios)
		rows = append(rows, []string{name, strconv.Itoa(n), fmt.Sprintf("%.1f", millis(c.wall)), fmt.Sprintf("%.1f", millis(c.cpu)),
			fps(n, c.wall), fps(n, c.cpu), cells[0], cells[1]})
	}
	if lookErr != nil {
		row(ms[0].name, total, ms[0].best)
		row(ms[1].name, total, ms[1].best)
		printTable(rows)
		fmt.Printf("\nffmpeg not found (%v): no comparison\n", lookErr)
		return
	}
	for k, g := range ms[:2] {
		one, many := ms[2+2*k], ms[3+2*k]
		steady := cost{wall: many.best.wall - one.best.wall, cpu: many.best.cpu - one.best.cpu}
		ratio := func(gd, fd time.Duration) string {
			if gd <= 0 || fd <= 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.2f", (float64(total)/gd.Seconds())/(float64(steadyN)/fd.Seconds()))
		}
		row(g.name, total, g.best, ratio(g.best.wall, steady.wall), ratio(g.best.cpu, steady.cpu))
		row(one.name, nf, one.best)
		row(many.name, total, many.best)
		row(strings.TrimSuffix(many.name, " (process)")+" - 1 pass = steady", steadyN, steady)
	}
	printTable(rows)
	fmt.Printf("\nGo/ffmpeg: Go frames/s over steady ffmpeg frames/s (wall, CPU); >= 1 means Go is as fast or faster.\n%s: %s\n", ff, ffmpegVersion(ff))
}

// cost is the wall-clock and CPU (user + system) time of a run.
type cost struct {
	wall, cpu time.Duration
}

// measurement is one thing timed in every round, and its best times.
type measurement struct {
	name   string
	frames int
	run    func() (cost, error)
	best   cost
}

// goCost times f in this process; its CPU time is the process's (on one P,
// the decoding goroutine's and the garbage collector's).
func goCost(f func() error) (cost, error) {
	cpu0 := cputime.Process()
	start := time.Now()
	err := f()
	return cost{wall: time.Since(start), cpu: cputime.Process() - cpu0}, err
}

// minPositive returns the smaller of a and b, ignoring a when it is 0 (no
// value yet).
func minPositive(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// fps formats n frames in d as frames per second.
func fps(n int, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}

// printTable prints rows under a header, the first column left-aligned and
// the others right-aligned.
func printTable(rows [][]string) {
	head := []string{"measurement", "frames", "wall ms", "CPU ms", "frames/s wall", "frames/s CPU", "Go/ffmpeg wall", "Go/ffmpeg CPU"}
	all := append([][]string{head}, rows...)
	width := make([]int, len(head))
	for _, r := range all {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	for _, r := range all {
		line := fmt.Sprintf("%-*s", width[0], r[0])
		for i, c := range r[1:] {
			line += fmt.Sprintf("  %*s", width[i+1], c)
		}
		fmt.Println(strings.TrimRight(line, " "))
	}
}

// writeVideo writes frames frames of echosynth study 0, video 0 as a Motion
// JPEG AVI at path.
func writeVideo(path string, frames int) error {
	cfg := echosynth.DefaultConfig()
	cfg.Studies = 1
	cfg.Frames = frames
	v, _, err := echosynth.Generate(cfg, 0, 0)
	if err != nil {
		return err
	}
	return video.WriteAVIFile(path, v, nil)
}

// runFFmpeg decodes path passes times in one single-threaded ffmpeg process,
// with the -vf arguments vf, discarding the frames, and returns the
// process's wall-clock and CPU time.
func runFFmpeg(ff, path string, passes int, vf []string) (cost, error) {
	args := []string{"-v", "error", "-nostdin", "-threads", "1", "-filter_threads", "1",
		"-stream_loop", strconv.Itoa(passes - 1), "-i", path}
	args = append(args, vf...)
	args = append(args, "-f", "null", "-")
	cmd := exec.Command(ff, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return cost{}, fmt.Errorf("%s %v: %v\n%s", ff, args, err, out.Bytes())
	}
	return cost{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

// ffmpegVersion returns the first line of ffmpeg -version.
func ffmpegVersion(ff string) string {
	out, err := exec.Command(ff, "-version").Output()
	if err != nil {
		return "version unknown"
	}
	for i, c := range out {
		if c == '\n' {
			return string(out[:i])
		}
	}
	return string(out)
}

// millis returns d in milliseconds.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "decodebench:", err)
	os.Exit(1)
}
