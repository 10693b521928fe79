// The Go binding's conformance runner (contract: ../README.md): every case
// of the phase through edgekey.Validator.Validate.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"edgekey"
)

type testCase struct {
	Name          string                     `json:"name"`
	Phase         string                     `json:"phase"`
	Authorization *string                    `json:"authorization"`
	Permission    *string                    `json:"permission"`
	ClientIP      *string                    `json:"client_ip"`
	Origin        *string                    `json:"origin"`
	Env           *string                    `json:"env"`
	Expect        map[string]json.RawMessage `json:"expect"`
}

var subst = regexp.MustCompile(`\{(token|badcheck|truncated):([^}]*)\}`)

func expand(text string, tokens map[string]string) string {
	return subst.ReplaceAllStringFunc(text, func(m string) string {
		p := subst.FindStringSubmatch(m)
		t, ok := tokens[p[2]]
		if !ok {
			fail("no token named %q", p[2])
		}
		switch p[1] {
		case "badcheck":
			if strings.HasSuffix(t, "A") {
				return t[:len(t)-1] + "B"
			}
			return t[:len(t)-1] + "A"
		case "truncated":
			return t[:len(t)-1]
		}
		return t
	})
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "conformance (go): "+format+"\n", args...)
	os.Exit(2)
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// The answer in the case file's terms: key fields null when empty.
func fields(r edgekey.Result) map[string]any {
	s := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	var exp any
	if r.ExpiresAt != 0 {
		exp = r.ExpiresAt
	}
	return map[string]any{"status": r.Status, "code": r.Code, "key_id": s(r.KeyID), "workspace": s(r.Workspace),
		"role": s(r.Role), "type": s(r.Type), "env": s(r.Env), "expires_at": exp}
}

func main() {
	var doc struct {
		Cases []testCase `json:"cases"`
	}
	var tokens map[string]string
	for path, into := range map[string]any{os.Getenv("EDGEKEY_CONFORMANCE_CASES"): &doc,
		os.Getenv("EDGEKEY_CONFORMANCE_TOKENS"): &tokens} {
		b, err := os.ReadFile(path)
		if err != nil {
			fail("%v (run me through conformance_env)", err)
		}
		if err := json.Unmarshal(b, into); err != nil {
			fail("%s: %v", path, err)
		}
	}
	phase := os.Getenv("EDGEKEY_CONFORMANCE_PHASE")
	v, err := edgekey.Open(os.Getenv("EDGEKEY_CONFORMANCE_TABLE"))
	if err != nil {
		fail("%v", err)
	}
	defer v.Close()
	ran, failed := 0, 0
	for _, c := range doc.Cases {
		p := c.Phase
		if p == "" {
			p = "live"
		}
		if p != phase {
			continue
		}
		ran++
		// The Go API has no "absent" string: "" is none, as for nil.
		auth := ""
		if c.Authorization != nil {
			auth = expand(*c.Authorization, tokens)
		}
		got := fields(v.Validate(auth, edgekey.Request{Permission: str(c.Permission), ClientIP: str(c.ClientIP),
			Origin: str(c.Origin), Env: str(c.Env)}))
		ok := true
		for field, want := range c.Expect {
			g, known := got[field]
			if !known {
				fail("unknown expected field %q", field)
			}
			gb, _ := json.Marshal(g)
			if string(gb) == string(want) {
				continue
			}
			fmt.Printf("FAIL %s [go]: %s expected %s, got %s\n", c.Name, field, want, gb)
			ok = false
		}
		if !ok {
			failed++
		}
	}
	fmt.Printf("go path, phase %s: %d of %d cases as expected\n", phase, ran-failed, ran)
	if ran == 0 {
		fmt.Printf("FAIL: no case in phase %s\n", phase)
	}
	if failed > 0 || ran == 0 {
		os.Exit(1)
	}
}
