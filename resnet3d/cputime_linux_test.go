package resnet3d

import "syscall"

// cpuSeconds returns the CPU time (user + system) this process has used, so
// that benchmarks can report work per CPU second, which moves less than
// wall time with other processes' load on a shared machine.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
