package blas

import "sync"

// splitC computes a product C = op(A) op(B) (m x n) in parts over
// goroutines: the larger of C's dimensions is cut into parts whole
// multiples of alignN (columns) or alignM (rows) long, and part is called
// for each with the part's size and the offsets in a, b and c of its first
// row of op(A), first column of op(B) and first element of C. The last
// part runs on the calling goroutine; splitC returns when all are done.
func splitC(transA, transB bool, m, n, lda, ldb, ldc, parts, alignM, alignN int, part func(m, n, ao, bo, co int)) {
	splitN := n >= m
	size, align := n, alignN
	if !splitN {
		size, align = m, alignM
	}
	chunk := (size + parts - 1) / parts
	chunk = (chunk + align - 1) / align * align
	var wg sync.WaitGroup
	for lo := 0; lo < size; lo += chunk {
		hi := min(lo+chunk, size)
		run := func() {
			if splitN {
				bo := lo // op(B) columns: B columns, or B rows when transposed
				if transB {
					bo = lo * ldb
				}
				part(m, hi-lo, 0, bo, lo)
				return
			}
			ao := lo * lda // op(A) rows: A rows, or A columns when transposed
			if transA {
				ao = lo
			}
			part(hi-lo, n, ao, 0, lo*ldc)
		}
		if hi == size {
			run()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run()
		}()
	}
	wg.Wait()
}
