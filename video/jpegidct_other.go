//go:build !amd64 || purego

package video

// jpegAVX2 is false: there is no assembly IDCT on this platform.
const jpegAVX2 = false

// idctPutAVX2 is what the assembly does, in Go (not called where jpegAVX2
// is false): jpegIDCT of b and image/jpeg's level shift and clipping,
// written as 8 rows of 8 bytes at dst, stride bytes apart; b is not
// changed.
func idctPutAVX2(b *[64]int32, dst []uint8, stride int) {
	c := *b
	jpegIDCT(&c, 0xFF, 0xFF)
	for y := range 8 {
		for x := range 8 {
			dst[y*stride+x] = jpegClip(c[8*y+x])
		}
	}
}
