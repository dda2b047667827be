//go:build amd64

package vec

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestChooseLevel checks the level VIDSSL_BLAS's values choose on this CPU.
func TestChooseLevel(t *testing.T) {
	best := levelGo
	switch {
	case cpu.X86.HasAVX512F:
		best = levelAVX512
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		best = levelAVX2
	}
	avx2 := levelGo
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		avx2 = levelAVX2
	}
	for env, want := range map[string]int{"": best, "go": best, "openblas": best, "go-generic": levelGo, "go-avx2": avx2} {
		if got := chooseLevel(env); got != want {
			t.Errorf("chooseLevel(%q) = %s, want %s", env, levelNames[got], levelNames[want])
		}
	}
	if maxLevel() != best {
		t.Errorf("maxLevel() = %s, want %s", levelNames[maxLevel()], levelNames[best])
	}
}
