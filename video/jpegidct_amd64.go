//go:build !purego

package video

import "golang.org/x/sys/cpu"

// jpegAVX2 says whether idctPutAVX2 can run (read-only after start-up).
var jpegAVX2 = cpu.X86.HasAVX2

// idctPutAVX2 is jpegIDCT of the whole block b followed by image/jpeg's
// level shift and clipping, written as 8 rows of 8 bytes at dst, stride
// bytes apart; b is not changed. The caller checks that dst holds
// 7*stride+8 bytes.
//
//go:noescape
func idctPutAVX2(b *[64]int32, dst []uint8, stride int)
