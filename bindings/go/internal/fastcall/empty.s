//go:build !go1.23 && !edgekey_cgocall

// Lets fastcall.go declare runtime.asmcgocall without a body (go:linkname).
