package edgekey

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// A found key's names (key_id, workspace, role) become Go strings without an
// allocation per call: each Validator keeps a table of 64-byte lines, each
// holding one key's names packed, written once and never changed after
// (a Result's strings point into it; a replaced table lives on while any
// does). A line is found by a hash of the token, known before the C call, so
// the call's C shim prefetches it while ek_validate runs; the names the line
// holds decide a hit (a key whose workspace or role changed gets another
// line). One line per call, usually already in cache by the time it is read.

const (
	lineData = 56      // bytes of names a line holds
	minLines = 1 << 10 // 64 KiB: a large object, so page-aligned lines
	maxLines = 1 << 19 // 32 MiB
	maxProbe = 8
)

// Line states: written by the goroutine that claims an empty line (CAS
// from lineEmpty), read by any once lineFull.
const (
	lineEmpty = iota
	lineBusy
	lineFull
)

// nameLine is one key's names: data[:n[0]] the key_id, then the workspace,
// then the role. Immutable once state is lineFull.
type nameLine struct {
	state atomic.Uint32
	n     [3]uint8
	_     uint8
	data  [lineData]byte
}

type nameTable struct {
	lines []nameLine
	mask  uint64
	used  atomic.Int64
}

func newNameTable(n int) *nameTable {
	return &nameTable{lines: make([]nameLine, n), mask: uint64(n - 1)}
}

// names are a key's id, workspace and role as Go strings, shared by every
// answer for that key.
type names struct{ keyID, workspace, role string }

// rawResult is an ek_result's key_id, workspace and role arrays, which
// follow each other (checked in init), NUL-terminated and NUL-padded.
type rawResult [rawNames]byte

const idSize, wsSize, roleSize = 48, 48, 32

// tokenHash spreads tokens over a table's lines: the authorization's length
// and last 16 bytes (a token's random part and check digits), with the
// Validator's random seed. Only placement depends on it; the names decide.
func (v *Validator) tokenHash(a string) uint64 {
	h := v.hseed ^ uint64(len(a))*0x9E3779B97F4A7C15
	if n := len(a); n >= 16 {
		p := *(*unsafe.Pointer)(unsafe.Pointer(&a))
		h = (h ^ *(*uint64)(unsafe.Add(p, n-16))) * 0xBF58476D1CE4E5B9
		h = (h ^ h>>31 ^ *(*uint64)(unsafe.Add(p, n-8))) * 0x94D049BB133111EB
	} else {
		for i := 0; i < n; i++ {
			h = (h ^ uint64(a[i])) * 0xBF58476D1CE4E5B9
		}
	}
	return h ^ h>>29
}

func (l *nameLine) matches(raw *rawResult) bool {
	a, b, c := int(l.n[0]), int(l.n[1]), int(l.n[2])
	if raw[a] != 0 || raw[idSize+b] != 0 || raw[idSize+wsSize+c] != 0 {
		return false
	}
	d, r := unsafe.Pointer(&l.data[0]), unsafe.Pointer(&raw[0])
	return equal(d, r, a) && equal(unsafe.Add(d, a), unsafe.Add(r, idSize), b) &&
		equal(unsafe.Add(d, a+b), unsafe.Add(r, idSize+wsSize), c)
}

// equal compares the n bytes at p and q (short names: whole words, the
// last one overlapping, instead of a call to the runtime's memequal).
func equal(p, q unsafe.Pointer, n int) bool {
	if n >= 8 {
		for i := 0; i < n-8; i += 8 {
			if *(*uint64)(unsafe.Add(p, i)) != *(*uint64)(unsafe.Add(q, i)) {
				return false
			}
		}
		return *(*uint64)(unsafe.Add(p, n-8)) == *(*uint64)(unsafe.Add(q, n-8))
	}
	if n&4 != 0 {
		if *(*uint32)(p) != *(*uint32)(q) {
			return false
		}
		p, q = unsafe.Add(p, 4), unsafe.Add(q, 4)
	}
	if n&2 != 0 {
		if *(*uint16)(p) != *(*uint16)(q) {
			return false
		}
		p, q = unsafe.Add(p, 2), unsafe.Add(q, 2)
	}
	return n&1 == 0 || *(*byte)(p) == *(*byte)(q)
}

