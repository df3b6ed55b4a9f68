;; wasi_reactor — a TinyGo-style WASI actor: imports `wasi_snapshot_preview1`, exports both
;; `_start` (runtime initialisation) and `__guest_call` (HOST.md §10).
;;
;; `_start` counts how often it ran (a global: 1 on a fresh instance) and writes
;; "wasi_reactor started\n" to stderr (captured into the host log). `__guest_call`
;; answers with six status bytes followed by the request msg:
;;
;;   [0] '0' + times `_start` ran on this instance (expect '1')
;;   [1] 'r' random_get filled 16 bytes (errno 0), else '-'
;;   [2] 'c' clock_time_get(realtime) succeeded and reads after 2020, else '-'
;;   [3] 'n' fd_prestat_get(3) is EBADF: no preopened directory, else '-'
;;   [4] 'e' environ_sizes_get reports 0 variables, else '-'
;;   [5] 'w' fd_write of 8 bytes to stdout succeeded (captured), else '-'
;;
;; Memory layout: 0..32 data, 64..80 iovec/results, 256 random bytes, 304 clock,
;; 512 operation, 1024 response (status bytes, then the msg written by __guest_request).
(module
  (import "wasmbus" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wasmbus" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))

  (memory (export "memory") 1)
  (global $started (mut i32) (i32.const 0))
  (data (i32.const 0) "wasi_reactor started\n")
  (data (i32.const 24) "stdout!\n")

  ;; fd_write(fd, ptr, len) with the iovec at 64 and nwritten at 72; errno.
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 64) (local.get $ptr))
    (i32.store (i32.const 68) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 64) (i32.const 1) (i32.const 72)))

  (func (export "_start")
    (global.set $started (i32.add (global.get $started) (i32.const 1)))
    (drop (call $write (i32.const 2) (i32.const 0) (i32.const 21))))

  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (call $guest_request (i32.const 512) (i32.const 1030))
    (i32.store8 (i32.const 1024) (i32.add (i32.const 48) (global.get $started)))
    (i32.store8 (i32.const 1025)
      (select (i32.const 114) (i32.const 45)
        (i32.eqz (call $random_get (i32.const 256) (i32.const 16)))))
    (i32.store8 (i32.const 1026)
      (select (i32.const 99) (i32.const 45)
        (i32.and
          (i32.eqz (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 304)))
          (i64.gt_u (i64.load (i32.const 304)) (i64.const 1577836800000000000)))))
    (i32.store8 (i32.const 1027)
      (select (i32.const 110) (i32.const 45)
        (i32.eq (call $fd_prestat_get (i32.const 3) (i32.const 80)) (i32.const 8))))
    (i32.store8 (i32.const 1028)
      (select (i32.const 101) (i32.const 45)
        (i32.and
          (i32.eqz (call $environ_sizes_get (i32.const 88) (i32.const 92)))
          (i32.eqz (i32.load (i32.const 88))))))
    (i32.store8 (i32.const 1029)
      (select (i32.const 119) (i32.const 45)
        (i32.and
          (i32.eqz (call $write (i32.const 1) (i32.const 24) (i32.const 8)))
          (i32.eq (i32.load (i32.const 72)) (i32.const 8)))))
    (call $guest_response (i32.const 1024) (i32.add (local.get $msg_len) (i32.const 6)))
    (i32.const 1))
)
