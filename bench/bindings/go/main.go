// bindings_bench's Go side: prints "binding NS", "binding_cpu NS" (the
// process's CPU time), "allocs N" (per call) and "socket NS" (ns per call,
// best of 5 runs). The socket client is
// net/http, keep-alive, dialling edgekeyd's Unix socket.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"syscall"
	"time"

	"edgekey"
)

func best(v []float64) float64 {
	sort.Float64s(v)
	return v[0]
}

func main() {
	f, err := os.Open(os.Getenv("EDGEKEY_BENCH_TOKENS"))
	if err != nil {
		panic(err)
	}
	var tokens []string
	for s := bufio.NewScanner(f); s.Scan(); {
		tokens = append(tokens, s.Text())
	}
	v, err := edgekey.Open(os.Getenv("EDGEKEY_BENCH_TABLE"))
	if err != nil {
		panic(err)
	}
	req := edgekey.Request{Permission: "chat:write"}
	cpu := func() int64 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	var cpus []float64
	run := func() float64 {
		bad := 0
		c0 := cpu()
		t0 := time.Now()
		for k := 0; k < 20; k++ {
			for _, t := range tokens {
				if !v.Validate(t, req).OK() {
					bad++
				}
			}
		}
		ns := float64(time.Since(t0).Nanoseconds()) / float64(20*len(tokens))
		cpus = append(cpus, float64(cpu()-c0)/float64(20*len(tokens)))
		if bad != 0 {
			panic(fmt.Sprintf("%d calls were not 200", bad))
		}
		return ns
	}
	run() // warm-up: interns the names the sample holds
	var runs []float64
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 5; i++ {
		runs = append(runs, run())
	}
	runtime.ReadMemStats(&after)
	fmt.Printf("binding %.1f\n", best(runs))
	fmt.Printf("binding_cpu %.1f\n", best(cpus[1:]))
	fmt.Printf("allocs %.6f\n", float64(after.Mallocs-before.Mallocs)/float64(5*20*len(tokens)))
	v.Close()

	sock := os.Getenv("EDGEKEY_BENCH_SOCKET")
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 1,
	}}
	get := func(t string) {
		r, _ := http.NewRequest("GET", "http://edgekey/v1/validate", nil)
		r.Header.Set("Authorization", t)
		r.Header.Set("X-Edgekey-Permission", "chat:write")
		res, err := client.Do(r)
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			panic(fmt.Sprintf("status %d", res.StatusCode))
		}
	}
	socketRun := func(n int) float64 {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			get(tokens[i])
		}
		return float64(time.Since(t0).Nanoseconds()) / float64(n)
	}
	socketRun(200)
	runs = runs[:0]
	for i := 0; i < 5; i++ {
		runs = append(runs, socketRun(2000))
	}
	fmt.Printf("socket %.1f\n", best(runs))
}
