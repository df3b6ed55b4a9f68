;; relay — forwards every call to its linked `example:echo` capability provider and answers
;; with the provider's answer (or fails with the host's error text).
;;
;; The 0.82 actor → provider call (HOST.md §1): the guest calls `__host_call` with the
;; binding (link name) "default" and the namespace set to the contract id; the host finds
;; the actor's link for that contract and link name and invokes the linked provider with
;; `{namespace}/{operation}` (the invocation carries the part after the last '/'). The
;; operation and msg this actor received are forwarded unchanged.
;;
;; Derived from ../../actors/caller.wat (which calls another actor instead).
;;
;; Memory layout:
;;   16  .. 28          namespace "example:echo"
;;   32  .. 39          binding "default"
;;   96  .. 116         error text
;;   128 .. +op         the operation we received
;;   .. +msg            the msg we received
;;   .. +reply          the provider's answer (or the host's error text)
(module
  (import "wasmbus" "__guest_request" (func $guest_request (param $op_ptr i32) (param $msg_ptr i32)))
  (import "wasmbus" "__guest_response" (func $guest_response (param $ptr i32) (param $len i32)))
  (import "wasmbus" "__guest_error" (func $guest_error (param $ptr i32) (param $len i32)))
  (import "wasmbus" "__host_call" (func $host_call
    (param $bd_ptr i32) (param $bd_len i32) (param $ns_ptr i32) (param $ns_len i32)
    (param $op_ptr i32) (param $op_len i32) (param $pld_ptr i32) (param $pld_len i32)
    (result i32)))
  (import "wasmbus" "__host_response" (func $host_response (param $ptr i32)))
  (import "wasmbus" "__host_response_len" (func $host_response_len (result i32)))
  (import "wasmbus" "__host_error" (func $host_error (param $ptr i32)))
  (import "wasmbus" "__host_error_len" (func $host_error_len (result i32)))

  (memory (export "memory") 1)

  (data (i32.const 16) "example:echo")              ;; the contract (namespace), 12 bytes
  (global $TARGET_LEN i32 (i32.const 12))
  (data (i32.const 32) "default")                   ;; the binding (link name), 7 bytes
  (data (i32.const 96) "relay: out of memory")      ;; 20 bytes

  (global $OP i32 (i32.const 128))

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
    (local $msg i32) (local $reply i32) (local $len i32) (local $ok i32)
    (if (i32.eqz (call $ensure
          (i64.add (i64.extend_i32_u (global.get $OP))
                   (i64.add (i64.extend_i32_u (local.get $op_len)) (i64.extend_i32_u (local.get $msg_len))))))
      (then (call $guest_error (i32.const 96) (i32.const 20)) (return (i32.const 0))))
    (local.set $msg (i32.add (global.get $OP) (local.get $op_len)))
    (local.set $reply (i32.add (local.get $msg) (local.get $msg_len)))
    (call $guest_request (global.get $OP) (local.get $msg))

    (local.set $ok (i32.eq
      (call $host_call
        (i32.const 32) (i32.const 7)                       ;; binding "default"
        (i32.const 16) (global.get $TARGET_LEN)            ;; namespace "example:echo"
        (global.get $OP) (local.get $op_len)               ;; same operation
        (local.get $msg) (local.get $msg_len))             ;; same msg
      (i32.const 1)))

    (if (local.get $ok)
      (then (local.set $len (call $host_response_len)))
      (else (local.set $len (call $host_error_len))))
    (if (i32.eqz (call $ensure (i64.add (i64.extend_i32_u (local.get $reply)) (i64.extend_i32_u (local.get $len)))))
      (then (call $guest_error (i32.const 96) (i32.const 20)) (return (i32.const 0))))

    (if (local.get $ok)
      (then
        (call $host_response (local.get $reply))
        (call $guest_response (local.get $reply) (local.get $len))
        (return (i32.const 1))))
    (call $host_error (local.get $reply))
    (call $guest_error (local.get $reply) (local.get $len))
    (i32.const 0))
)
