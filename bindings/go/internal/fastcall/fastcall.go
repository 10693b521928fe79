//go:build !go1.23 && !edgekey_cgocall

// Package fastcall calls a C function on the scheduler stack without cgo's
// entry and exit (entersyscall/exitsyscall: ~85 ns of the ~95 a cgo call
// costs on the hosts we measured).
//
// Only for C functions that return within microseconds, never wait (no
// lock, no blocking system call), never call back into Go, never touch Go
// memory, and need no more than the system stack: while such a call runs,
// its goroutine keeps its P, so the scheduler cannot hand the P to another
// goroutine and a collection that stops the world waits for the call to
// return (as for a tight Go loop without preemption points).
//
// runtime.asmcgocall is an internal of the runtime, reached by linkname; Go
// 1.23 restricts such links, so from there (and with the build tag
// edgekey_cgocall) the package is built on an ordinary cgo call instead:
// see cgocall.go.
package fastcall

import "unsafe"

// Available reports whether calls bypass cgo's entry and exit.
const Available = true

//go:linkname asmcgocall runtime.asmcgocall
//go:noescape
func asmcgocall(fn, arg unsafe.Pointer) int32

// Call runs fn(arg) on the system stack: fn is a C function
// `void fn(void *arg)`, arg points to C memory.
//
//go:nosplit
func Call(fn, arg unsafe.Pointer) {
	asmcgocall(fn, arg)
}
