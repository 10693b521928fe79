package edgekey

import "testing"

// go test -bench . (under conformance_env): Validate of a hit, and the C
// call alone through cgo with the same request, for the binding's share.
func BenchmarkValidateHit(b *testing.B) {
	table, tokens := setup(b)
	v := open(b, table)
	defer v.Close()
	auth := "Bearer " + tokens["sk_live_dev"]
	req := Request{Permission: "chat:write"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !v.Validate(auth, req).OK() {
			b.Fatal("not ok")
		}
	}
}

func BenchmarkCgoCallOnly(b *testing.B) {
	table, tokens := setup(b)
	v := open(b, table)
	defer v.Close()
	v.Validate("Bearer "+tokens["sk_live_dev"], Request{Permission: "chat:write"})
	s := v.get() // the slot that call used, its request still set
	defer v.put(s)
	if s.callOnly(); s.res.status != 200 {
		b.Fatal("the repeated call is not a 200")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.callOnly()
	}
}
