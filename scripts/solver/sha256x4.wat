;; rempart proof-of-work solver in WebAssembly SIMD: four SHA-256 lanes at
;; once, one nonce per 32-bit lane of a v128.
;;
;; Source of challenge/assets/sha256x4.wasm, assembled with wabt's wat2wasm
;; (Debian package wabt):
;;
;;	wat2wasm scripts/solver/sha256x4.wat -o challenge/assets/sha256x4.wasm
;;
;; TestSIMDSolverBuiltFromSource (challenge/) assembles it again and
;; compares byte for byte; e2e's TestBrowserSolver checks its answers against
;; challenge.LeadingZeroBits in Chromium.
;;
;; The puzzle is the one of worker.js: find a nonce hi:lo such that
;; SHA-256(seed || hi || lo) starts with `bits` zero bits. The message is one
;; 64-byte block of sixteen big-endian words: W0-7 = seed, W8 = hi, W9 = lo,
;; W10 = 0x80000000 (padding), W11-14 = 0, W15 = 320 (length in bits).
;; Only W9 changes between attempts, so rounds 0-8 are done once per call;
;; each batch of four nonces sets W9, expands the schedule and runs rounds
;; 9-63. Only the first two digest words are ever needed: H0 + a and H1 + b.
;;
;; Memory: W0-63 as v128 (all four lanes) at 0-1023, K0-63 at 1024-1279.
(module
  (memory 1)
  (data (i32.const 1024)
    "\98\2f\8a\42\91\44\37\71\cf\fb\c0\b5\a5\db\b5\e9" ;; 428a2f98 71374491 b5c0fbcf e9b5dba5
    "\5b\c2\56\39\f1\11\f1\59\a4\82\3f\92\d5\5e\1c\ab" ;; 3956c25b 59f111f1 923f82a4 ab1c5ed5
    "\98\aa\07\d8\01\5b\83\12\be\85\31\24\c3\7d\0c\55" ;; d807aa98 12835b01 243185be 550c7dc3
    "\74\5d\be\72\fe\b1\de\80\a7\06\dc\9b\74\f1\9b\c1" ;; 72be5d74 80deb1fe 9bdc06a7 c19bf174
    "\c1\69\9b\e4\86\47\be\ef\c6\9d\c1\0f\cc\a1\0c\24" ;; e49b69c1 efbe4786 0fc19dc6 240ca1cc
    "\6f\2c\e9\2d\aa\84\74\4a\dc\a9\b0\5c\da\88\f9\76" ;; 2de92c6f 4a7484aa 5cb0a9dc 76f988da
    "\52\51\3e\98\6d\c6\31\a8\c8\27\03\b0\c7\7f\59\bf" ;; 983e5152 a831c66d b00327c8 bf597fc7
    "\f3\0b\e0\c6\47\91\a7\d5\51\63\ca\06\67\29\29\14" ;; c6e00bf3 d5a79147 06ca6351 14292967
    "\85\0a\b7\27\38\21\1b\2e\fc\6d\2c\4d\13\0d\38\53" ;; 27b70a85 2e1b2138 4d2c6dfc 53380d13
    "\54\73\0a\65\bb\0a\6a\76\2e\c9\c2\81\85\2c\72\92" ;; 650a7354 766a0abb 81c2c92e 92722c85
    "\a1\e8\bf\a2\4b\66\1a\a8\70\8b\4b\c2\a3\51\6c\c7" ;; a2bfe8a1 a81a664b c24b8b70 c76c51a3
    "\19\e8\92\d1\24\06\99\d6\85\35\0e\f4\70\a0\6a\10" ;; d192e819 d6990624 f40e3585 106aa070
    "\16\c1\a4\19\08\6c\37\1e\4c\77\48\27\b5\bc\b0\34" ;; 19a4c116 1e376c08 2748774c 34b0bcb5
    "\b3\0c\1c\39\4a\aa\d8\4e\4f\ca\9c\5b\f3\6f\2e\68" ;; 391c0cb3 4ed8aa4a 5b9cca4f 682e6ff3
    "\ee\82\8f\74\6f\63\a5\78\14\78\c8\84\08\02\c7\8c" ;; 748f82ee 78a5636f 84c87814 8cc70208
    "\fa\ff\be\90\eb\6c\50\a4\f7\a3\f9\be\f2\78\71\c6" ;; 90befffa a4506ceb bef9a3f7 c67178f2
  )

  ;; search tries the nonces hi:lo .. hi:lo+count-1 (lo wrapping at 2^32,
  ;; count below 2^31) and returns the offset from lo of the first whose
  ;; digest d has (d0 & mask0) == 0 and (d1 & mask1) == 0, or -1 if none.
  ;; s0-s7 are the seed's words.
  (func (export "search")
    (param $s0 i32) (param $s1 i32) (param $s2 i32) (param $s3 i32)
    (param $s4 i32) (param $s5 i32) (param $s6 i32) (param $s7 i32)
    (param $hi i32) (param $lo i32) (param $count i32)
    (param $mask0 i32) (param $mask1 i32)
    (result i32)
    ;; working state, and the state after round 8 that every batch starts from
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local $e v128) (local $f v128) (local $g v128) (local $h v128)
    (local $A v128) (local $B v128) (local $C v128) (local $D v128)
    (local $E v128) (local $F v128) (local $G v128) (local $H v128)
    (local $t1 v128) (local $t2 v128) (local $x v128)
    (local $i i32) (local $end i32) (local $n i32) (local $p i32) (local $hit i32)

    ;; The message words that never change.
    (v128.store offset=0 (i32.const 0) (i32x4.splat (local.get $s0)))
    (v128.store offset=16 (i32.const 0) (i32x4.splat (local.get $s1)))
    (v128.store offset=32 (i32.const 0) (i32x4.splat (local.get $s2)))
    (v128.store offset=48 (i32.const 0) (i32x4.splat (local.get $s3)))
    (v128.store offset=64 (i32.const 0) (i32x4.splat (local.get $s4)))
    (v128.store offset=80 (i32.const 0) (i32x4.splat (local.get $s5)))
    (v128.store offset=96 (i32.const 0) (i32x4.splat (local.get $s6)))
    (v128.store offset=112 (i32.const 0) (i32x4.splat (local.get $s7)))
    (v128.store offset=128 (i32.const 0) (i32x4.splat (local.get $hi)))
    (v128.store offset=160 (i32.const 0) (i32x4.splat (i32.const 0x80000000)))
    (v128.store offset=176 (i32.const 0) (v128.const i64x2 0 0))
    (v128.store offset=192 (i32.const 0) (v128.const i64x2 0 0))
    (v128.store offset=208 (i32.const 0) (v128.const i64x2 0 0))
    (v128.store offset=224 (i32.const 0) (v128.const i64x2 0 0))
    (v128.store offset=240 (i32.const 0) (i32x4.splat (i32.const 320)))

    ;; The first pass runs rounds 0-8 from the initial hash value into
    ;; A-H; every later pass runs rounds 9-63 on one batch.
    (local.set $a (i32x4.splat (i32.const 0x6a09e667)))
    (local.set $b (i32x4.splat (i32.const 0xbb67ae85)))
    (local.set $c (i32x4.splat (i32.const 0x3c6ef372)))
    (local.set $d (i32x4.splat (i32.const 0xa54ff53a)))
    (local.set $e (i32x4.splat (i32.const 0x510e527f)))
    (local.set $f (i32x4.splat (i32.const 0x9b05688c)))
    (local.set $g (i32x4.splat (i32.const 0x1f83d9ab)))
    (local.set $h (i32x4.splat (i32.const 0x5be0cd19)))
    (local.set $end (i32.const 9))
    (local.set $n (i32.const 0))

    (loop $pass
      ;; Rounds i to end-1.
      (loop $round
        ;; t1 = h + Σ1(e) + Ch(e, f, g) + K[i] + W[i]
        (local.set $t1
          (i32x4.add
            (i32x4.add
              (local.get $h)
              (v128.xor
                (v128.xor
                  (v128.or (i32x4.shr_u (local.get $e) (i32.const 6)) (i32x4.shl (local.get $e) (i32.const 26)))
                  (v128.or (i32x4.shr_u (local.get $e) (i32.const 11)) (i32x4.shl (local.get $e) (i32.const 21))))
                (v128.or (i32x4.shr_u (local.get $e) (i32.const 25)) (i32x4.shl (local.get $e) (i32.const 7)))))
            (i32x4.add
              (v128.bitselect (local.get $f) (local.get $g) (local.get $e))
              (i32x4.add
                (v128.load32_splat offset=1024 (i32.shl (local.get $i) (i32.const 2)))
                (v128.load (i32.shl (local.get $i) (i32.const 4)))))))
        ;; t2 = Σ0(a) + Maj(a, b, c); Maj picks c where a and b differ.
        (local.set $t2
          (i32x4.add
            (v128.xor
              (v128.xor
                (v128.or (i32x4.shr_u (local.get $a) (i32.const 2)) (i32x4.shl (local.get $a) (i32.const 30)))
                (v128.or (i32x4.shr_u (local.get $a) (i32.const 13)) (i32x4.shl (local.get $a) (i32.const 19))))
              (v128.or (i32x4.shr_u (local.get $a) (i32.const 22)) (i32x4.shl (local.get $a) (i32.const 10))))
            (v128.bitselect (local.get $c) (local.get $a) (v128.xor (local.get $a) (local.get $b)))))
        (local.set $h (local.get $g))
        (local.set $g (local.get $f))
        (local.set $f (local.get $e))
        (local.set $e (i32x4.add (local.get $d) (local.get $t1)))
        (local.set $d (local.get $c))
        (local.set $c (local.get $b))
        (local.set $b (local.get $a))
        (local.set $a (i32x4.add (local.get $t1) (local.get $t2)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $round (i32.ne (local.get $i) (local.get $end))))

      (if (i32.eq (local.get $end) (i32.const 9))
        (then
          (local.set $A (local.get $a)) (local.set $B (local.get $b))
          (local.set $C (local.get $c)) (local.set $D (local.get $d))
          (local.set $E (local.get $e)) (local.set $F (local.get $f))
          (local.set $G (local.get $g)) (local.set $H (local.get $h))
          (local.set $end (i32.const 64)))
        (else
          ;; Lanes whose digest has the zero bits asked for.
          (local.set $hit
            (i32x4.bitmask
              (i32x4.eq
                (v128.or
                  (v128.and
                    (i32x4.add (local.get $a) (i32x4.splat (i32.const 0x6a09e667)))
                    (i32x4.splat (local.get $mask0)))
                  (v128.and
                    (i32x4.add (local.get $b) (i32x4.splat (i32.const 0xbb67ae85)))
                    (i32x4.splat (local.get $mask1))))
                (v128.const i64x2 0 0))))
          ;; The first such lane, unless it lies past the range's end.
          (if (local.get $hit)
            (then
              (local.set $p (i32.add (local.get $n) (i32.ctz (local.get $hit))))
              (return (select (local.get $p) (i32.const -1) (i32.lt_u (local.get $p) (local.get $count))))))
          (local.set $n (i32.add (local.get $n) (i32.const 4)))))
      (if (i32.ge_u (local.get $n) (local.get $count))
        (then (return (i32.const -1))))

      ;; The next batch: W9 = lo+n .. lo+n+3, then W16-63.
      (local.set $x
        (i32x4.add
          (i32x4.splat (i32.add (local.get $lo) (local.get $n)))
          (v128.const i32x4 0 1 2 3)))
      (v128.store offset=144 (i32.const 0) (local.get $x))
      ;; W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], for p = 16 (t-16).
      (local.set $p (i32.const 0))
      (loop $schedule
        (v128.store offset=256 (local.get $p)
          (i32x4.add
            (i32x4.add
              (v128.xor
                (v128.xor
                  (v128.or
                    (i32x4.shr_u (v128.load offset=224 (local.get $p)) (i32.const 17))
                    (i32x4.shl (v128.load offset=224 (local.get $p)) (i32.const 15)))
                  (v128.or
                    (i32x4.shr_u (v128.load offset=224 (local.get $p)) (i32.const 19))
                    (i32x4.shl (v128.load offset=224 (local.get $p)) (i32.const 13))))
                (i32x4.shr_u (v128.load offset=224 (local.get $p)) (i32.const 10)))
              (v128.load offset=144 (local.get $p)))
            (i32x4.add
              (v128.xor
                (v128.xor
                  (v128.or
                    (i32x4.shr_u (v128.load offset=16 (local.get $p)) (i32.const 7))
                    (i32x4.shl (v128.load offset=16 (local.get $p)) (i32.const 25)))
                  (v128.or
                    (i32x4.shr_u (v128.load offset=16 (local.get $p)) (i32.const 18))
                    (i32x4.shl (v128.load offset=16 (local.get $p)) (i32.const 14))))
                (i32x4.shr_u (v128.load offset=16 (local.get $p)) (i32.const 3)))
              (v128.load (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br_if $schedule (i32.ne (local.get $p) (i32.const 768))))

      (local.set $a (local.get $A)) (local.set $b (local.get $B))
      (local.set $c (local.get $C)) (local.set $d (local.get $D))
      (local.set $e (local.get $E)) (local.set $f (local.get $F))
      (local.set $g (local.get $G)) (local.set $h (local.get $H))
      (local.set $i (i32.const 9))
      (br $pass))
    (unreachable)))
