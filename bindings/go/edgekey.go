// Package edgekey validates API keys in-process against the shared key table
// edgekeyd keeps on the host (libedgekey, through cgo).
//
//	v, err := edgekey.Open("edgekey-in-mum")
//	if err != nil { log.Fatal(err) }
//	defer v.Close()
//	r := v.Validate(req.Header.Get("Authorization"), edgekey.Request{Permission: "chat:write", ClientIP: ip})
//	if !r.OK() { http.Error(w, r.Code, r.Status) }
//
// A *Validator is safe for concurrent use: it keeps a pool of C validators
// (libedgekey's are for one thread at a time), one per concurrent caller,
// reused across calls. Validate makes no system call and takes no lock
// beyond the pool's, and allocates nothing in steady state.
package edgekey

/*
#cgo pkg-config: edgekey
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <edgekey/edgekey.h>

// ek_validate with its pointers as integers: they point to C memory, and
// cgo's pointer check of pointer arguments costs a heap allocation per call.
static inline int ek_validate_c(uintptr_t v, uintptr_t req, uintptr_t out) {
  return ek_validate((ek_validator *)v, (const ek_request *)req, (ek_result *)out);
}
*/
import "C"

import (
	"errors"
	"strings"
	"sync"
	"unsafe"
)

// Request is what the operation needs; "" means none / unknown.
type Request struct {
	Permission string // "" = no permission needed
	ClientIP   string // "" = unknown (refused by keys with CIDR allow-lists)
	Origin     string // "" = none (refused for publishable keys)
	Env        string // "" = any; "live" or "test"
}

// Result is one answer. Key fields are "" (ExpiresAt 0) when no key was found.
type Result struct {
	Status    int    // 200, 401, 403, 503
	Code      string // "ok", "revoked_key", ...
	KeyID     string
	Workspace string
	Role      string
	Type      string // "secret", "publishable"
	Env       string // "live", "test"
	ExpiresAt int64  // unix seconds; 0 = never
}

// OK reports whether the key is valid and allowed (status 200).
func (r Result) OK() bool { return r.Status == 200 }

// Error is libedgekey's failure to open a table: Code is the negative
// ek_err, Error() ek_strerror's message.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// ErrClosed is the panic of a Validate after Close.
var ErrClosed = errors.New("edgekey: Validate on a closed Validator")

var (
	codeNames = func() [C.EK_CODE_COUNT_]string {
		var n [C.EK_CODE_COUNT_]string
		for i := range n {
			n[i] = C.GoString(C.ek_code_name(C.int(i)))
		}
		return n
	}()
	typeNames = [3]string{"", "secret", "publishable"}
	envNames  = [3]string{"", "live", "test"}
)

// slot is one C validator with C memory for a request: used by one
// goroutine at a time (taken from and returned to the pool).
type slot struct {
	v      *C.ek_validator
	req    *C.ek_request
	res    *C.ek_result
	buf    unsafe.Pointer // the request's strings, NUL-terminated
	bufCap int
	names  map[string]string // interned key ids, workspaces and roles
	arena  []byte            // backing of new interned names
}

const (
	initialBuf = 4096
	maxNames   = 1 << 16 // interned names per slot before the map starts over
)

// Validator validates keys against one table. Safe for concurrent use.
type Validator struct {
	table  *C.char
	mu     sync.Mutex
	free   []*slot
	closed bool
}

// Open maps the table `table` (edgekey.yaml's table.name, or its path under
// table.directory) read-only. The error is an *Error naming what to do.
func Open(table string) (*Validator, error) {
	if strings.IndexByte(table, 0) >= 0 {
		return nil, &Error{Code: int(C.EK_ERR_INVALID_ARG), Message: "edgekey: table name contains a NUL byte"}
	}
	v := &Validator{table: C.CString(table)}
	s, err := v.newSlot()
	if err != nil {
		C.free(unsafe.Pointer(v.table))
		return nil, err
	}
	v.free = append(v.free, s)
	return v, nil
}

func (v *Validator) newSlot() (*slot, error) {
	var h *C.ek_validator
	if rc := C.ek_open(v.table, &h); rc != 0 {
		return nil, &Error{Code: int(rc), Message: C.GoString(C.ek_strerror(rc))}
	}
	s := &slot{v: h, names: make(map[string]string)}
	s.req = (*C.ek_request)(C.calloc(1, C.size_t(unsafe.Sizeof(C.ek_request{}))))
	s.res = (*C.ek_result)(C.calloc(1, C.size_t(unsafe.Sizeof(C.ek_result{}))))
	s.buf = C.malloc(initialBuf)
	s.bufCap = initialBuf
	return s, nil
}

func (s *slot) release() {
	C.ek_close(s.v)
	C.free(unsafe.Pointer(s.req))
	C.free(unsafe.Pointer(s.res))
	C.free(s.buf)
	s.v, s.req, s.res, s.buf = nil, nil, nil, nil
}

