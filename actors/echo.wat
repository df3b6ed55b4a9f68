;; echo — answers EVERY call with an HttpResponse whose body is the request's msg bytes.
;;
;; Used by the tests and by `lattice bench --actor` (CONVENTIONS.md "Benchmarks"): a
;; provider sends `HttpServer.HandleRequest` with an HttpRequest; the reply is
;;
;;   msgpack { "statusCode": 200, "header": {}, "body": bin32(<request msg bytes>) }
;;
;; which the HTTP server provider accepts as a valid response. Zero copies in wasm: the
;; host writes the request msg straight to where the response body goes.
;;
;; Memory layout (one call = one fresh instance, so nothing survives between calls):
;;   0  .. 28            fixed msgpack prefix (data segment below)
;;   28 .. 32            bin32 length, big-endian (written per call)
;;   32 .. 32+msg        the request msg = the response body (written by __guest_request)
;;   32+msg .. +op       the operation name (written by __guest_request, unused)
;;
;; Sign it before use: `lattice claims sign echo.wasm --name echo --cap wasmcloud:httpserver`.
(module
  ;; wasmbus ABI (wasmCloud 0.82, HOST.md §1)
  (import "wasmbus" "__guest_request" (func $guest_request (param $op_ptr i32) (param $msg_ptr i32)))
  (import "wasmbus" "__guest_response" (func $guest_response (param $ptr i32) (param $len i32)))
  (import "wasmbus" "__guest_error" (func $guest_error (param $ptr i32) (param $len i32)))

  (memory (export "memory") 1)

  ;; 0x83            map of 3 entries
  ;; 0xaa "statusCode" 0xcc 0xc8    fixstr(10), uint8 200
  ;; 0xa6 "header"     0x80         fixstr(6), empty map
  ;; 0xa4 "body"       0xc6         fixstr(4), bin32 marker (length follows)
  (data (i32.const 0) "\83\aastatusCode\cc\c8\a6header\80\a4body\c6")
  ;; Only read before __guest_request overwrites this area.
  (data (i32.const 1024) "echo: out of memory")

  (global $BODY i32 (i32.const 32))

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

  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    ;; room for prefix + msg + operation
    (if (i32.eqz (call $ensure
          (i64.add (i64.extend_i32_u (global.get $BODY))
                   (i64.add (i64.extend_i32_u (local.get $msg_len)) (i64.extend_i32_u (local.get $op_len))))))
      (then
        (call $guest_error (i32.const 1024) (i32.const 19))
        (return (i32.const 0))))

    ;; msg lands at BODY, the operation right after it
    (call $guest_request
      (i32.add (global.get $BODY) (local.get $msg_len))
      (global.get $BODY))

    ;; bin32 length, big-endian, at 28..32
    (i32.store8 (i32.const 28) (i32.shr_u (local.get $msg_len) (i32.const 24)))
    (i32.store8 (i32.const 29) (i32.shr_u (local.get $msg_len) (i32.const 16)))
    (i32.store8 (i32.const 30) (i32.shr_u (local.get $msg_len) (i32.const 8)))
    (i32.store8 (i32.const 31) (local.get $msg_len))

    (call $guest_response (i32.const 0) (i32.add (global.get $BODY) (local.get $msg_len)))
    (i32.const 1))
)
