//go:build !linux

package resnet3d

// cpuSeconds is not measured here: benchmarks report no CPU-time figure.
func cpuSeconds() float64 { return 0 }
