//go:build !purego

#include "textflag.h"

// Constants of image/jpeg's IDCT (see jpegidct.go), eight copies each.
// dctBox(a, b, kcos, ksin) is ksum = kcos*(a+b); a' = ksum + (ksin-kcos)*b;
// b' = ksum - (kcos+ksin)*a.
#define K8(name, v) \
	DATA name<>+0(SB)/4, $v; DATA name<>+4(SB)/4, $v; DATA name<>+8(SB)/4, $v; DATA name<>+12(SB)/4, $v; \
	DATA name<>+16(SB)/4, $v; DATA name<>+20(SB)/4, $v; DATA name<>+24(SB)/4, $v; DATA name<>+28(SB)/4, $v; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

K8(rowA, 70936)
K8(rowAsmc, -242190)
K8(rowAcps, -100318)
K8(k181, 181)
K8(c3, 3406)
K8(c3smc, -5682)
K8(c3cps, 1130)
K8(c1, 4017)
K8(c1smc, -4816)
K8(c1cps, 3218)
K8(colB, 1108)
K8(colBsmc, -3784)
K8(colBcps, -1568)
K8(k11585, 11585)
K8(half, 524288)
K8(w128, 8388736) // 128 in each 16-bit half

DATA perm<>+0(SB)/4, $0
DATA perm<>+4(SB)/4, $4
DATA perm<>+8(SB)/4, $1
DATA perm<>+12(SB)/4, $5
DATA perm<>+16(SB)/4, $2
DATA perm<>+20(SB)/4, $6
DATA perm<>+24(SB)/4, $3
DATA perm<>+28(SB)/4, $7
GLOBL perm<>(SB), RODATA|NOPTR, $32

// TRANSPOSE transposes the 8x8 int32 matrix whose rows are Y0..Y7 into
// Y8..Y15 (Y8+j holds element j of every row); Y0..Y7 are clobbered.
#define TRANSPOSE \
	VPUNPCKLDQ Y1, Y0, Y8; \
	VPUNPCKHDQ Y1, Y0, Y9; \
	VPUNPCKLDQ Y3, Y2, Y10; \
	VPUNPCKHDQ Y3, Y2, Y11; \
	VPUNPCKLDQ Y5, Y4, Y12; \
	VPUNPCKHDQ Y5, Y4, Y13; \
	VPUNPCKLDQ Y7, Y6, Y14; \
	VPUNPCKHDQ Y7, Y6, Y15; \
	VPUNPCKLQDQ Y10, Y8, Y0; \
	VPUNPCKHQDQ Y10, Y8, Y1; \
	VPUNPCKLQDQ Y11, Y9, Y2; \
	VPUNPCKHQDQ Y11, Y9, Y3; \
	VPUNPCKLQDQ Y14, Y12, Y4; \
	VPUNPCKHQDQ Y14, Y12, Y5; \
	VPUNPCKLQDQ Y15, Y13, Y6; \
	VPUNPCKHQDQ Y15, Y13, Y7; \
	VPERM2I128 $0x20, Y4, Y0, Y8; \
	VPERM2I128 $0x31, Y4, Y0, Y12; \
	VPERM2I128 $0x20, Y5, Y1, Y9; \
	VPERM2I128 $0x31, Y5, Y1, Y13; \
	VPERM2I128 $0x20, Y6, Y2, Y10; \
	VPERM2I128 $0x31, Y6, Y2, Y14; \
	VPERM2I128 $0x20, Y7, Y3, Y11; \
	VPERM2I128 $0x31, Y7, Y3, Y15

// ODD is the second half of both passes, from x7=Y9, x5=Y11, x6=Y13,
// x4=Y15 (x4 and x7 shifted left by 7 first in the row pass: SH7) to
// x4=Y7, x5=Y4, x6=Y5, x7=Y9; PRE5 and PRE6 apply to x5, x6 before the
// butterflies, SHB is the shift before the rotations. Y4..Y7, Y11, Y13, Y15
// are clobbered.
#define ODD(SHB) \
	VPADDD Y15, Y9, Y4; \
	VPSUBD Y15, Y9, Y15; \
	VPADDD Y11, Y4, Y5; \
	VPSUBD Y11, Y4, Y11; \
	VPADDD Y13, Y15, Y4; \
	VPSUBD Y13, Y15, Y13; \
	VPSRAD $SHB, Y4, Y4; \
	VPSRAD $SHB, Y5, Y5; \
	VPADDD Y5, Y4, Y6; \
	VPMULLD c3<>(SB), Y6, Y6; \
	VPMULLD c3smc<>(SB), Y5, Y7; \
	VPADDD Y7, Y6, Y7; \
	VPMULLD c3cps<>(SB), Y4, Y9; \
	VPSUBD Y9, Y6, Y9; \
	VPSRAD $SHB, Y11, Y11; \
	VPSRAD $SHB, Y13, Y13; \
	VPADDD Y13, Y11, Y6; \
	VPMULLD c1<>(SB), Y6, Y6; \
	VPMULLD c1smc<>(SB), Y13, Y4; \
	VPADDD Y4, Y6, Y4; \
	VPMULLD c1cps<>(SB), Y11, Y5; \
	VPSUBD Y5, Y6, Y5

