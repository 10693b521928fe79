// bindings_bench's Go side (protocol: bindings_bench.cpp, run_language):
// "ready"; per "run", EDGEKEY_BENCH_PASSES (10) passes of Validate over the sample, printed as
// "allocs N" (allocations per call), "process_cpu NS" then "rep WALL CPU"
// (ns per call; CPU: the thread's); on "done", "socket NS" (best of 5 runs of net/http,
// keep-alive, dialling edgekeyd's Unix socket).
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
	"strconv"
	"syscall"
	"time"
	"unsafe"

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
	// The benchmark's goroutine stays on this thread, whose CPU time is
	// measured, as C's and Python's are: the runtime's other threads
	// (sysmon, idle Ps) do no work for the calls, which allocate nothing.
	runtime.LockOSThread()
	cpu := func() int64 {
		var ts syscall.Timespec
		const clockThreadCPUTimeID = 3
		syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
		return ts.Nano()
	}
	procCPU := func() int64 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	passes := 10
	if n, err := strconv.Atoi(os.Getenv("EDGEKEY_BENCH_PASSES")); err == nil && n > 0 {
		passes = n
	}
	run := func() (wall, cpuNs, procNs float64) {
		bad := 0
		p0 := procCPU()
		c0 := cpu()
		t0 := time.Now()
		for k := 0; k < passes; k++ {
			for _, t := range tokens {
				if !v.Validate(t, req).OK() {
					bad++
				}
			}
		}
		calls := float64(passes * len(tokens))
		wall = float64(time.Since(t0).Nanoseconds()) / calls
		cpuNs = float64(cpu()-c0) / calls
		procNs = float64(procCPU()-p0) / calls
		if bad != 0 {
			panic(fmt.Sprintf("%d calls were not 200", bad))
		}
		return
	}
	run() // warm-up: interns the names the sample holds
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	for {
		cmd, _ := in.ReadString('\n')
		if cmd != "run\n" {
			break
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		wall, c, p := run()
		runtime.ReadMemStats(&after)
		fmt.Printf("allocs %.6f\n", float64(after.Mallocs-before.Mallocs)/float64(passes*len(tokens)))
		fmt.Printf("process_cpu %.1f\n", p)
		fmt.Printf("rep %.1f %.1f\n", wall, c)
	}
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
	var runs []float64
	for i := 0; i < 5; i++ {
		runs = append(runs, socketRun(2000))
	}
	fmt.Printf("socket %.1f\n", best(runs))
}