func (v *Validator) get() *slot {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		panic(ErrClosed)
	}
	if n := len(v.free); n > 0 {
		s := v.free[n-1]
		v.free = v.free[:n-1]
		v.mu.Unlock()
		return s
	}
	v.mu.Unlock()
	s, err := v.newSlot()
	if err != nil { // the table vanished since Open: answer as the library does
		return nil
	}
	return s
}

func (v *Validator) put(s *slot) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		s.release()
		return
	}
	v.free = append(v.free, s)
	v.mu.Unlock()
}

// Close releases the table. Calls in progress finish first (their C
// validators are released as they return); Validate afterwards panics with
// ErrClosed. Close is idempotent.
func (v *Validator) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	free := v.free
	v.free = nil
	v.mu.Unlock()
	for _, s := range free {
		s.release()
	}
	C.free(unsafe.Pointer(v.table))
	return nil
}

// Validate answers for the Authorization header value ("Bearer <token>" or
// the bare token; "" = none: 401 missing_token). A NUL byte in any field
// makes the request unusable: 401 malformed_token.
func (v *Validator) Validate(authorization string, req Request) Result {
	if hasNUL(authorization, req) {
		return Result{Status: 401, Code: codeNames[C.EK_CODE_MALFORMED_TOKEN]}
	}
	s := v.get()
	if s == nil {
		return Result{Status: 503, Code: codeNames[C.EK_CODE_KEYSET_UNAVAILABLE]}
	}
	need := len(authorization) + len(req.Permission) + len(req.ClientIP) + len(req.Origin) + len(req.Env) + 5
	if need > s.bufCap {
		C.free(s.buf)
		s.buf = C.malloc(C.size_t(need))
		s.bufCap = need
	}
	buf := unsafe.Slice((*byte)(s.buf), s.bufCap)
	off := 0
	s.req.authorization = s.cstr(buf, &off, authorization, true)
	s.req.permission = s.cstr(buf, &off, req.Permission, false)
	s.req.client_ip = s.cstr(buf, &off, req.ClientIP, false)
	s.req.origin = s.cstr(buf, &off, req.Origin, false)
	s.req.env = s.cstr(buf, &off, req.Env, false)
	C.ek_validate_c(C.uintptr_t(uintptr(unsafe.Pointer(s.v))), C.uintptr_t(uintptr(unsafe.Pointer(s.req))),
		C.uintptr_t(uintptr(unsafe.Pointer(s.res))))
	r := s.result()
	v.put(s)
	return r
}

func hasNUL(a string, r Request) bool {
	return strings.IndexByte(a, 0) >= 0 || strings.IndexByte(r.Permission, 0) >= 0 ||
		strings.IndexByte(r.ClientIP, 0) >= 0 || strings.IndexByte(r.Origin, 0) >= 0 ||
		strings.IndexByte(r.Env, 0) >= 0
}

// cstr copies str into buf at *off, NUL-terminated; "" is NULL unless keep.
func (s *slot) cstr(buf []byte, off *int, str string, keep bool) *C.char {
	if str == "" && !keep {
		return nil
	}
	at := *off
	copy(buf[at:], str)
	buf[at+len(str)] = 0
	*off = at + len(str) + 1
	return (*C.char)(unsafe.Add(s.buf, at))
}

func (s *slot) result() Result {
	res := s.res
	code := int(res.code)
	r := Result{Status: int(res.status), ExpiresAt: int64(res.expires_at)}
	if code >= 0 && code < len(codeNames) {
		r.Code = codeNames[code]
	}
	if t := int(res._type); t > 0 && t < 3 {
		r.Type = typeNames[t]
	}
	if e := int(res.env); e > 0 && e < 3 {
		r.Env = envNames[e]
	}
	if res.key_id[0] != 0 {
		r.KeyID = s.intern(unsafe.Pointer(&res.key_id[0]), len(res.key_id))
		r.Workspace = s.intern(unsafe.Pointer(&res.workspace[0]), len(res.workspace))
		r.Role = s.intern(unsafe.Pointer(&res.role[0]), len(res.role))
	}
	return r
}

// intern returns the Go string of the NUL-terminated C field at p (at most
// n bytes), allocating only the first time a slot sees that text (the map
// lookup with string(bytes) does not allocate).
func (s *slot) intern(p unsafe.Pointer, n int) string {
	b := unsafe.Slice((*byte)(p), n)
	l := 0
	for l < n && b[l] != 0 {
		l++
	}
	b = b[:l]
	if l == 0 {
		return ""
	}
	if str, ok := s.names[string(b)]; ok {
		return str
	}
	if len(s.names) >= maxNames {
		s.names = make(map[string]string)
	}
	if cap(s.arena)-len(s.arena) < l {
		s.arena = make([]byte, 0, 16384)
	}
	start := len(s.arena)
	s.arena = append(s.arena, b...)
	name := s.arena[start : start+l : start+l]
	str := *(*string)(unsafe.Pointer(&name)) // the arena is append-only: these bytes never change
	s.names[str] = str
	return str
}
