//go:build !amd64 || purego

package video

// jpegAVX2 is false: there is no assembly IDCT on this platform.
const jpegAVX2 = false

// idctPutAVX2 is never called where jpegAVX2 is false.
func idctPutAVX2(b *[64]int32, dst *uint8, stride int) {
	panic("video: idctPutAVX2 without AVX2")
}
