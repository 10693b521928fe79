package edgekey

// Runs under tests/conformance's conformance_env (phase live): a real
// edgekeyd serves the case file's keyset; the tokens are the ones it minted.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func setup(t testing.TB) (string, map[string]string) {
	table := os.Getenv("EDGEKEY_CONFORMANCE_TABLE")
	if table == "" {
		t.Fatal("EDGEKEY_CONFORMANCE_TABLE is not set: run through conformance_env (ctest -R bindings_go)")
	}
	b, err := os.ReadFile(os.Getenv("EDGEKEY_CONFORMANCE_TOKENS"))
	if err != nil {
		t.Fatal(err)
	}
	var tokens map[string]string
	if err := json.Unmarshal(b, &tokens); err != nil {
		t.Fatal(err)
	}
	return table, tokens
}

func open(t testing.TB, table string) *Validator {
	v, err := Open(table)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidate(t *testing.T) {
	table, tokens := setup(t)
	v := open(t, table)
	defer v.Close()
	r := v.Validate("Bearer "+tokens["sk_live_dev"], Request{Permission: "agents:deploy", ClientIP: "203.0.113.7"})
	want := Result{Status: 200, Code: "ok", KeyID: "key_conf_dev", Workspace: "ws_solar", Role: "developer",
		Type: "secret", Env: "live"}
	if r != want || !r.OK() {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	if r := v.Validate(tokens["sk_live_expiring"], Request{}); r.ExpiresAt != 4070908800 {
		t.Fatalf("expiring key: %+v", r)
	}
	r = v.Validate("Bearer "+tokens["sk_live_unknown"], Request{})
	if r != (Result{Status: 401, Code: "unknown_key"}) {
		t.Fatalf("unknown key: %+v", r)
	}
	r = v.Validate("Bearer "+tokens["sk_live_eu"], Request{})
	if r.Status != 403 || r.Code != "wrong_region" || r.KeyID != "key_conf_eu" {
		t.Fatalf("wrong region: %+v", r)
	}
}

func TestBadInput(t *testing.T) {
	table, tokens := setup(t)
	v := open(t, table)
	defer v.Close()
	if r := v.Validate("", Request{}); r.Code != "missing_token" || r.Status != 401 {
		t.Fatalf("empty: %+v", r)
	}
	for _, r := range []Result{
		v.Validate("Bearer "+tokens["sk_live_dev"]+"\x00trailing", Request{}),
		v.Validate("Bearer "+tokens["sk_live_dev"], Request{Origin: "https://a\x00b"}),
		v.Validate("Bearer "+strings.Repeat("A", 1<<20), Request{}),
	} {
		if r.Status != 401 || r.Code != "malformed_token" || r.KeyID != "" {
			t.Fatalf("bad input answered %+v", r)
		}
	}
	r := v.Validate(tokens["sk_live_dev"], Request{Permission: strings.Repeat("p", 1<<20), ClientIP: strings.Repeat("1", 1<<20)})
	if r.Status != 403 || r.Code != "insufficient_permission" {
		t.Fatalf("1 MB fields: %+v", r)
	}
	if r := v.Validate(tokens["sk_live_dev"], Request{}); !r.OK() {
		t.Fatalf("after large input: %+v", r)
	}
}

func TestOpenError(t *testing.T) {
	_, err := Open("ekconf-no-such-table-go")
	var e *Error
	if !errors.As(err, &e) || e.Code != -2 || !strings.Contains(e.Error(), "edgekeyd is running") {
		t.Fatalf("got %v", err)
	}
	if _, err := Open("a\x00b"); !errors.As(err, &e) || e.Code != -1 {
		t.Fatalf("NUL in table name: %v", err)
	}
}

func TestUseAfterClosePanics(t *testing.T) {
	table, tokens := setup(t)
	v := open(t, table)
	if !v.Validate(tokens["sk_live_dev"], Request{}).OK() {
		t.Fatal("not ok before close")
	}
	v.Close()
	v.Close() // idempotent
	defer func() {
		if p := recover(); p != ErrClosed {
			t.Fatalf("recovered %v, want ErrClosed", p)
		}
	}()
	v.Validate(tokens["sk_live_dev"], Request{})
	t.Fatal("Validate after Close returned")
}

func TestConcurrentGoroutines(t *testing.T) {
	table, tokens := setup(t)
	v := open(t, table)
	defer v.Close()
	names := []string{"sk_live_dev", "sk_test_analyst", "sk_live_revoked", "sk_live_unknown"}
	want := map[string]Result{}
	for _, n := range names {
		want[n] = v.Validate(tokens[n], Request{})
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				n := names[(g+i)%len(names)]
				if r := v.Validate(tokens[n], Request{}); r != want[n] {
					errs <- n
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for n := range errs {
		t.Errorf("%s answered differently under concurrency", n)
	}
	if pooled := v.idle(); pooled < 1 || pooled > 16 {
		t.Fatalf("%d pooled C validators for 16 goroutines", pooled)
	}
}

// Validate's C call runs on the system stack without cgo's entry and exit
// (internal/fastcall): the runtime must still stop the world, collect,
// shrink and move goroutine stacks, and preempt around it. Goroutines
// validate with deep stacks while others allocate and collect.
func TestValidateWhileTheRuntimeCollects(t *testing.T) {
	table, tokens := setup(t)
	v := open(t, table)
	defer v.Close()
	want := v.Validate(tokens["sk_live_dev"], Request{Permission: "chat:write"})
	if !want.OK() {
		t.Fatalf("sk_live_dev: %+v", want)
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	for g := 0; g < 2; g++ {
		bg.Add(1)
		go func() {
			defer bg.Done()
			var keep [][]byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				keep = append(keep, make([]byte, 4096))
				if len(keep) > 256 {
					keep = nil
					runtime.GC()
				}
			}
		}()
	}
	var deep func(n int) Result // grows the goroutine's stack, so the collector moves it
	deep = func(n int) Result {
		var pad [256]byte
		if n == 0 {
			return v.Validate(tokens["sk_live_dev"], Request{Permission: "chat:write"})
		}
		r := deep(n - 1)
		r.Status += int(pad[n%len(pad)])
		return r
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 30000; i++ {
				if r := deep((g * i) % 64); r != want {
					errs <- fmt.Sprintf("goroutine %d, call %d: %+v", g, i, r)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestCloseWhileValidating(t *testing.T) {
	table, tokens := setup(t)
	v := open(t, table)
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil && p != ErrClosed {
					t.Errorf("panic %v", p)
				}
			}()
			for i := 0; ; i++ {
				if r := v.Validate(tokens["sk_live_dev"], Request{}); !r.OK() {
					t.Errorf("answered %+v", r)
					return
				}
				if i == 100 {
					started <- struct{}{}
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-started
	}
	v.Close()
	wg.Wait() // every goroutine ended by ErrClosed; -race/ASan would flag a use of a freed slot
	if n := v.idle(); n != 0 {
		t.Fatalf("%d C validators left after Close", n)
	}
}

func TestNoAllocationPerCall(t *testing.T) {
	table, tokens := setup(t)
	v := open(t, table)
	defer v.Close()
	hit := "Bearer " + tokens["sk_live_cidr"]
	miss := "Bearer " + tokens["sk_live_unknown"]
	req := Request{Permission: "agents:deploy", ClientIP: "203.0.113.7", Origin: "https://app.example.com", Env: "live"}
	v.Validate(hit, req) // interns the key's names once
	var r Result
	if n := testing.AllocsPerRun(1000, func() { r = v.Validate(hit, req) }); n != 0 {
		t.Fatalf("%v allocations per hit", n)
	}
	if !r.OK() || r.KeyID != "key_conf_cidr" {
		t.Fatalf("hit answered %+v", r)
	}
	if n := testing.AllocsPerRun(1000, func() { r = v.Validate(miss, Request{}) }); n != 0 {
		t.Fatalf("%v allocations per miss", n)
	}
	// Every key of the keyset in turn: each one's names stay cached.
	var auths []string
	for name, tok := range tokens {
		if !strings.Contains(name, "unknown") && !strings.Contains(name, "other") {
			auths = append(auths, "Bearer "+tok)
		}
	}
	for _, a := range auths {
		v.Validate(a, req)
	}
	i := 0
	if n := testing.AllocsPerRun(100*len(auths), func() { r = v.Validate(auths[i%len(auths)], req); i++ }); n != 0 {
		t.Fatalf("%v allocations per call over %d keys", n, len(auths))
	}
}

func TestMiddleware(t *testing.T) {
	table, tokens := setup(t)
	v := open(t, table)
	defer v.Close()
	h := Middleware(v, "agents:deploy")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, ok := FromContext(r.Context())
		if !ok {
			t.Error("no Result in the context")
		}
		io.WriteString(w, "hello "+res.KeyID+" "+res.Role)
	}))
	srv := httptest.NewServer(h) // 127.0.0.1
	defer srv.Close()
	get := func(auth ...string) (int, http.Header, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		for _, a := range auth {
			req.Header.Add("Authorization", a)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	if s, _, b := get("Bearer " + tokens["sk_live_dev"]); s != 200 || b != "hello key_conf_dev developer" {
		t.Fatalf("valid key: %d %q", s, b)
	}
	if s, h, b := get(); s != 401 || h.Get("WWW-Authenticate") != "Bearer" || b != "{\"status\":401,\"code\":\"missing_token\"}\n" {
		t.Fatalf("no key: %d %q", s, b)
	}
	s, h2, b := get("Bearer " + tokens["sk_live_expired"])
	want := `{"status":401,"code":"expired_key","key_id":"key_conf_expired","workspace":"ws_solar","type":"secret","env":"live","role":"developer","expires_at":"2020-01-01T00:00:00Z"}` + "\n"
	if s != 401 || b != want || h2.Get("X-Edgekey-Code") != "expired_key" {
		t.Fatalf("expired key: %d %q", s, b)
	}
	if s, _, b := get("Bearer "+tokens["sk_live_dev"], "Bearer "+tokens["sk_live_dev"]); s != 401 || !strings.Contains(b, "malformed_token") {
		t.Fatalf("two Authorization headers: %d %q", s, b)
	}
	if s, _, b := get("Bearer " + tokens["sk_live_cidr"]); s != 403 || !strings.Contains(b, "ip_not_allowed") {
		t.Fatalf("peer outside the CIDRs: %d %q", s, b)
	}
	v.Close()
	if s, _, b := get("Bearer " + tokens["sk_live_dev"]); s != 503 || !strings.Contains(b, "keyset_unavailable") {
		t.Fatalf("after Close: %d %q", s, b)
	}
}
