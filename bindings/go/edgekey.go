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
// reused across calls: up to 2×GOMAXPROCS idle ones in cells taken and
// returned with one atomic operation each, more behind a mutex. Validate
// makes no system call, takes no lock on that path, and allocates nothing
// in steady state.
package edgekey

/*
#cgo pkg-config: edgekey
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <edgekey/edgekey.h>

// One ek_validate call's arguments, in C memory (one per slot), and the
// function internal/fastcall runs with them on the system stack (not static:
// Go takes its address).
// prefetch: the address of the names line the answer will be looked up in
// (names.go), fetched while ek_validate runs; 0 for none.
typedef struct ek_call {
  ek_validator *v;
  ek_request req;
  ek_result res;
  uintptr_t prefetch;
} ek_call;
void ek_validate_call(void *c) {
  ek_call *call = (ek_call *)c;
  if (call->prefetch) __builtin_prefetch((const void *)call->prefetch);
  ek_validate(call->v, &call->req, &call->res);
}
*/
import "C"

import (
	"errors"
	"hash/maphash"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"edgekey/internal/fastcall"
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
	call *C.ek_call // C memory: the validator, the request, the result
	req  *C.ek_request
	res  *C.ek_result
	f    [5]reqField // authorization, permission, client_ip, origin, env
	id   int         // its place in Validator.slots, -1 when it has none
}

// validateCall is ek_validate_call, run by fastcall.Call. ek_validate is
// what fastcall requires: it takes no lock, waits for nothing, never calls
// back into Go and touches only C memory; its only system calls are the
// rare, short ones that map a new generation of the table.
var validateCall = unsafe.Pointer(C.ek_validate_call)

// reqField is one request string: the C buffer it is copied into and the Go
// value the request holds now (last), so that a value passed again (a
// permission, an empty origin) is neither checked nor copied again. The
// request's pointer is NULL while last is "", except the authorization's,
// which points to its buffer from the first call on.
type reqField struct {
	buf  unsafe.Pointer
	cap  int
	last string
	set  bool // the request's pointer is buf (else NULL)
}

const initialBuf = 256

// Validator validates keys against one table. Safe for concurrent use.
type Validator struct {
	table  string
	closed atomic.Bool
	cells  []atomic.Uint32 // idle slots (id+1; 0 = none), each taken and returned with one atomic operation
	slots  []*slot         // slots by id: an entry is written once (under mu) before its slot is first put
	mu     sync.Mutex
	nslots int                       // slots given an id (under mu)
	free   []*slot                   // idle slots without an id
	names  atomic.Pointer[nameTable] // found keys' names (names.go)
	long   longNames                 // names too long for the table's lines
	hseed  uint64                    // tokenHash's seed
}

// Open maps the table `table` (edgekey.yaml's table.name, or its path under
// table.directory) read-only. The error is an *Error naming what to do.
func Open(table string) (*Validator, error) {
	if strings.IndexByte(table, 0) >= 0 {
		return nil, &Error{Code: int(C.EK_ERR_INVALID_ARG), Message: "edgekey: table name contains a NUL byte"}
	}
	n := 2 * runtime.GOMAXPROCS(0)
	if n < 4 {
		n = 4
	} else if n > 64 {
		n = 64
	}
	v := &Validator{table: table, cells: make([]atomic.Uint32, n), slots: make([]*slot, n),
		hseed: new(maphash.Hash).Sum64() | 1}
	v.names.Store(newNameTable(minLines))
	s, err := v.newSlot()
	if err != nil {
		return nil, err
	}
	v.put(s)
	return v, nil
}

