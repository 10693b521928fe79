package edgekey

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"
)

type ctxKey struct{}

// FromContext returns the Result Middleware stored for an accepted request.
func FromContext(ctx context.Context) (Result, bool) {
	r, ok := ctx.Value(ctxKey{}).(Result)
	return r, ok
}

// Middleware checks every request's Authorization header (and Origin, and
// the client address from RemoteAddr) for `permission` ("" = none). A
// refused request gets what edgekeyd's socket answers: 401/403/503 with
// X-Edgekey-Code, WWW-Authenticate: Bearer on 401, and the JSON body
// {"status","code",key fields}; after v.Close, 503 keyset_unavailable. An
// accepted one reaches next with its Result in the request's context
// (FromContext). Behind a proxy, set
// RemoteAddr from its header first (e.g. a middleware of your own).
func Middleware(v *Validator, permission string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			ip := req.RemoteAddr
			if host, _, err := net.SplitHostPort(ip); err == nil {
				ip = host
			}
			auth := req.Header.Values("Authorization")
			var r Result
			switch len(auth) {
			case 0:
				r = validateOpen(v, "", Request{Permission: permission, ClientIP: ip, Origin: req.Header.Get("Origin")})
			case 1:
				r = validateOpen(v, auth[0], Request{Permission: permission, ClientIP: ip, Origin: req.Header.Get("Origin")})
			default: // ambiguous: which key? (the socket answers the same)
				r = Result{Status: 401, Code: "malformed_token"}
			}
			if !r.OK() {
				refuse(w, r)
				return
			}
			next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), ctxKey{}, r)))
		})
	}
}

// validateOpen is v.Validate, or 503 keyset_unavailable once v is closed
// (a server shutting down answers its last requests instead of panicking).
func validateOpen(v *Validator, auth string, req Request) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			if p != ErrClosed {
				panic(p)
			}
			r = Result{Status: 503, Code: "keyset_unavailable"}
		}
	}()
	return v.Validate(auth, req)
}

func refuse(w http.ResponseWriter, r Result) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Edgekey-Code", r.Code)
	if r.Status == 401 {
		h.Set("WWW-Authenticate", "Bearer")
	}
	b := []byte(`{"status":` + strconv.Itoa(r.Status) + `,"code":` + strconv.Quote(r.Code))
	if r.KeyID != "" {
		h.Set("X-Edgekey-Key-Id", r.KeyID)
		h.Set("X-Edgekey-Workspace", r.Workspace)
		h.Set("X-Edgekey-Role", r.Role)
		h.Set("X-Edgekey-Type", r.Type)
		h.Set("X-Edgekey-Env", r.Env)
		exp := "null"
		if r.ExpiresAt != 0 {
			exp = strconv.Quote(time.Unix(r.ExpiresAt, 0).UTC().Format("2006-01-02T15:04:05Z"))
		}
		b = append(b, `,"key_id":`+strconv.Quote(r.KeyID)+`,"workspace":`+strconv.Quote(r.Workspace)+
			`,"type":`+strconv.Quote(r.Type)+`,"env":`+strconv.Quote(r.Env)+`,"role":`+strconv.Quote(r.Role)+
			`,"expires_at":`+exp...)
	}
	b = append(b, "}\n"...)
	w.WriteHeader(r.Status)
	w.Write(b)
}
