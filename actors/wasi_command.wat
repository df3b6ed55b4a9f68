;; wasi_command — a command-style WASI actor: exports `_start` only, as 0.82 runs them
;; (HOST.md §10): argv = ["main.wasm", operation], the request on stdin, the response is
;; what it writes to stdout.
;;
;; Answers "<argv[0]>|<operation>|<request>". An operation starting with 'X' exits with
;; `proc_exit(7)` (a failed call); one starting with 'B' writes 64 KiB of 'b' (bigger
;; than a small max body size). Otherwise it ends with `proc_exit(0)`.
;;
;; Memory layout: 0 argc, 4 argv buffer size, 16.. argv pointers, 64.. argv strings,
;; 32 iovec, 40 nread/nwritten, 48 "|", 4096.. stdin (up to 60000 bytes), 65536.. big.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  (memory (export "memory") 2)
  (data (i32.const 48) "|")

  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 32) (local.get $ptr))
    (i32.store (i32.const 36) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40))))

  ;; Length of the NUL-terminated string at $ptr.
  (func $strlen (param $ptr i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $ptr) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func (export "_start")
    (local $op i32) (local $total i32) (local $n i32)
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (if (i32.ne (i32.load (i32.const 0)) (i32.const 2)) (then (call $proc_exit (i32.const 3))))
    (drop (call $args_get (i32.const 16) (i32.const 64)))
    (local.set $op (i32.load (i32.const 20)))
    (if (i32.eq (i32.load8_u (local.get $op)) (i32.const 88)) (then (call $proc_exit (i32.const 7))))
    (if (i32.eq (i32.load8_u (local.get $op)) (i32.const 66))
      (then
        (memory.fill (i32.const 65536) (i32.const 98) (i32.const 65536))
        (call $write (i32.const 65536) (i32.const 65536))
        (call $proc_exit (i32.const 0))))
    ;; argv[0] | operation |
    (call $write (i32.load (i32.const 16)) (call $strlen (i32.load (i32.const 16))))
    (call $write (i32.const 48) (i32.const 1))
    (call $write (local.get $op) (call $strlen (local.get $op)))
    (call $write (i32.const 48) (i32.const 1))
    ;; stdin until EOF
    (block $eof
      (loop $more
        (i32.store (i32.const 32) (i32.add (i32.const 4096) (local.get $total)))
        (i32.store (i32.const 36) (i32.sub (i32.const 60000) (local.get $total)))
        (br_if $eof (i32.ne (call $fd_read (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 40)) (i32.const 0)))
        (local.set $n (i32.load (i32.const 40)))
        (br_if $eof (i32.eqz (local.get $n)))
        (local.set $total (i32.add (local.get $total) (local.get $n)))
        (br $more)))
    (call $write (i32.const 4096) (local.get $total))
    (call $proc_exit (i32.const 0)))
)
