// Package cputime reads the CPU time this process has used, for the
// measurement commands (cmd/decodebench, cmd/loaderbench, cmd/r3dbench),
// which report costs in CPU time because their machines are shared.
package cputime

import (
	"syscall"
	"time"
)

// Process returns the user + system CPU time this process has used, all
// its threads together, or 0 when the system does not say.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