// STAGE1 combines x0=Y8, x1=Y1, x2=Y2, x3=Y3, x4=Y7, x5=Y4, x6=Y5, x7=Y9
// into outputs 0..7 in Y0..Y7.
#define STAGE1 \
	VPADDD Y9, Y8, Y0; \
	VPSUBD Y9, Y8, Y15; \
	VPADDD Y5, Y1, Y14; \
	VPSUBD Y5, Y1, Y6; \
	VPADDD Y4, Y2, Y13; \
	VPSUBD Y4, Y2, Y5; \
	VPADDD Y7, Y3, Y12; \
	VPSUBD Y7, Y3, Y4; \
	VMOVDQA Y15, Y7; \
	VMOVDQA Y14, Y1; \
	VMOVDQA Y13, Y2; \
	VMOVDQA Y12, Y3

// func idctPutAVX2(b *[64]int32, dst []uint8, stride int)
TEXT ·idctPutAVX2(SB), NOSPLIT, $0-40
	MOVQ b+0(FP), SI
	MOVQ dst_base+8(FP), DI
	MOVQ stride+32(FP), BX

	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VMOVDQU 128(SI), Y4
	VMOVDQU 160(SI), Y5
	VMOVDQU 192(SI), Y6
	VMOVDQU 224(SI), Y7
	TRANSPOSE

	// Row pass, the eight rows at once: x0=Y8 x7=Y9 x2=Y10 x5=Y11 x1=Y12
	// x6=Y13 x3=Y14 x4=Y15.
	VPSLLD $17, Y8, Y8
	VPSLLD $17, Y12, Y12
	VPADDD Y12, Y8, Y0
	VPSUBD Y12, Y8, Y12
	VPADDD Y14, Y10, Y1
	VPMULLD rowA<>(SB), Y1, Y1
	VPMULLD rowAsmc<>(SB), Y14, Y2
	VPADDD Y2, Y1, Y2
	VPMULLD rowAcps<>(SB), Y10, Y3
	VPSUBD Y3, Y1, Y3
	VPADDD Y2, Y12, Y1
	VPSUBD Y2, Y12, Y2
	VPADDD Y3, Y0, Y8
	VPSUBD Y3, Y0, Y3
	VPSLLD $7, Y15, Y15
	VPSLLD $7, Y9, Y9
	VPMULLD k181<>(SB), Y13, Y13
	VPMULLD k181<>(SB), Y11, Y11
	ODD(2)
	STAGE1
	TRANSPOSE

	// Column pass, the eight columns at once: x0=Y8 x7=Y9 x2=Y10 x5=Y11
	// x1=Y12 x6=Y13 x3=Y14 x4=Y15.
	VPADDD half<>(SB), Y8, Y8
	VPADDD Y12, Y8, Y0
	VPSRAD $2, Y0, Y0
	VPSUBD Y12, Y8, Y12
	VPSRAD $2, Y12, Y12
	VPSRAD $13, Y10, Y10
	VPSRAD $13, Y14, Y14
	VPADDD Y14, Y10, Y1
	VPMULLD colB<>(SB), Y1, Y1
	VPMULLD colBsmc<>(SB), Y14, Y2
	VPADDD Y2, Y1, Y2
	VPMULLD colBcps<>(SB), Y10, Y3
	VPSUBD Y3, Y1, Y3
	VPADDD Y2, Y12, Y1
	VPSUBD Y2, Y12, Y2
	VPADDD Y3, Y0, Y8
	VPSUBD Y3, Y0, Y3
	VPSRAD $13, Y11, Y11
	VPMULLD k11585<>(SB), Y11, Y11
	VPSRAD $13, Y13, Y13
	VPMULLD k11585<>(SB), Y13, Y13
	ODD(14)
	STAGE1

	VPSRAD $18, Y0, Y0
	VPSRAD $18, Y1, Y1
	VPSRAD $18, Y2, Y2
	VPSRAD $18, Y3, Y3
	VPSRAD $18, Y4, Y4
	VPSRAD $18, Y5, Y5
	VPSRAD $18, Y6, Y6
	VPSRAD $18, Y7, Y7

	// Level shift and clip: saturate to 16 bits, add 128 saturating,
	// saturate to unsigned 8 bits; then put each row's 8 bytes together.
	VMOVDQU perm<>(SB), Y15
	VMOVDQU w128<>(SB), Y14
	VPACKSSDW Y1, Y0, Y8
	VPACKSSDW Y3, Y2, Y9
	VPACKSSDW Y5, Y4, Y10
	VPACKSSDW Y7, Y6, Y11
	VPADDSW Y14, Y8, Y8
	VPADDSW Y14, Y9, Y9
	VPADDSW Y14, Y10, Y10
	VPADDSW Y14, Y11, Y11
	VPACKUSWB Y9, Y8, Y8
	VPACKUSWB Y11, Y10, Y10
	VPERMD Y8, Y15, Y8
	VPERMD Y10, Y15, Y10

	VMOVQ X8, (DI)
	ADDQ BX, DI
	VPEXTRQ $1, X8, (DI)
	ADDQ BX, DI
	VEXTRACTI128 $1, Y8, X9
	VMOVQ X9, (DI)
	ADDQ BX, DI
	VPEXTRQ $1, X9, (DI)
	ADDQ BX, DI
	VMOVQ X10, (DI)
	ADDQ BX, DI
	VPEXTRQ $1, X10, (DI)
	ADDQ BX, DI
	VEXTRACTI128 $1, Y10, X11
	VMOVQ X11, (DI)
	ADDQ BX, DI
	VPEXTRQ $1, X11, (DI)
	VZEROUPPER
	RET
