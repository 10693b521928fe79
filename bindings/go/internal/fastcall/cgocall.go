//go:build go1.23 || edgekey_cgocall

package fastcall

/*
#include <stdint.h>
// Integers, not pointers: cgo's check of pointer arguments costs an
// allocation per call, and both point to C memory anyway.
static void fastcall_call(uintptr_t fn, uintptr_t arg) { ((void (*)(void *))fn)((void *)arg); }
*/
import "C"

import "unsafe"

// Available reports whether calls bypass cgo's entry and exit: not in this
// build, where Call is an ordinary cgo call.
const Available = false

// Call runs fn(arg): fn is a C function `void fn(void *arg)`, arg points to
// C memory.
func Call(fn, arg unsafe.Pointer) {
	C.fastcall_call(C.uintptr_t(uintptr(fn)), C.uintptr_t(uintptr(arg)))
}