func (v *Validator) newSlot() (*slot, error) {
	var h *C.ek_validator
	name := C.CString(v.table)
	defer C.free(unsafe.Pointer(name))
	if rc := C.ek_open(name, &h); rc != 0 {
		return nil, &Error{Code: int(rc), Message: C.GoString(C.ek_strerror(rc))}
	}
	s := &slot{call: (*C.ek_call)(C.calloc(1, C.size_t(unsafe.Sizeof(C.ek_call{})))), id: -1}
	s.call.v = h
	s.req, s.res = &s.call.req, &s.call.res
	for i := range s.f {
		s.f[i].buf = C.malloc(initialBuf)
		s.f[i].cap = initialBuf
	}
	v.mu.Lock()
	if v.nslots < len(v.slots) {
		s.id = v.nslots
		v.slots[s.id] = s
		v.nslots++
	}
	v.mu.Unlock()
	return s, nil
}

func (s *slot) release() {
	C.ek_close(s.call.v)
	C.free(unsafe.Pointer(s.call))
	for i := range s.f {
		C.free(s.f[i].buf)
		s.f[i] = reqField{}
	}
	s.call, s.req, s.res = nil, nil, nil
}

func (v *Validator) get() *slot {
	if v.closed.Load() {
		panic(ErrClosed)
	}
	for i := range v.cells {
		if v.cells[i].Load() == 0 {
			continue
		}
		if id := v.cells[i].Swap(0); id != 0 {
			s := v.slots[id-1]
			if v.closed.Load() { // closed since: Close did not see this one
				s.release()
				panic(ErrClosed)
			}
			return s
		}
	}
	v.mu.Lock()
	if v.closed.Load() {
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
	for i := 0; i < len(v.cells) && s.id >= 0; i++ {
		if v.cells[i].CompareAndSwap(0, uint32(s.id+1)) {
			if v.closed.Load() { // Close may have drained the cells before this store
				v.drainCells()
			}
			return
		}
	}
	v.mu.Lock()
	if v.closed.Load() {
		v.mu.Unlock()
		s.release()
		return
	}
	v.free = append(v.free, s)
	v.mu.Unlock()
}

// drainCells releases the idle slots of the cells; each is taken by one
// Swap, so by one caller only.
func (v *Validator) drainCells() {
	for i := range v.cells {
		if id := v.cells[i].Swap(0); id != 0 {
			v.slots[id-1].release()
		}
	}
}

// idle counts the idle slots (tests).
func (v *Validator) idle() int {
	n := 0
	for i := range v.cells {
		if v.cells[i].Load() != 0 {
			n++
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return n + len(v.free)
}

// Close releases the table. Calls in progress finish first (their C
// validators are released as they return); Validate afterwards panics with
// ErrClosed. Close is idempotent.
func (v *Validator) Close() error {
	if v.closed.Swap(true) {
		return nil
	}
	v.drainCells()
	v.mu.Lock()
	free := v.free
	v.free = nil
	v.mu.Unlock()
	for _, s := range free {
		s.release()
	}
	return nil
}

// Validate answers for the Authorization header value ("Bearer <token>" or
// the bare token; "" = none: 401 missing_token). A NUL byte in any field
// makes the request unusable: 401 malformed_token.
func (v *Validator) Validate(authorization string, req Request) (r Result) {
	s := v.get()
	if s == nil {
		if hasNUL(authorization, req) {
			return Result{Status: 401, Code: codeNames[C.EK_CODE_MALFORMED_TOKEN]}
		}
		return Result{Status: 503, Code: codeNames[C.EK_CODE_KEYSET_UNAVAILABLE]}
	}
	q := s.req
	// The authorization is copied at every call (it seldom repeats: comparing
	// it first costs more than the copy); each other field only when its
	// value changed since the slot's last call (a string compare: equal
	// pointers answer at once).
	var ok bool
	q.authorization, ok = s.f[0].put(authorization, true)
	if ok && req.Permission != s.f[1].last {
		q.permission, ok = s.f[1].put(req.Permission, false)
	}
	if ok && req.ClientIP != s.f[2].last {
		q.client_ip, ok = s.f[2].put(req.ClientIP, false)
	}
	if ok && req.Origin != s.f[3].last {
		q.origin, ok = s.f[3].put(req.Origin, false)
	}
	if ok && req.Env != s.f[4].last {
		q.env, ok = s.f[4].put(req.Env, false)
	}
	if !ok { // a NUL byte: the request is unusable
		v.put(s)
		return Result{Status: 401, Code: codeNames[C.EK_CODE_MALFORMED_TOKEN]}
	}
	t := v.names.Load()
	line := v.tokenHash(authorization) & t.mask
	s.call.prefetch = C.uintptr_t(uintptr(unsafe.Pointer(&t.lines[line])))
	fastcall.Call(validateCall, unsafe.Pointer(s.call))
	// r is filled here, not through a pointer to it: a 128-byte Result whose
	// address escapes into a call is copied once more on return.
	res := s.res
	r.Status, r.ExpiresAt = int(res.status), int64(res.expires_at)
	if code := uint(res.code); code < uint(len(codeNames)) {
		r.Code = codeNames[code]
	}
	if t := uint(res._type); t < uint(len(typeNames)) {
		r.Type = typeNames[t]
	}
	if e := uint(res.env); e < uint(len(envNames)) {
		r.Env = envNames[e]
	}
	if res.key_id[0] != 0 {
		if l, n := v.intern(t, line, (*rawResult)(unsafe.Pointer(&res.key_id[0]))); l != nil {
			l.set(&r)
		} else {
			r.KeyID, r.Workspace, r.Role = n.keyID, n.workspace, n.role
		}
	}
	v.put(s)
	return r
}

func hasNUL(a string, r Request) bool {
	return strings.IndexByte(a, 0) >= 0 || strings.IndexByte(r.Permission, 0) >= 0 ||
		strings.IndexByte(r.ClientIP, 0) >= 0 || strings.IndexByte(r.Origin, 0) >= 0 ||
		strings.IndexByte(r.Env, 0) >= 0
}

// put copies str into the field's buffer, NUL-terminated, and returns the
// pointer the request is to hold: NULL for "" unless keep; ok false (and
// the field unchanged) when str holds a NUL byte.
func (f *reqField) put(str string, keep bool) (p *C.char, ok bool) {
	if strings.IndexByte(str, 0) >= 0 {
		if f.set {
			p = (*C.char)(f.buf)
		}
		return p, false
	}
	f.last = str
	if str == "" && !keep {
		f.set = false
		return nil, true
	}
	if len(str)+1 > f.cap {
		n := 2 * f.cap
		if n < len(str)+1 {
			n = len(str) + 1
		}
		C.free(f.buf)
		f.buf = C.malloc(C.size_t(n))
		f.cap = n
	}
	buf := unsafe.Slice((*byte)(f.buf), f.cap)
	copy(buf, str)
	buf[len(str)] = 0
	f.set = true
	return (*C.char)(f.buf), true
}

// The ek_result arrays key_id, workspace and role follow each other.
const rawNames = int(unsafe.Sizeof(C.ek_result{}.key_id) + unsafe.Sizeof(C.ek_result{}.workspace) +
	unsafe.Sizeof(C.ek_result{}.role))

func init() {
	var r C.ek_result
	if uintptr(unsafe.Pointer(&r.role[0]))+unsafe.Sizeof(r.role)-uintptr(unsafe.Pointer(&r.key_id[0])) != uintptr(rawNames) {
		panic("edgekey: ek_result's key_id, workspace and role are not contiguous")
	}
	if unsafe.Sizeof(r.key_id) != idSize || unsafe.Sizeof(r.workspace) != wsSize || unsafe.Sizeof(r.role) != roleSize {
		panic("edgekey: ek_result's key_id, workspace and role are not 48, 48 and 32 bytes")
	}
	if unsafe.Sizeof(nameLine{}) != 64 {
		panic("edgekey: a names line is not 64 bytes")
	}
}

// callOnly repeats the slot's last C call (benchmarks: the call's floor).
func (s *slot) callOnly() {
	fastcall.Call(validateCall, unsafe.Pointer(s.call))
}
