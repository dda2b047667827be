package blas

import (
	"bufio"
	"os"
	"strings"

	"golang.org/x/sys/cpu"
)

// CPUInfo describes the processor for benchmark headers: its model name
// (from /proc/cpuinfo where there is one) and the vector extensions that
// vidssl's kernels can use, as the CPU and the OS report them, for example
// "AMD EPYC; avx2 fma avx512f avx512vl avx512bw avx512dq".
func CPUInfo() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var flags []string
	for _, f := range []struct {
		name string
		has  bool
	}{
		{"avx", cpu.X86.HasAVX}, {"avx2", cpu.X86.HasAVX2}, {"fma", cpu.X86.HasFMA},
		{"avx512f", cpu.X86.HasAVX512F}, {"avx512vl", cpu.X86.HasAVX512VL},
		{"avx512bw", cpu.X86.HasAVX512BW}, {"avx512dq", cpu.X86.HasAVX512DQ},
		{"asimd", cpu.ARM64.HasASIMD}, {"sve", cpu.ARM64.HasSVE},
	} {
		if f.has {
			flags = append(flags, f.name)
		}
	}
	if len(flags) == 0 {
		flags = append(flags, "no SIMD extension vidssl uses")
	}
	return model + "; " + strings.Join(flags, " ")
}
