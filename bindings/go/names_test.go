package edgekey

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func rawOf(id, ws, role string) *rawResult {
	var r rawResult
	copy(r[:idSize], id)
	copy(r[idSize:idSize+wsSize], ws)
	copy(r[idSize+wsSize:], role)
	return &r
}

// lookup is what Validate does around its C call, for a made-up answer.
func (v *Validator) lookup(token string, raw *rawResult) names {
	t := v.names.Load()
	l, n := v.intern(t, v.tokenHash(token)&t.mask, raw)
	if l == nil {
		return *n
	}
	var r Result
	l.set(&r)
	return names{r.KeyID, r.Workspace, r.Role}
}

// The names table grows past its first size, every name read back is the
// one given (also those returned before the table grew or was replaced),
// and then the same keys are found without an allocation.
func TestNamesTableGrowsAndKeepsNames(t *testing.T) {
	table, _ := setup(t)
	v := open(t, table)
	defer v.Close()
	const keys = 5000
	got := make([]names, keys)
	for i := 0; i < keys; i++ {
		got[i] = v.lookup(fmt.Sprintf("Bearer ek_sk_live_%030d", i),
			rawOf(fmt.Sprintf("key_%d", i), fmt.Sprintf("ws_%d", i%7), "developer"))
	}
	if n := len(v.names.Load().lines); n <= minLines {
		t.Fatalf("the table did not grow: %d lines for %d keys", n, keys)
	}
	for i, n := range got {
		if want := (names{fmt.Sprintf("key_%d", i), fmt.Sprintf("ws_%d", i%7), "developer"}); n != want {
			t.Fatalf("key %d: %+v, want %+v", i, n, want)
		}
	}
	tokens := make([]string, keys)
	raws := make([]*rawResult, keys)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("Bearer ek_sk_live_%030d", i)
		raws[i] = rawOf(fmt.Sprintf("key_%d", i), fmt.Sprintf("ws_%d", i%7), "developer")
		v.lookup(tokens[i], raws[i]) // into the grown table
	}
	i := 0
	var n names
	if a := testing.AllocsPerRun(keys, func() { n = v.lookup(tokens[i%keys], raws[i%keys]); i++ }); a != 0 {
		t.Fatalf("%v allocations per lookup of a known key", a)
	}
	if n.keyID != fmt.Sprintf("key_%d", (i-1)%keys) {
		t.Fatalf("last lookup: %+v", n)
	}
}

// A key whose role changed gets its new names; names too long for a line
// come whole from the long map; the same token with either answer is right.
func TestNamesTableChangedAndLongNames(t *testing.T) {
	table, _ := setup(t)
	v := open(t, table)
	defer v.Close()
	tok := "Bearer ek_sk_live_changing_names_000"
	a := v.lookup(tok, rawOf("key_a", "ws_solar", "developer"))
	b := v.lookup(tok, rawOf("key_a", "ws_solar", "admin"))
	if a != (names{"key_a", "ws_solar", "developer"}) || b != (names{"key_a", "ws_solar", "admin"}) {
		t.Fatalf("changed role: %+v then %+v", a, b)
	}
	if c := v.lookup(tok, rawOf("key_a", "ws_solar", "developer")); c != a {
		t.Fatalf("back to the first names: %+v", c)
	}
	id, ws, role := strings.Repeat("i", idSize-1), strings.Repeat("w", wsSize-1), strings.Repeat("r", roleSize-1)
	for k := 0; k < 3; k++ {
		if n := v.lookup(tok, rawOf(id, ws, role)); n != (names{id, ws, role}) {
			t.Fatalf("long names: %+v", n)
		}
	}
	if n := v.lookup(tok, rawOf(id, "", "")); n != (names{id, "", ""}) {
		t.Fatalf("empty workspace and role: %+v", n)
	}
}

// equal against bytes.Equal for every length a name may have and a
// difference at every place.
func TestEqual(t *testing.T) {
	var a, b [64]byte
	for i := range a {
		a[i], b[i] = byte('a'+i%26), byte('a'+i%26)
	}
	for n := 0; n < 56; n++ {
		p, q := unsafe.Pointer(&a[3]), unsafe.Pointer(&b[3])
		if !equal(p, q, n) {
			t.Fatalf("length %d: equal bytes compared unequal", n)
		}
		for i := 0; i < n; i++ {
			b[3+i] ^= 0x20
			if equal(p, q, n) {
				t.Fatalf("length %d: a difference at %d not seen", n, i)
			}
			b[3+i] ^= 0x20
		}
		b[3+n] ^= 0x20 // past the end: not compared
		if !equal(p, q, n) {
			t.Fatalf("length %d: a byte past the end compared", n)
		}
		b[3+n] ^= 0x20
	}
}
