package video_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

// benchFrames is the length of the benchmark video.
const benchFrames = 64

// writeBenchAVI writes a 112x112 grey Motion JPEG AVI of benchFrames
// echosynth frames (default JPEG quality) into b.TempDir and returns its
// path.
func writeBenchAVI(b *testing.B) string {
	b.Helper()
	cfg := echosynth.DefaultConfig()
	cfg.Studies = 1
	cfg.Frames = benchFrames
	v, _, err := echosynth.Generate(cfg, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "bench112.avi")
	if err := video.WriteAVIFile(path, v, nil); err != nil {
		b.Fatal(err)
	}
	return path
}

// reportFramesPerSecond reports the decoded frames per second of iters
// iterations of a frames-long video.
func reportFramesPerSecond(b *testing.B, iters, frames int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(iters*frames)/s, "frames/s")
	}
}

// BenchmarkDecodeAVI112 measures video.ReadFile on a 64-frame 112x112 MJPEG
// AVI (file read and JPEG decoding), reporting frames/s.
func BenchmarkDecodeAVI112(b *testing.B) {
	path := writeBenchAVI(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		v, err := video.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if v.T != benchFrames {
			b.Fatalf("decoded %d frames, want %d", v.T, benchFrames)
		}
		n++
	}
	reportFramesPerSecond(b, n, benchFrames)
}

// BenchmarkDecodePreprocess112 measures video.ReadFile followed by
// video.MaskAndResize(112, 112) (sector masking, then a same-size resize) on
// the same file, reporting frames/s.
func BenchmarkDecodePreprocess112(b *testing.B) {
	path := writeBenchAVI(b)
	prep := video.MaskAndResize(112, 112)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		v, err := video.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := prep(v); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportFramesPerSecond(b, n, benchFrames)
}

// benchParallel runs ReadFile, then prep when not nil, on the bench video
// from GOMAXPROCS goroutines at once, as a Loader's workers do, and reports
// the frames/s of all together.
func benchParallel(b *testing.B, prep func(*video.Video) (*video.Video, error)) {
	path := writeBenchAVI(b)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			v, err := video.ReadFile(path)
			if err != nil {
				b.Error(err)
				return
			}
			if prep != nil {
				if _, err := prep(v); err != nil {
					b.Error(err)
					return
				}
			}
			n.Add(1)
		}
	})
	reportFramesPerSecond(b, int(n.Load()), benchFrames)
}

// BenchmarkDecodeAVI112Parallel is BenchmarkDecodeAVI112 on all
// GOMAXPROCS cores at once (frames/s of all together).
func BenchmarkDecodeAVI112Parallel(b *testing.B) { benchParallel(b, nil) }

// BenchmarkDecodePreprocess112Parallel is BenchmarkDecodePreprocess112 on
// all GOMAXPROCS cores at once, as the loader's workers run it.
func BenchmarkDecodePreprocess112Parallel(b *testing.B) {
	benchParallel(b, video.MaskAndResize(112, 112))
}
