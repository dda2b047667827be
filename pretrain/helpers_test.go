package pretrain

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

// The tests share one small echosynth data set, made once per test binary.
var (
	dataOnce sync.Once
	dataDir  string
	dataErr  error
)

// testData returns the manifest of a small synthetic data set: 16 studies of
// 2-4 videos, 10 frames of 32x32.
func testData(t testing.TB) *video.Manifest {
	t.Helper()
	dataOnce.Do(func() {
		dataDir, dataErr = os.MkdirTemp("", "pretrain-test")
		if dataErr != nil {
			return
		}
		cfg := echosynth.DefaultConfig()
		cfg.Studies = 16
		cfg.MinVideos, cfg.MaxVideos = 2, 4
		cfg.Frames = 10
		cfg.Height, cfg.Width = 32, 32
		_, dataErr = echosynth.WriteDataset(context.Background(), dataDir, cfg, nil)
	})
	if dataErr != nil {
		t.Fatal(dataErr)
	}
	m, err := video.ReadManifest(filepath.Join(dataDir, echosynth.ManifestName), video.OurColumns)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dataDir != "" {
		os.RemoveAll(dataDir)
	}
	os.Exit(code)
}

// identityWithout returns cfg's identity, failing the test if it names
// field: a setting at its zero value leaves a run's identity as it was
// before the setting existed, so older checkpoints resume.
func identityWithout(t *testing.T, cfg Config, field string) string {
	t.Helper()
	id, err := cfg.identity(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(id, field) {
		t.Errorf("identity names %s: %s", field, id)
	}
	return id
}

// tinyConfig is a configuration that trains in seconds.
func tinyConfig(method Method) Config {
	c := SmallConfig(method)
	c.Model = resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}}
	c.BatchPairs = 8
	c.Epochs = 3
	c.CheckpointEvery = 2
	c.Workers = 2
	c.CacheBytes = 64 << 20
	return c
}