// set fills r's key fields from the line.
func (l *nameLine) set(r *Result) {
	a, b, c := int(l.n[0]), int(l.n[1]), int(l.n[2])
	r.KeyID, r.Workspace, r.Role = frozen(l.data[:a]), frozen(l.data[a:a+b]), frozen(l.data[a+b:a+b+c])
}

// cstrlen is the length of the NUL-terminated string in b, or -1 when b
// holds no NUL.
func cstrlen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// intern returns the line holding the result's names: line i of t (the one
// the call prefetched) or one after it, filled on a miss; or, for names no
// line holds, nil and the names.
func (v *Validator) intern(t *nameTable, i uint64, raw *rawResult) (*nameLine, *names) {
	for k := uint64(0); k < maxProbe; k++ {
		l := &t.lines[(i+k)&t.mask]
		switch l.state.Load() {
		case lineFull:
			if l.matches(raw) {
				return l, nil
			}
		case lineEmpty:
			a, b, c := cstrlen(raw[:idSize]), cstrlen(raw[idSize:idSize+wsSize]), cstrlen(raw[idSize+wsSize:])
			if a < 0 || b < 0 || c < 0 || a+b+c > lineData {
				return nil, v.internLong(raw)
			}
			if !l.state.CompareAndSwap(lineEmpty, lineBusy) {
				continue // another goroutine is filling it
			}
			l.n = [3]uint8{uint8(a), uint8(b), uint8(c)}
			copy(l.data[:a], raw[:a])
			copy(l.data[a:a+b], raw[idSize:idSize+b])
			copy(l.data[a+b:a+b+c], raw[idSize+wsSize:idSize+wsSize+c])
			l.state.Store(lineFull)
			if t.used.Add(1) > int64(len(t.lines))/4*3 {
				v.grow(t)
			}
			return l, nil
		}
	}
	// Every line probed holds other names: a bigger table (from then on
	// this key gets a line), and this once the names in their own memory.
	v.grow(t)
	return nil, v.internLong(raw)
}

// grow replaces t by a table twice its size (at most maxLines lines, then
// a fresh one of that size) when t is still the Validator's.
func (v *Validator) grow(t *nameTable) {
	n := 2 * len(t.lines)
	if n > maxLines {
		if t.used.Load() <= int64(len(t.lines))/4*3 {
			return // full probe sequences in a big table: leave it
		}
		n = maxLines
	}
	v.names.CompareAndSwap(t, newNameTable(n))
}

// longNames holds the names too long for a line (a key_id, workspace and
// role of more than lineData bytes together): rare, so a map behind a mutex,
// cleared when it reaches maxLong keys.
type longNames struct {
	mu sync.Mutex
	m  map[string]*names
}

const maxLong = 1 << 14

func (v *Validator) internLong(raw *rawResult) *names {
	v.long.mu.Lock()
	defer v.long.mu.Unlock()
	if n, ok := v.long.m[string(raw[:])]; ok {
		return n
	}
	if v.long.m == nil || len(v.long.m) >= maxLong {
		v.long.m = make(map[string]*names)
	}
	key := string(raw[:])
	at := func(off, size int) string {
		s := key[off : off+size]
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				return s[:i]
			}
		}
		return s
	}
	n := &names{at(0, idSize), at(idSize, wsSize), at(idSize+wsSize, roleSize)}
	v.long.m[key] = n
	return n
}

// frozen is b as a string without a copy: b must never change (a full
// line's bytes).
func frozen(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return *(*string)(unsafe.Pointer(&b))
}
