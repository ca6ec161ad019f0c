;; @ldakit/search compute kernel: WebAssembly SIMD (f32x4), hand-written.
;;
;; scripts/build-wasm.mjs assembles this file with wabt into src/kernel-wasm.ts (base64), so the
;; kernel loads in browsers and Node.js with no file access.
;;
;; Every pointer is a byte offset into the imported memory. Matrices are row-major float32 with
;; `d` columns and no padding (v128 loads need no alignment). Arithmetic is plain IEEE float32
;; multiply and add (no fused multiply-add), in a fixed order, so results do not depend on the
;; CPU:
;;
;;   dot(m, x)   four lane sums over the columns in steps of four (lane l adds m[j+l]*x[j+l] for
;;               j = 0, 4, 8, ...), then (l0 + l1) + (l2 + l3) (written out inline: V8 does
;;               not inline small functions), then the last d % 4 columns
;;               one by one. dot_rows and gemm_nt both compute exactly this for every pair.
;;   sum_r w[r] * m[r,:]
;;               every output element is 0 + w[r0]*m[r0,j] + w[r1]*m[r1,j] + ..., added in the
;;               row order r = s*nb + b for b = 0..nb-1, s = 0..7 (nb = rows >> 3), then the last
;;               rows % 8 rows in order. gemm_nn computes exactly this for each of its queries.
;;
;; So a batch gives bit-for-bit the results of its queries one by one. Splitting the rows of
;; dot_rows / gemm_nt between threads changes no bit either. Large weighted sums are cut into a
;; number of row chunks that depends on the number of rows only (src/kernel.ts), each chunk
;; summed as above and the chunk sums added in chunk order: the same bits on any number of
;; threads.
;;
;; The row order above reads eight rows that lie far apart (one in each eighth of the matrix) at
;; each step: eight independent memory streams keep more cache-line fetches in flight than one,
;; which matters once the matrix no longer fits in the caches.
;;
;; Exports
;;   dot_rows(mat, rows, d, x, out)            out[r] = dot(mat[r,:], x)
;;   gemm_nt(q, nq, mat, rows, d, out, ldo)    out[i*ldo + r] = dot(mat[r,:], q[i,:])
;;   gemm_nn(w, nq, ldw, mat, rows, d, out)    out[i*d + j] = sum_r w[i*ldw + r] * mat[r,j]
;;   softmax_exp(x, n, inv_tau) -> f64         x[i] = exp((x[i] - max(x)) * inv_tau); returns
;;                                             the sum of the new x[i] (accumulated in float64)
;;   scale(x, n, s)                            x[i] *= s
;;   softmax_rows(x, rows, n, inv_tau_bits)    each of `rows` rows of n values (one after another
;;                                             from x): softmax_exp, then scale by the float32
;;                                             rounding of 1/sum (computed in float64); 1/τ comes
;;                                             as the bits of a float32, so every argument of a
;;                                             call a helper thread runs is an i32
;;   block_max(x, n, out)                      out[b] = max(x[64b .. min(64b + 64, n))): top-k
;;                                             skips the blocks that cannot hold a winner
;;   normalize(x, n) -> f64                    returns s = sum x[i]^2 (in float64); when
;;                                             0 < s < inf, x[i] *= 1/sqrt(s) (in float32)
(module
  (import "env" "memory" (memory 1))

;; dot(m, x) for eight rows at once (eight accumulator chains): the rows' dot products with x.
  ;; $d8 = (d & ~7)*4, $d4 = (d & ~3)*4, $rb = d*4 (bytes). Rows may repeat (callers pad a short
  ;; group with copies of its last row and ignore those results).
  (func $dot8
    (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $p3 i32)
    (param $p4 i32) (param $p5 i32) (param $p6 i32) (param $p7 i32)
    (param $x i32) (param $d8 i32) (param $d4 i32) (param $rb i32)
    (result f32 f32 f32 f32 f32 f32 f32 f32)
    (local $j i32) (local $v i32) (local $x0 v128) (local $x1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32)
    (local $s4 f32) (local $s5 f32) (local $s6 f32) (local $s7 f32) (local $t f32)
    ;; eight columns per step: acc = (acc + m[j..j+3]*x[j..j+3]) + m[j+4..j+7]*x[j+4..j+7]
    (block $cols_done
      (loop $cols
        (br_if $cols_done (i32.ge_u (local.get $j) (local.get $d8)))
        (local.set $v (i32.add (local.get $x) (local.get $j)))
        (local.set $x0 (v128.load (local.get $v)))
        (local.set $x1 (v128.load offset=16 (local.get $v)))
        (local.set $v (i32.add (local.get $p0) (local.get $j)))
        (local.set $a0 (f32x4.add (f32x4.add (local.get $a0)
          (f32x4.mul (v128.load (local.get $v)) (local.get $x0)))
          (f32x4.mul (v128.load offset=16 (local.get $v)) (local.get $x1))))
        (local.set $v (i32.add (local.get $p1) (local.get $j)))
        (local.set $a1 (f32x4.add (f32x4.add (local.get $a1)
          (f32x4.mul (v128.load (local.get $v)) (local.get $x0)))
          (f32x4.mul (v128.load offset=16 (local.get $v)) (local.get $x1))))
        (local.set $v (i32.add (local.get $p2) (local.get $j)))
        (local.set $a2 (f32x4.add (f32x4.add (local.get $a2)
          (f32x4.mul (v128.load (local.get $v)) (local.get $x0)))
          (f32x4.mul (v128.load offset=16 (local.get $v)) (local.get $x1))))
        (local.set $v (i32.add (local.get $p3) (local.get $j)))
        (local.set $a3 (f32x4.add (f32x4.add (local.get $a3)
          (f32x4.mul (v128.load (local.get $v)) (local.get $x0)))
          (f32x4.mul (v128.load offset=16 (local.get $v)) (local.get $x1))))
        (local.set $v (i32.add (local.get $p4) (local.get $j)))
        (local.set $a4 (f32x4.add (f32x4.add (local.get $a4)
          (f32x4.mul (v128.load (local.get $v)) (local.get $x0)))
          (f32x4.mul (v128.load offset=16 (local.get $v)) (local.get $x1))))
        (local.set $v (i32.add (local.get $p5) (local.get $j)))
        (local.set $a5 (f32x4.add (f32x4.add (local.get $a5)
          (f32x4.mul (v128.load (local.get $v)) (local.get $x0)))
          (f32x4.mul (v128.load offset=16 (local.get $v)) (local.get $x1))))
        (local.set $v (i32.add (local.get $p6) (local.get $j)))
        (local.set $a6 (f32x4.add (f32x4.add (local.get $a6)
          (f32x4.mul (v128.load (local.get $v)) (local.get $x0)))
          (f32x4.mul (v128.load offset=16 (local.get $v)) (local.get $x1))))
        (local.set $v (i32.add (local.get $p7) (local.get $j)))
        (local.set $a7 (f32x4.add (f32x4.add (local.get $a7)
          (f32x4.mul (v128.load (local.get $v)) (local.get $x0)))
          (f32x4.mul (v128.load offset=16 (local.get $v)) (local.get $x1))))
        (local.set $j (i32.add (local.get $j) (i32.const 32)))
        (br $cols)))
    ;; one more step of four columns when d % 8 >= 4
    (if (i32.lt_u (local.get $j) (local.get $d4))
      (then
        (local.set $x0 (v128.load (i32.add (local.get $x) (local.get $j))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $p0) (local.get $j))) (local.get $x0))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load (i32.add (local.get $p1) (local.get $j))) (local.get $x0))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load (i32.add (local.get $p2) (local.get $j))) (local.get $x0))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load (i32.add (local.get $p3) (local.get $j))) (local.get $x0))))
        (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (v128.load (i32.add (local.get $p4) (local.get $j))) (local.get $x0))))
        (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (v128.load (i32.add (local.get $p5) (local.get $j))) (local.get $x0))))
        (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (v128.load (i32.add (local.get $p6) (local.get $j))) (local.get $x0))))
        (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (v128.load (i32.add (local.get $p7) (local.get $j))) (local.get $x0))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))))
    (local.set $s0 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0))) (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0)))))
    (local.set $s1 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a1)) (f32x4.extract_lane 1 (local.get $a1))) (f32.add (f32x4.extract_lane 2 (local.get $a1)) (f32x4.extract_lane 3 (local.get $a1)))))
    (local.set $s2 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a2)) (f32x4.extract_lane 1 (local.get $a2))) (f32.add (f32x4.extract_lane 2 (local.get $a2)) (f32x4.extract_lane 3 (local.get $a2)))))
    (local.set $s3 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a3)) (f32x4.extract_lane 1 (local.get $a3))) (f32.add (f32x4.extract_lane 2 (local.get $a3)) (f32x4.extract_lane 3 (local.get $a3)))))
    (local.set $s4 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a4)) (f32x4.extract_lane 1 (local.get $a4))) (f32.add (f32x4.extract_lane 2 (local.get $a4)) (f32x4.extract_lane 3 (local.get $a4)))))
    (local.set $s5 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a5)) (f32x4.extract_lane 1 (local.get $a5))) (f32.add (f32x4.extract_lane 2 (local.get $a5)) (f32x4.extract_lane 3 (local.get $a5)))))
    (local.set $s6 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a6)) (f32x4.extract_lane 1 (local.get $a6))) (f32.add (f32x4.extract_lane 2 (local.get $a6)) (f32x4.extract_lane 3 (local.get $a6)))))
    (local.set $s7 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a7)) (f32x4.extract_lane 1 (local.get $a7))) (f32.add (f32x4.extract_lane 2 (local.get $a7)) (f32x4.extract_lane 3 (local.get $a7)))))
    ;; the last d % 4 columns
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $j) (local.get $rb)))
        (local.set $t (f32.load (i32.add (local.get $x) (local.get $j))))
        (local.set $s0 (f32.add (local.get $s0) (f32.mul (f32.load (i32.add (local.get $p0) (local.get $j))) (local.get $t))))
        (local.set $s1 (f32.add (local.get $s1) (f32.mul (f32.load (i32.add (local.get $p1) (local.get $j))) (local.get $t))))
        (local.set $s2 (f32.add (local.get $s2) (f32.mul (f32.load (i32.add (local.get $p2) (local.get $j))) (local.get $t))))
        (local.set $s3 (f32.add (local.get $s3) (f32.mul (f32.load (i32.add (local.get $p3) (local.get $j))) (local.get $t))))
        (local.set $s4 (f32.add (local.get $s4) (f32.mul (f32.load (i32.add (local.get $p4) (local.get $j))) (local.get $t))))
        (local.set $s5 (f32.add (local.get $s5) (f32.mul (f32.load (i32.add (local.get $p5) (local.get $j))) (local.get $t))))
        (local.set $s6 (f32.add (local.get $s6) (f32.mul (f32.load (i32.add (local.get $p6) (local.get $j))) (local.get $t))))
        (local.set $s7 (f32.add (local.get $s7) (f32.mul (f32.load (i32.add (local.get $p7) (local.get $j))) (local.get $t))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
    (local.get $s0) (local.get $s1) (local.get $s2) (local.get $s3)
    (local.get $s4) (local.get $s5) (local.get $s6) (local.get $s7))

  ;; out[r] = dot(mat[r,:], x): eight streams (rows s*nb + b, s = 0..7) per step; then the last
  ;; rows % 8 rows as one more group of eight (padded with copies of the last row).
  (func (export "dot_rows")
    (param $mat i32) (param $rows i32) (param $d i32) (param $x i32) (param $out i32)
    (local $rb i32) (local $d4 i32) (local $d8 i32) (local $nb i32) (local $stride i32)
    (local $ostride i32) (local $b i32) (local $o i32) (local $r i32) (local $last i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $p4 i32) (local $p5 i32) (local $p6 i32) (local $p7 i32)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32)
    (local $s4 f32) (local $s5 f32) (local $s6 f32) (local $s7 f32)
    (local.set $rb (i32.shl (local.get $d) (i32.const 2)))
    (local.set $d4 (i32.shl (i32.and (local.get $d) (i32.const -4)) (i32.const 2)))
    (local.set $d8 (i32.shl (i32.and (local.get $d) (i32.const -8)) (i32.const 2)))
    (local.set $nb (i32.shr_u (local.get $rows) (i32.const 3)))
    (local.set $stride (i32.mul (local.get $nb) (local.get $rb)))
    (local.set $ostride (i32.shl (local.get $nb) (i32.const 2)))
    (local.set $p0 (local.get $mat))
    (local.set $o (local.get $out))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $b) (local.get $nb)))
        (local.set $p1 (i32.add (local.get $p0) (local.get $stride)))
        (local.set $p2 (i32.add (local.get $p1) (local.get $stride)))
        (local.set $p3 (i32.add (local.get $p2) (local.get $stride)))
        (local.set $p4 (i32.add (local.get $p3) (local.get $stride)))
        (local.set $p5 (i32.add (local.get $p4) (local.get $stride)))
        (local.set $p6 (i32.add (local.get $p5) (local.get $stride)))
        (local.set $p7 (i32.add (local.get $p6) (local.get $stride)))
        (call $dot8 (local.get $p0) (local.get $p1) (local.get $p2) (local.get $p3)
          (local.get $p4) (local.get $p5) (local.get $p6) (local.get $p7)
          (local.get $x) (local.get $d8) (local.get $d4) (local.get $rb))
        (local.set $s7) (local.set $s6) (local.set $s5) (local.set $s4)
        (local.set $s3) (local.set $s2) (local.set $s1) (local.set $s0)
        (local.set $r (local.get $o))
        (f32.store (local.get $r) (local.get $s0))
        (local.set $r (i32.add (local.get $r) (local.get $ostride)))
        (f32.store (local.get $r) (local.get $s1))
        (local.set $r (i32.add (local.get $r) (local.get $ostride)))
        (f32.store (local.get $r) (local.get $s2))
        (local.set $r (i32.add (local.get $r) (local.get $ostride)))
        (f32.store (local.get $r) (local.get $s3))
        (local.set $r (i32.add (local.get $r) (local.get $ostride)))
        (f32.store (local.get $r) (local.get $s4))
        (local.set $r (i32.add (local.get $r) (local.get $ostride)))
        (f32.store (local.get $r) (local.get $s5))
        (local.set $r (i32.add (local.get $r) (local.get $ostride)))
        (f32.store (local.get $r) (local.get $s6))
        (local.set $r (i32.add (local.get $r) (local.get $ostride)))
        (f32.store (local.get $r) (local.get $s7))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $p0 (i32.add (local.get $p0) (local.get $rb)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $blocks)))
    ;; the last rows % 8 rows: rows 8nb .. rows-1, padded with copies of the last row
    (local.set $r (i32.and (local.get $rows) (i32.const 7)))
    (if (local.get $r)
      (then
        (local.set $p0 (i32.add (local.get $mat) (i32.mul (i32.shl (local.get $nb) (i32.const 3)) (local.get $rb))))
        (local.set $last (i32.add (local.get $mat) (i32.mul (i32.sub (local.get $rows) (i32.const 1)) (local.get $rb))))
        (local.set $p1 (select (i32.add (local.get $p0) (local.get $rb)) (local.get $last) (i32.gt_u (local.get $r) (i32.const 1))))
        (local.set $p2 (select (i32.add (local.get $p1) (local.get $rb)) (local.get $last) (i32.gt_u (local.get $r) (i32.const 2))))
        (local.set $p3 (select (i32.add (local.get $p2) (local.get $rb)) (local.get $last) (i32.gt_u (local.get $r) (i32.const 3))))
        (local.set $p4 (select (i32.add (local.get $p3) (local.get $rb)) (local.get $last) (i32.gt_u (local.get $r) (i32.const 4))))
        (local.set $p5 (select (i32.add (local.get $p4) (local.get $rb)) (local.get $last) (i32.gt_u (local.get $r) (i32.const 5))))
        (local.set $p6 (select (i32.add (local.get $p5) (local.get $rb)) (local.get $last) (i32.gt_u (local.get $r) (i32.const 6))))
        (local.set $p7 (local.get $last))
        (call $dot8 (local.get $p0) (local.get $p1) (local.get $p2) (local.get $p3)
          (local.get $p4) (local.get $p5) (local.get $p6) (local.get $p7)
          (local.get $x) (local.get $d8) (local.get $d4) (local.get $rb))
        (local.set $s7) (local.set $s6) (local.set $s5) (local.set $s4)
        (local.set $s3) (local.set $s2) (local.set $s1) (local.set $s0)
        (local.set $o (i32.add (local.get $out) (i32.shl (i32.shl (local.get $nb) (i32.const 3)) (i32.const 2))))
        (f32.store (local.get $o) (local.get $s0))
        (if (i32.gt_u (local.get $r) (i32.const 1)) (then (f32.store offset=4 (local.get $o) (local.get $s1))))
        (if (i32.gt_u (local.get $r) (i32.const 2)) (then (f32.store offset=8 (local.get $o) (local.get $s2))))
        (if (i32.gt_u (local.get $r) (i32.const 3)) (then (f32.store offset=12 (local.get $o) (local.get $s3))))
        (if (i32.gt_u (local.get $r) (i32.const 4)) (then (f32.store offset=16 (local.get $o) (local.get $s4))))
        (if (i32.gt_u (local.get $r) (i32.const 5)) (then (f32.store offset=20 (local.get $o) (local.get $s5))))
        (if (i32.gt_u (local.get $r) (i32.const 6)) (then (f32.store offset=24 (local.get $o) (local.get $s6))))))
  )

  ;; dot(m_r, q_i) for four rows and two queries at once (eight accumulator chains), in the
  ;; order (m0,qa) (m1,qa) (m2,qa) (m3,qa) (m0,qb) (m1,qb) (m2,qb) (m3,qb). Rows or queries may
  ;; repeat (callers pad short groups and ignore those results).
  (func $quad2
    (param $m0 i32) (param $m1 i32) (param $m2 i32) (param $m3 i32) (param $qa i32) (param $qb i32)
    (param $d4 i32) (param $rb i32)
    (result f32 f32 f32 f32 f32 f32 f32 f32)
    (local $j i32) (local $x0 v128) (local $x1 v128)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32)
    (local $t0 f32) (local $t1 f32) (local $t2 f32) (local $t3 f32) (local $y0 f32) (local $y1 f32)
    (block $cols_done
      (loop $cols
        (br_if $cols_done (i32.ge_u (local.get $j) (local.get $d4)))
        (local.set $x0 (v128.load (i32.add (local.get $qa) (local.get $j))))
        (local.set $x1 (v128.load (i32.add (local.get $qb) (local.get $j))))
        (local.set $v0 (v128.load (i32.add (local.get $m0) (local.get $j))))
        (local.set $v1 (v128.load (i32.add (local.get $m1) (local.get $j))))
        (local.set $v2 (v128.load (i32.add (local.get $m2) (local.get $j))))
        (local.set $v3 (v128.load (i32.add (local.get $m3) (local.get $j))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $v0) (local.get $x0))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $v1) (local.get $x0))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $v2) (local.get $x0))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $v3) (local.get $x0))))
        (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $v0) (local.get $x1))))
        (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $v1) (local.get $x1))))
        (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $v2) (local.get $x1))))
        (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $v3) (local.get $x1))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $cols)))
    (local.set $s0 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0))) (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0)))))
    (local.set $s1 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a1)) (f32x4.extract_lane 1 (local.get $a1))) (f32.add (f32x4.extract_lane 2 (local.get $a1)) (f32x4.extract_lane 3 (local.get $a1)))))
    (local.set $s2 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a2)) (f32x4.extract_lane 1 (local.get $a2))) (f32.add (f32x4.extract_lane 2 (local.get $a2)) (f32x4.extract_lane 3 (local.get $a2)))))
    (local.set $s3 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a3)) (f32x4.extract_lane 1 (local.get $a3))) (f32.add (f32x4.extract_lane 2 (local.get $a3)) (f32x4.extract_lane 3 (local.get $a3)))))
    (local.set $t0 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $b0)) (f32x4.extract_lane 1 (local.get $b0))) (f32.add (f32x4.extract_lane 2 (local.get $b0)) (f32x4.extract_lane 3 (local.get $b0)))))
    (local.set $t1 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $b1)) (f32x4.extract_lane 1 (local.get $b1))) (f32.add (f32x4.extract_lane 2 (local.get $b1)) (f32x4.extract_lane 3 (local.get $b1)))))
    (local.set $t2 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $b2)) (f32x4.extract_lane 1 (local.get $b2))) (f32.add (f32x4.extract_lane 2 (local.get $b2)) (f32x4.extract_lane 3 (local.get $b2)))))
    (local.set $t3 (f32.add (f32.add (f32x4.extract_lane 0 (local.get $b3)) (f32x4.extract_lane 1 (local.get $b3))) (f32.add (f32x4.extract_lane 2 (local.get $b3)) (f32x4.extract_lane 3 (local.get $b3)))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $j) (local.get $rb)))
        (local.set $y0 (f32.load (i32.add (local.get $qa) (local.get $j))))
        (local.set $y1 (f32.load (i32.add (local.get $qb) (local.get $j))))
        (local.set $s0 (f32.add (local.get $s0) (f32.mul (f32.load (i32.add (local.get $m0) (local.get $j))) (local.get $y0))))
        (local.set $s1 (f32.add (local.get $s1) (f32.mul (f32.load (i32.add (local.get $m1) (local.get $j))) (local.get $y0))))
        (local.set $s2 (f32.add (local.get $s2) (f32.mul (f32.load (i32.add (local.get $m2) (local.get $j))) (local.get $y0))))
        (local.set $s3 (f32.add (local.get $s3) (f32.mul (f32.load (i32.add (local.get $m3) (local.get $j))) (local.get $y0))))
        (local.set $t0 (f32.add (local.get $t0) (f32.mul (f32.load (i32.add (local.get $m0) (local.get $j))) (local.get $y1))))
        (local.set $t1 (f32.add (local.get $t1) (f32.mul (f32.load (i32.add (local.get $m1) (local.get $j))) (local.get $y1))))
        (local.set $t2 (f32.add (local.get $t2) (f32.mul (f32.load (i32.add (local.get $m2) (local.get $j))) (local.get $y1))))
        (local.set $t3 (f32.add (local.get $t3) (f32.mul (f32.load (i32.add (local.get $m3) (local.get $j))) (local.get $y1))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
    (local.get $s0) (local.get $s1) (local.get $s2) (local.get $s3)
    (local.get $t0) (local.get $t1) (local.get $t2) (local.get $t3))

  ;; out[i*ldo + r] = dot(mat[r,:], q[i,:]). The rows go in blocks of 64 (they stay in cache
  ;; while every query passes over them); inside a block, four rows and two queries at a time
  ;; ($quad2). A block's last rows % 4 rows are padded with copies of its last row, an odd last
  ;; query with a copy of itself.
  (func (export "gemm_nt")
    (param $q i32) (param $nq i32) (param $mat i32) (param $rows i32) (param $d i32) (param $out i32)
    (param $ldo i32)
    (local $rb i32) (local $d4 i32) (local $r0 i32) (local $r1 i32) (local $r i32) (local $n i32)
    (local $i i32) (local $orow i32) (local $last i32) (local $two i32)
    (local $m0 i32) (local $m1 i32) (local $m2 i32) (local $m3 i32) (local $qa i32) (local $qb i32)
    (local $oa i32) (local $ob i32)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32)
    (local $t0 f32) (local $t1 f32) (local $t2 f32) (local $t3 f32)
    (local.set $rb (i32.shl (local.get $d) (i32.const 2)))
    (local.set $d4 (i32.shl (i32.and (local.get $d) (i32.const -4)) (i32.const 2)))
    (local.set $orow (i32.shl (local.get $ldo) (i32.const 2)))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $r0) (local.get $rows)))
        (local.set $r1 (i32.add (local.get $r0) (i32.const 64)))
        (if (i32.gt_u (local.get $r1) (local.get $rows)) (then (local.set $r1 (local.get $rows))))
        (local.set $last (i32.add (local.get $mat) (i32.mul (i32.sub (local.get $r1) (i32.const 1)) (local.get $rb))))
        (local.set $i (i32.const 0))
        (block $pairs_done
          (loop $pairs
            (br_if $pairs_done (i32.ge_u (local.get $i) (local.get $nq)))
            ;; $two: this pair holds two real queries (else qb repeats qa)
            (local.set $two (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $nq)))
            (local.set $qa (i32.add (local.get $q) (i32.mul (local.get $i) (local.get $rb))))
            (local.set $qb (select (i32.add (local.get $qa) (local.get $rb)) (local.get $qa) (local.get $two)))
            (local.set $r (local.get $r0))
            (block $quads_done
              (loop $quads
                (br_if $quads_done (i32.ge_u (local.get $r) (local.get $r1)))
                ;; $n: real rows in this group of four
                (local.set $n (i32.sub (local.get $r1) (local.get $r)))
                (if (i32.gt_u (local.get $n) (i32.const 4)) (then (local.set $n (i32.const 4))))
                (local.set $m0 (i32.add (local.get $mat) (i32.mul (local.get $r) (local.get $rb))))
                (local.set $m1 (select (i32.add (local.get $m0) (local.get $rb)) (local.get $last) (i32.gt_u (local.get $n) (i32.const 1))))
                (local.set $m2 (select (i32.add (local.get $m1) (local.get $rb)) (local.get $last) (i32.gt_u (local.get $n) (i32.const 2))))
                (local.set $m3 (select (i32.add (local.get $m2) (local.get $rb)) (local.get $last) (i32.gt_u (local.get $n) (i32.const 3))))
                (call $quad2 (local.get $m0) (local.get $m1) (local.get $m2) (local.get $m3)
                  (local.get $qa) (local.get $qb) (local.get $d4) (local.get $rb))
                (local.set $t3) (local.set $t2) (local.set $t1) (local.set $t0)
                (local.set $s3) (local.set $s2) (local.set $s1) (local.set $s0)
                (local.set $oa (i32.add (local.get $out)
                  (i32.add (i32.mul (local.get $i) (local.get $orow)) (i32.shl (local.get $r) (i32.const 2)))))
                (local.set $ob (i32.add (local.get $oa) (local.get $orow)))
                (f32.store (local.get $oa) (local.get $s0))
                (if (local.get $two) (then (f32.store (local.get $ob) (local.get $t0))))
                (if (i32.gt_u (local.get $n) (i32.const 1))
                  (then
                    (f32.store offset=4 (local.get $oa) (local.get $s1))
                    (if (local.get $two) (then (f32.store offset=4 (local.get $ob) (local.get $t1))))))
                (if (i32.gt_u (local.get $n) (i32.const 2))
                  (then
                    (f32.store offset=8 (local.get $oa) (local.get $s2))
                    (if (local.get $two) (then (f32.store offset=8 (local.get $ob) (local.get $t2))))))
                (if (i32.gt_u (local.get $n) (i32.const 3))
                  (then
                    (f32.store offset=12 (local.get $oa) (local.get $s3))
                    (if (local.get $two) (then (f32.store offset=12 (local.get $ob) (local.get $t3))))))
                (local.set $r (i32.add (local.get $r) (i32.const 4)))
                (br $quads)))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $pairs)))
        (local.set $r0 (local.get $r1))
        (br $blocks)))
  )

  ;; out[i*d + j] = sum_r w[i*ldw + r] * mat[r,j], rows in the order described at the top.
  ;; For each block of eight far-apart rows, every query adds the eight rows to its output in
  ;; turn (the rows stay in L1 between queries). With nq = 1 this is the single-query kernel.
  (func (export "gemm_nn")
    (param $w i32) (param $nq i32) (param $ldw i32) (param $mat i32) (param $rows i32) (param $d i32)
    (param $out i32)
    (local $rb i32) (local $d4 i32) (local $nb i32) (local $stride i32) (local $wrow i32)
    (local $b i32) (local $i i32) (local $j i32) (local $o i32) (local $wi i32) (local $ws i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $p4 i32) (local $p5 i32) (local $p6 i32) (local $p7 i32)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $w4 v128) (local $w5 v128) (local $w6 v128) (local $w7 v128) (local $acc v128)
    (local $f0 f32) (local $f1 f32) (local $f2 f32) (local $f3 f32)
    (local $f4 f32) (local $f5 f32) (local $f6 f32) (local $f7 f32) (local $t f32)
    (local.set $rb (i32.shl (local.get $d) (i32.const 2)))
    (local.set $d4 (i32.shl (i32.and (local.get $d) (i32.const -4)) (i32.const 2)))
    (local.set $nb (i32.shr_u (local.get $rows) (i32.const 3)))
    (local.set $stride (i32.mul (local.get $nb) (local.get $rb)))
    (local.set $ws (i32.shl (local.get $nb) (i32.const 2)))
    (local.set $wrow (i32.shl (local.get $ldw) (i32.const 2)))
    (memory.fill (local.get $out) (i32.const 0) (i32.mul (local.get $nq) (local.get $rb)))
    (local.set $p0 (local.get $mat))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $b) (local.get $nb)))
        (local.set $p1 (i32.add (local.get $p0) (local.get $stride)))
        (local.set $p2 (i32.add (local.get $p1) (local.get $stride)))
        (local.set $p3 (i32.add (local.get $p2) (local.get $stride)))
        (local.set $p4 (i32.add (local.get $p3) (local.get $stride)))
        (local.set $p5 (i32.add (local.get $p4) (local.get $stride)))
        (local.set $p6 (i32.add (local.get $p5) (local.get $stride)))
        (local.set $p7 (i32.add (local.get $p6) (local.get $stride)))
        (local.set $i (i32.const 0))
        (block $queries_done
          (loop $queries
            (br_if $queries_done (i32.ge_u (local.get $i) (local.get $nq)))
            ;; weights of this query for rows s*nb + b
            (local.set $wi (i32.add (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $wrow)))
              (i32.shl (local.get $b) (i32.const 2))))
            (local.set $f0 (f32.load (local.get $wi)))
            (local.set $wi (i32.add (local.get $wi) (local.get $ws)))
            (local.set $f1 (f32.load (local.get $wi)))
            (local.set $wi (i32.add (local.get $wi) (local.get $ws)))
            (local.set $f2 (f32.load (local.get $wi)))
            (local.set $wi (i32.add (local.get $wi) (local.get $ws)))
            (local.set $f3 (f32.load (local.get $wi)))
            (local.set $wi (i32.add (local.get $wi) (local.get $ws)))
            (local.set $f4 (f32.load (local.get $wi)))
            (local.set $wi (i32.add (local.get $wi) (local.get $ws)))
            (local.set $f5 (f32.load (local.get $wi)))
            (local.set $wi (i32.add (local.get $wi) (local.get $ws)))
            (local.set $f6 (f32.load (local.get $wi)))
            (local.set $wi (i32.add (local.get $wi) (local.get $ws)))
            (local.set $f7 (f32.load (local.get $wi)))
            (local.set $w0 (f32x4.splat (local.get $f0)))
            (local.set $w1 (f32x4.splat (local.get $f1)))
            (local.set $w2 (f32x4.splat (local.get $f2)))
            (local.set $w3 (f32x4.splat (local.get $f3)))
            (local.set $w4 (f32x4.splat (local.get $f4)))
            (local.set $w5 (f32x4.splat (local.get $f5)))
            (local.set $w6 (f32x4.splat (local.get $f6)))
            (local.set $w7 (f32x4.splat (local.get $f7)))
            (local.set $o (i32.add (local.get $out) (i32.mul (local.get $i) (local.get $rb))))
            (local.set $j (i32.const 0))
            (block $cols_done
              (loop $cols
                (br_if $cols_done (i32.ge_u (local.get $j) (local.get $d4)))
                (local.set $acc (v128.load (i32.add (local.get $o) (local.get $j))))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $w0) (v128.load (i32.add (local.get $p0) (local.get $j))))))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $w1) (v128.load (i32.add (local.get $p1) (local.get $j))))))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $w2) (v128.load (i32.add (local.get $p2) (local.get $j))))))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $w3) (v128.load (i32.add (local.get $p3) (local.get $j))))))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $w4) (v128.load (i32.add (local.get $p4) (local.get $j))))))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $w5) (v128.load (i32.add (local.get $p5) (local.get $j))))))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $w6) (v128.load (i32.add (local.get $p6) (local.get $j))))))
                (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $w7) (v128.load (i32.add (local.get $p7) (local.get $j))))))
                (v128.store (i32.add (local.get $o) (local.get $j)) (local.get $acc))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $cols)))
            (block $tail_done
              (loop $tail
                (br_if $tail_done (i32.ge_u (local.get $j) (local.get $rb)))
                (local.set $t (f32.load (i32.add (local.get $o) (local.get $j))))
                (local.set $t (f32.add (local.get $t) (f32.mul (local.get $f0) (f32.load (i32.add (local.get $p0) (local.get $j))))))
                (local.set $t (f32.add (local.get $t) (f32.mul (local.get $f1) (f32.load (i32.add (local.get $p1) (local.get $j))))))
                (local.set $t (f32.add (local.get $t) (f32.mul (local.get $f2) (f32.load (i32.add (local.get $p2) (local.get $j))))))
                (local.set $t (f32.add (local.get $t) (f32.mul (local.get $f3) (f32.load (i32.add (local.get $p3) (local.get $j))))))
                (local.set $t (f32.add (local.get $t) (f32.mul (local.get $f4) (f32.load (i32.add (local.get $p4) (local.get $j))))))
                (local.set $t (f32.add (local.get $t) (f32.mul (local.get $f5) (f32.load (i32.add (local.get $p5) (local.get $j))))))
                (local.set $t (f32.add (local.get $t) (f32.mul (local.get $f6) (f32.load (i32.add (local.get $p6) (local.get $j))))))
                (local.set $t (f32.add (local.get $t) (f32.mul (local.get $f7) (f32.load (i32.add (local.get $p7) (local.get $j))))))
                (f32.store (i32.add (local.get $o) (local.get $j)) (local.get $t))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $tail)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $queries)))
        (local.set $p0 (i32.add (local.get $p0) (local.get $rb)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $blocks)))
    ;; the last rows % 8 rows, in order
    (local.set $b (i32.shl (local.get $nb) (i32.const 3)))
    (local.set $p0 (i32.add (local.get $mat) (i32.mul (local.get $b) (local.get $rb))))
    (block $rest_done
      (loop $rest
        (br_if $rest_done (i32.ge_u (local.get $b) (local.get $rows)))
        (local.set $i (i32.const 0))
        (block $queries_done
          (loop $queries
            (br_if $queries_done (i32.ge_u (local.get $i) (local.get $nq)))
            (local.set $f0 (f32.load (i32.add (local.get $w)
              (i32.add (i32.mul (local.get $i) (local.get $wrow)) (i32.shl (local.get $b) (i32.const 2))))))
            (local.set $w0 (f32x4.splat (local.get $f0)))
            (local.set $o (i32.add (local.get $out) (i32.mul (local.get $i) (local.get $rb))))
            (local.set $j (i32.const 0))
            (block $cols_done
              (loop $cols
                (br_if $cols_done (i32.ge_u (local.get $j) (local.get $d4)))
                (v128.store (i32.add (local.get $o) (local.get $j))
                  (f32x4.add (v128.load (i32.add (local.get $o) (local.get $j)))
                    (f32x4.mul (local.get $w0) (v128.load (i32.add (local.get $p0) (local.get $j))))))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $cols)))
            (block $tail_done
              (loop $tail
                (br_if $tail_done (i32.ge_u (local.get $j) (local.get $rb)))
                (f32.store (i32.add (local.get $o) (local.get $j))
                  (f32.add (f32.load (i32.add (local.get $o) (local.get $j)))
                    (f32.mul (local.get $f0) (f32.load (i32.add (local.get $p0) (local.get $j))))))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $tail)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $queries)))
        (local.set $p0 (i32.add (local.get $p0) (local.get $rb)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $rest)))
  )

  ;; exp(v) for v <= 0, four lanes, float32 (Cephes expf: range reduction by ln 2 in two parts
  ;; and a degree-7 polynomial; about 1 ulp). Lanes below -87.33654 (where exp leaves the
  ;; normal floats) give 0. softmax_exp has a copy of this body inlined in its main loop.
  (func $exp4 (param $v v128) (result v128)
    (local $keep v128) (local $fx v128) (local $r v128) (local $y v128)
    (local.set $keep (f32x4.ge (local.get $v) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
    (local.set $v (f32x4.max (local.get $v) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
    (local.set $fx (f32x4.nearest (f32x4.mul (local.get $v)
      (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))))
    (local.set $r (f32x4.sub (local.get $v)
      (f32x4.mul (local.get $fx) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
    (local.set $r (f32x4.sub (local.get $r)
      (f32x4.mul (local.get $fx) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $y (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
      (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
      (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
      (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
      (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
      (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $y (f32x4.add (f32x4.add (f32x4.mul (local.get $y) (f32x4.mul (local.get $r) (local.get $r)))
      (local.get $r)) (v128.const f32x4 1 1 1 1)))
    ;; times 2^fx, built in the exponent bits
    (v128.and (local.get $keep)
      (f32x4.mul (local.get $y)
        (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $fx)) (v128.const i32x4 127 127 127 127))
          (i32.const 23)))))

  (func $softmax_exp (export "softmax_exp") (param $x i32) (param $n i32) (param $inv_tau f32) (result f64)
    (local $end i32) (local $end4 i32) (local $p i32) (local $mx v128) (local $m f32)
    (local $it v128) (local $e v128) (local $sa v128) (local $sb v128) (local $k i32)
    (local $v v128) (local $keep v128) (local $fx v128) (local $r v128) (local $y v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    ;; max
    (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $p (local.get $x))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $end4)))
        (local.set $mx (f32x4.max (local.get $mx) (v128.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l)))
    (local.set $m (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
      (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $m (f32.max (local.get $m) (f32.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l)))
    (local.set $mx (f32x4.splat (local.get $m)))
    (local.set $it (f32x4.splat (local.get $inv_tau)))
    ;; exp and sum
    (local.set $p (local.get $x))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $end4)))
        (local.set $v (f32x4.mul (f32x4.sub (v128.load (local.get $p)) (local.get $mx)) (local.get $it)))
        ;; $e = exp4($v) (inlined: a call would spill every vector register)
        (local.set $keep (f32x4.ge (local.get $v) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
        (local.set $v (f32x4.max (local.get $v) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
        (local.set $fx (f32x4.nearest (f32x4.mul (local.get $v)
          (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))))
        (local.set $r (f32x4.sub (local.get $v)
          (f32x4.mul (local.get $fx) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
        (local.set $r (f32x4.sub (local.get $r)
          (f32x4.mul (local.get $fx) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
        (local.set $y (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
        (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
          (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
        (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
          (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
        (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
          (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
        (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
          (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
        (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r))
          (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
        (local.set $y (f32x4.add (f32x4.add (f32x4.mul (local.get $y) (f32x4.mul (local.get $r) (local.get $r)))
          (local.get $r)) (v128.const f32x4 1 1 1 1)))
        (local.set $e
          (v128.and (local.get $keep)
            (f32x4.mul (local.get $y)
              (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $fx)) (v128.const i32x4 127 127 127 127))
                (i32.const 23)))))
        (v128.store (local.get $p) (local.get $e))
        (local.set $sa (f64x2.add (local.get $sa) (f64x2.promote_low_f32x4 (local.get $e))))
        (local.set $sb (f64x2.add (local.get $sb) (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l)))
    ;; the last n % 4 values, through the same four-lane code
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then
        (local.set $e (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $k (i32.sub (local.get $end) (local.get $p)))
        (local.set $e (f32x4.replace_lane 0 (local.get $e) (f32.load (local.get $p))))
        (if (i32.gt_u (local.get $k) (i32.const 4))
          (then (local.set $e (f32x4.replace_lane 1 (local.get $e) (f32.load offset=4 (local.get $p))))))
        (if (i32.gt_u (local.get $k) (i32.const 8))
          (then (local.set $e (f32x4.replace_lane 2 (local.get $e) (f32.load offset=8 (local.get $p))))))
        (local.set $e (call $exp4
          (f32x4.mul (f32x4.sub (local.get $e) (local.get $mx)) (local.get $it))))
        (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $e)))
        (if (i32.gt_u (local.get $k) (i32.const 4))
          (then (f32.store offset=4 (local.get $p) (f32x4.extract_lane 1 (local.get $e)))))
        (if (i32.gt_u (local.get $k) (i32.const 8))
          (then (f32.store offset=8 (local.get $p) (f32x4.extract_lane 2 (local.get $e)))))
        (local.set $sa (f64x2.add (local.get $sa) (f64x2.promote_low_f32x4 (local.get $e))))
        (local.set $sb (f64x2.add (local.get $sb) (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e)))))))
    (local.set $sa (f64x2.add (local.get $sa) (local.get $sb)))
    (f64.add (f64x2.extract_lane 0 (local.get $sa)) (f64x2.extract_lane 1 (local.get $sa))))

  ;; rows of softmax weights in place (see the exports above)
  (func (export "softmax_rows") (param $x i32) (param $rows i32) (param $n i32) (param $inv_tau_bits i32)
    (local $r i32) (local $inv f32) (local $rb i32)
    (local.set $inv (f32.reinterpret_i32 (local.get $inv_tau_bits)))
    (local.set $rb (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (call $scale (local.get $x) (local.get $n)
          (f32.demote_f64 (f64.div (f64.const 1)
            (call $softmax_exp (local.get $x) (local.get $n) (local.get $inv)))))
        (local.set $x (i32.add (local.get $x) (local.get $rb)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $l)))
  )

  ;; out[b] = max of x[64b .. min(64b + 64, n)) (values are never NaN here)
  (func (export "block_max") (param $x i32) (param $n i32) (param $out i32)
    (local $end i32) (local $bend i32) (local $m v128) (local $t f32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $bend (i32.add (local.get $x) (i32.const 256)))
        (if (i32.le_u (local.get $bend) (local.get $end))
          (then
            ;; a full block: sixteen vectors
            (local.set $m (f32x4.max
              (f32x4.max
                (f32x4.max (f32x4.max (v128.load (local.get $x)) (v128.load offset=16 (local.get $x)))
                  (f32x4.max (v128.load offset=32 (local.get $x)) (v128.load offset=48 (local.get $x))))
                (f32x4.max (f32x4.max (v128.load offset=64 (local.get $x)) (v128.load offset=80 (local.get $x)))
                  (f32x4.max (v128.load offset=96 (local.get $x)) (v128.load offset=112 (local.get $x)))))
              (f32x4.max
                (f32x4.max (f32x4.max (v128.load offset=128 (local.get $x)) (v128.load offset=144 (local.get $x)))
                  (f32x4.max (v128.load offset=160 (local.get $x)) (v128.load offset=176 (local.get $x))))
                (f32x4.max (f32x4.max (v128.load offset=192 (local.get $x)) (v128.load offset=208 (local.get $x)))
                  (f32x4.max (v128.load offset=224 (local.get $x)) (v128.load offset=240 (local.get $x)))))))
            (local.set $t (f32.max
              (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
              (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
            (local.set $x (local.get $bend)))
          (else
            ;; the last, short block: one value at a time
            (local.set $t (f32.load (local.get $x)))
            (local.set $x (i32.add (local.get $x) (i32.const 4)))
            (block $rest_done
              (loop $rest
                (br_if $rest_done (i32.ge_u (local.get $x) (local.get $end)))
                (local.set $t (f32.max (local.get $t) (f32.load (local.get $x))))
                (local.set $x (i32.add (local.get $x) (i32.const 4)))
                (br $rest)))))
        (f32.store (local.get $out) (local.get $t))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $blocks)))
  )

  (func $scale (export "scale") (param $x i32) (param $n i32) (param $s f32)
    (local $end i32) (local $end4 i32) (local $sv v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $sv (f32x4.splat (local.get $s)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $x) (local.get $end4)))
        (v128.store (local.get $x) (f32x4.mul (v128.load (local.get $x)) (local.get $sv)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $l)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (f32.store (local.get $x) (f32.mul (f32.load (local.get $x)) (local.get $s)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $l)))
  )
;; sum of squares in float64, then scale by the float32 1/sqrt of it
  (func (export "normalize") (param $x i32) (param $n i32) (result f64)
    (local $end i32) (local $end4 i32) (local $p i32) (local $v v128) (local $sa v128) (local $sb v128)
    (local $s f64) (local $t f64) (local $inv f32) (local $iv v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $p (local.get $x))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $end4)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $iv (f64x2.promote_low_f32x4 (local.get $v)))
        (local.set $sa (f64x2.add (local.get $sa) (f64x2.mul (local.get $iv) (local.get $iv))))
        (local.set $iv (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
        (local.set $sb (f64x2.add (local.get $sb) (f64x2.mul (local.get $iv) (local.get $iv))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l)))
    (local.set $sa (f64x2.add (local.get $sa) (local.get $sb)))
    (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $sa)) (f64x2.extract_lane 1 (local.get $sa))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $t (f64.promote_f32 (f32.load (local.get $p))))
        (local.set $s (f64.add (local.get $s) (f64.mul (local.get $t) (local.get $t))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l)))
    (if (i32.and (f64.gt (local.get $s) (f64.const 0)) (f64.lt (local.get $s) (f64.const inf)))
      (then
        (local.set $inv (f32.demote_f64 (f64.div (f64.const 1) (f64.sqrt (local.get $s)))))
        (local.set $iv (f32x4.splat (local.get $inv)))
        (local.set $p (local.get $x))
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $p) (local.get $end4)))
            (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $p)) (local.get $iv)))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $l)))
        (block $done
          (loop $l
            (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
            (f32.store (local.get $p) (f32.mul (f32.load (local.get $p)) (local.get $inv)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $l)))))
    (local.get $s))
)
