;; counter — on every call (an HTTP request from the HTTP server provider), increments the
;; key "counter" in the linked key-value store and answers with the new count:
;;
;;   __host_call("default", "wasmcloud:keyvalue", "KeyValue.Increment",
;;               msgpack { "key": "counter", "value": 1 })          ; IncrementRequest (HOST.md §6)
;;   -> msgpack i32 N
;;   answer: msgpack { "statusCode": 200, "header": {}, "body": bin32(`{"counter":N}`) }
;;
;; If the key-value call fails, the actor fails the call with the host's error text
;; (`__guest_error`), which the HTTP server provider turns into a 500.
;;
;; Needs the capability claim `wasmcloud:keyvalue` (and `wasmcloud:httpserver` to be
;; reached over HTTP): `lattice claims sign counter.wasm --name counter
;; --cap wasmcloud:httpserver --cap wasmcloud:keyvalue`.
;;
;; Memory layout:
;;   0   .. 28     HttpResponse msgpack prefix (as in echo.wat)
;;   28  .. 32     bin32 length of the body, big-endian
;;   32  .. 43     `{"counter":`, then the digits of N, then `}`
;;   256 .. 276    IncrementRequest msgpack
;;   300 ..        binding / namespace / operation strings, error texts
;;   1024 ..       host response or host error, copied in by the host
(module
  (import "wasmbus" "__host_call" (func $host_call
    (param $bd_ptr i32) (param $bd_len i32) (param $ns_ptr i32) (param $ns_len i32)
    (param $op_ptr i32) (param $op_len i32) (param $pld_ptr i32) (param $pld_len i32)
    (result i32)))
  (import "wasmbus" "__host_response" (func $host_response (param $ptr i32)))
  (import "wasmbus" "__host_response_len" (func $host_response_len (result i32)))
  (import "wasmbus" "__host_error" (func $host_error (param $ptr i32)))
  (import "wasmbus" "__host_error_len" (func $host_error_len (result i32)))
  (import "wasmbus" "__guest_response" (func $guest_response (param $ptr i32) (param $len i32)))
  (import "wasmbus" "__guest_error" (func $guest_error (param $ptr i32) (param $len i32)))

  (memory (export "memory") 1)

  (data (i32.const 0) "\83\aastatusCode\cc\c8\a6header\80\a4body\c6")
  (data (i32.const 32) "{\22counter\22:")
  ;; 0x82 map of 2: fixstr "key" fixstr(7) "counter", fixstr "value" positive fixint 1
  (data (i32.const 256) "\82\a3key\a7counter\a5value\01")
  (data (i32.const 300) "default")              ;; 7 bytes
  (data (i32.const 310) "wasmcloud:keyvalue")   ;; 18 bytes
  (data (i32.const 330) "KeyValue.Increment")   ;; 18 bytes
  (data (i32.const 350) "counter: unexpected KeyValue.Increment reply")   ;; 44 bytes
  (data (i32.const 400) "counter: out of memory")                         ;; 22 bytes

  (global $REPLY i32 (i32.const 1024))

  ;; Make sure `need` bytes of memory exist; returns 0 if it cannot grow.
  (func $ensure (param $need i64) (result i32)
    (local $pages i64)
    (if (i64.gt_u (local.get $need) (i64.const 0xffffffff)) (then (return (i32.const 0))))
    (local.set $pages (i64.shr_u (i64.add (local.get $need) (i64.const 0xffff)) (i64.const 16)))
    (if (i64.gt_u (local.get $pages) (i64.extend_i32_u (memory.size)))
      (then
        (if (i32.eq
              (memory.grow (i32.wrap_i64 (i64.sub (local.get $pages) (i64.extend_i32_u (memory.size)))))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 1))

  ;; Big-endian u32 at $p.
  (func $be32 (param $p i32) (result i32)
    (i32.or
      (i32.or (i32.shl (i32.load8_u (local.get $p)) (i32.const 24))
              (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 16)))
      (i32.or (i32.shl (i32.load8_u offset=2 (local.get $p)) (i32.const 8))
              (i32.load8_u offset=3 (local.get $p)))))

  ;; Decode a msgpack integer of $len bytes at $p into an i32. Sets $ok to 0 on a
  ;; marker that is not an integer or a reply too short. 64-bit forms keep the low 32 bits.
  (global $ok (mut i32) (i32.const 1))
  (func $decode_int (param $p i32) (param $len i32) (result i32)
    (local $b i32)
    (if (i32.eqz (local.get $len)) (then (global.set $ok (i32.const 0)) (return (i32.const 0))))
    (local.set $b (i32.load8_u (local.get $p)))
    ;; positive fixint 0x00..0x7f / negative fixint 0xe0..0xff
    (if (i32.le_u (local.get $b) (i32.const 0x7f)) (then (return (local.get $b))))
    (if (i32.ge_u (local.get $b) (i32.const 0xe0)) (then (return (i32.load8_s (local.get $p)))))
    ;; uint8 / int8
    (if (i32.and (i32.or (i32.eq (local.get $b) (i32.const 0xcc)) (i32.eq (local.get $b) (i32.const 0xd0)))
                 (i32.ge_u (local.get $len) (i32.const 2)))
      (then
        (if (i32.eq (local.get $b) (i32.const 0xcc)) (then (return (i32.load8_u offset=1 (local.get $p)))))
        (return (i32.load8_s offset=1 (local.get $p)))))
    ;; uint16 / int16
    (if (i32.and (i32.or (i32.eq (local.get $b) (i32.const 0xcd)) (i32.eq (local.get $b) (i32.const 0xd1)))
                 (i32.ge_u (local.get $len) (i32.const 3)))
      (then
        (if (i32.eq (local.get $b) (i32.const 0xcd))
          (then (return (i32.or (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 8))
                                (i32.load8_u offset=2 (local.get $p))))))
        (return (i32.or (i32.shl (i32.load8_s offset=1 (local.get $p)) (i32.const 8))
                        (i32.load8_u offset=2 (local.get $p))))))
    ;; uint32 / int32
    (if (i32.and (i32.or (i32.eq (local.get $b) (i32.const 0xce)) (i32.eq (local.get $b) (i32.const 0xd2)))
                 (i32.ge_u (local.get $len) (i32.const 5)))
      (then (return (call $be32 (i32.add (local.get $p) (i32.const 1))))))
    ;; uint64 / int64: low 32 bits
    (if (i32.and (i32.or (i32.eq (local.get $b) (i32.const 0xcf)) (i32.eq (local.get $b) (i32.const 0xd3)))
                 (i32.ge_u (local.get $len) (i32.const 9)))
      (then (return (call $be32 (i32.add (local.get $p) (i32.const 5))))))
    (global.set $ok (i32.const 0))
    (i32.const 0))

  ;; Write $v in decimal at $dst; returns the number of bytes written.
  (func $format_i32 (param $v i32) (param $dst i32) (result i32)
    (local $u i64) (local $t i64) (local $n i32) (local $neg i32) (local $end i32)
    (local.set $u (i64.extend_i32_s (local.get $v)))
    (if (i64.lt_s (local.get $u) (i64.const 0))
      (then
        (local.set $neg (i32.const 1))
        (local.set $u (i64.sub (i64.const 0) (local.get $u)))
        (i32.store8 (local.get $dst) (i32.const 0x2d))))  ;; '-'
    ;; count digits
    (local.set $n (i32.const 1))
    (local.set $t (local.get $u))
    (block $done
      (loop $count
        (br_if $done (i64.lt_u (local.get $t) (i64.const 10)))
        (local.set $t (i64.div_u (local.get $t) (i64.const 10)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $count)))
    ;; write digits backwards
    (local.set $end (i32.add (i32.add (local.get $dst) (local.get $neg)) (local.get $n)))
    (loop $digit
      (local.set $end (i32.sub (local.get $end) (i32.const 1)))
      (i32.store8 (local.get $end)
        (i32.add (i32.const 0x30) (i32.wrap_i64 (i64.rem_u (local.get $u) (i64.const 10)))))
      (local.set $u (i64.div_u (local.get $u) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $u) (i64.const 0))))
    (i32.add (local.get $neg) (local.get $n)))

  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (local $len i32) (local $n i32) (local $body_len i32)
    ;; The request itself is not needed: any HTTP request counts once.
    (if (i32.ne
          (call $host_call
            (i32.const 300) (i32.const 7)      ;; binding "default"
            (i32.const 310) (i32.const 18)     ;; namespace "wasmcloud:keyvalue"
            (i32.const 330) (i32.const 18)     ;; operation "KeyValue.Increment"
            (i32.const 256) (i32.const 20))    ;; IncrementRequest
          (i32.const 1))
      (then
        ;; Pass the host's error on as ours.
        (local.set $len (call $host_error_len))
        (if (i32.eqz (call $ensure (i64.add (i64.extend_i32_u (global.get $REPLY)) (i64.extend_i32_u (local.get $len)))))
          (then (call $guest_error (i32.const 400) (i32.const 22)) (return (i32.const 0))))
        (call $host_error (global.get $REPLY))
        (call $guest_error (global.get $REPLY) (local.get $len))
        (return (i32.const 0))))

    ;; An i32 in msgpack is at most 9 bytes; anything longer is not our reply.
    (local.set $len (call $host_response_len))
    (if (i32.gt_u (local.get $len) (i32.const 9))
      (then (call $guest_error (i32.const 350) (i32.const 44)) (return (i32.const 0))))
    (call $host_response (global.get $REPLY))
    (local.set $n (call $decode_int (global.get $REPLY) (local.get $len)))
    (if (i32.eqz (global.get $ok))
      (then (call $guest_error (i32.const 350) (i32.const 44)) (return (i32.const 0))))

    ;; body = {"counter": (11 bytes, already at 32) + digits + }
    (local.set $body_len (i32.add (i32.const 11) (call $format_i32 (local.get $n) (i32.const 43))))
    (i32.store8 (i32.add (i32.const 32) (local.get $body_len)) (i32.const 0x7d))  ;; '}'
    (local.set $body_len (i32.add (local.get $body_len) (i32.const 1)))
    ;; bin32 length, big-endian (the body is < 256 bytes)
    (i32.store8 (i32.const 31) (local.get $body_len))
    (call $guest_response (i32.const 0) (i32.add (i32.const 32) (local.get $body_len)))
    (i32.const 1))
)
