package kit

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// runtimeFamilies are the Go runtime's and the process's figures under client_golang's names
// (its Go and process collectors), read when scraped: those that the runtime and /proc give
// cheaply. The process's are Linux only, as client_golang's are.
func runtimeFamilies() []exposed {
	var memory runtime.MemStats
	runtime.ReadMemStats(&memory)
	threads, _ := runtime.ThreadCreateProfile(nil)
	info := newFamily("go_info", "Information about the Go environment.", "gauge", "version")
	info.add(1, runtime.Version())
	families := []exposed{
		gcPauses(),
		info,
		gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		gauge("go_threads", "Number of OS threads created.", float64(threads)),
		gauge("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously.", float64(runtime.GOMAXPROCS(0))),
		gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", float64(memory.HeapAlloc)),
		counter("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", float64(memory.TotalAlloc)),
		counter("go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed.", float64(memory.Mallocs)),
		counter("go_memstats_frees_total", "Total number of heap objects frees.", float64(memory.Frees)),
		gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", float64(memory.HeapAlloc)),
		gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(memory.HeapIdle)),
		gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(memory.HeapInuse)),
		gauge("go_memstats_heap_objects", "Number of currently allocated objects.", float64(memory.HeapObjects)),
		gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(memory.HeapReleased)),
		gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", float64(memory.HeapSys)),
		gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(memory.LastGC)/1e9),
		gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", float64(memory.NextGC)),
		gauge("go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator.", float64(memory.StackInuse)),
		gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(memory.Sys)),
	}
	return append(families, processFamilies()...)
}

func gauge(name, help string, value float64) *family {
	f := newFamily(name, help, "gauge")
	f.add(value)
	return f
}

func counter(name, help string, value float64) *family {
	f := newFamily(name, help, "counter")
	f.add(value)
	return f
}

// summary is go_gc_duration_seconds: quantiles of the stop-the-world pauses, their sum and count.
type summary struct {
	name, help string
	quantiles  map[string]float64
	sum        float64
	count      int64
}

func gcPauses() *summary {
	stats := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&stats)
	quantiles := map[string]float64{}
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		quantiles[q] = stats.PauseQuantiles[i].Seconds()
	}
	return &summary{
		name:      "go_gc_duration_seconds",
		help:      "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
		quantiles: quantiles,
		sum:       stats.PauseTotal.Seconds(),
		count:     stats.NumGC,
	}
}

func (s *summary) metricName() string { return s.name }

func (s *summary) write(b *strings.Builder) {
	header(b, s.name, s.help, "summary")
	for _, q := range sortedKeys(s.quantiles) {
		writeSample(b, s.name, []string{"quantile"}, []string{q}, s.quantiles[q])
	}
	writeSample(b, s.name+"_sum", nil, nil, s.sum)
	writeSample(b, s.name+"_count", nil, nil, float64(s.count))
}

// userHZ is the unit of /proc/self/stat's times: USER_HZ, 100 on every Linux platform Go targets.
const userHZ = 100

// processFamilies reads /proc/self: CPU time, memory, descriptors and start time.
func processFamilies() []exposed {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return nil // not Linux
	}
	// The fields after the command, which is in parentheses and may hold spaces: state is field 3.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	field := func(n int) float64 {
		if n-3 >= len(fields) {
			return 0
		}
		value, _ := strconv.ParseFloat(fields[n-3], 64)
		return value
	}
	families := []exposed{
		counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (field(14)+field(15))/userHZ),
		gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", field(23)),
		gauge("process_resident_memory_bytes", "Resident memory size in bytes.", field(24)*float64(os.Getpagesize())),
	}
	if boot := bootTime(); boot > 0 {
		families = append(families, gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", boot+field(22)/userHZ))
	}
	if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
		families = append(families, gauge("process_open_fds", "Number of open file descriptors.", float64(len(entries))))
	}
	if limits, err := os.ReadFile("/proc/self/limits"); err == nil {
		for _, line := range strings.Split(string(limits), "\n") {
			if rest, found := strings.CutPrefix(line, "Max open files"); found {
				if soft := strings.Fields(rest); len(soft) > 0 {
					if value, err := strconv.ParseFloat(soft[0], 64); err == nil {
						families = append(families, gauge("process_max_fds", "Maximum number of open file descriptors.", value))
					}
				}
			}
		}
	}
	return families
}

// bootTime is when the machine booted, in seconds since the epoch (/proc/stat's btime).
func bootTime() float64 {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(stat), "\n") {
		if rest, found := strings.CutPrefix(line, "btime "); found {
			value, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return value
		}
	}
	return 0
}
