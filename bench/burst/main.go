// Command burst is the fixed-rate probe of bench/fixedrate.sh -b: it asks
// the names of a dnsperf data file at an average rate, but in bursts, B
// queries back to back every B/QPS seconds, as a client or network that
// stalled delivers them, and prints what dnsperf -v prints (one
// "> RCODE name type latency" line per answered query, then its summary
// lines) so that the script reads either.
//
//	burst -s ADDR -p PORT -d FILE -Q QPS -l SECS -B BURST
//
// Each query has an id of its own (at most 65,536 queries a run); replies
// are matched by id; one that has not come 2 s after the last query was
// sent counts as lost.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

func main() {
	server := flag.String("s", "127.0.0.1", "server address")
	port := flag.String("p", "53", "server port")
	data := flag.String("d", "", "dnsperf data file: name and type per line (the type is ignored: A)")
	qps := flag.Int("Q", 2000, "average queries per second")
	secs := flag.Int("l", 5, "seconds")
	burst := flag.Int("B", 16, "queries per burst")
	flag.Parse()
	if err := run(*server, *port, *data, *qps, *secs, *burst); err != nil {
		fmt.Fprintln(os.Stderr, "burst:", err)
		os.Exit(1)
	}
}

type record struct {
	name    string
	sent    time.Duration // since the start
	latency time.Duration
	rcode   int
	done    bool
}

func run(server, port, data string, qps, secs, burst int) error {
	if qps <= 0 || secs <= 0 || burst <= 0 {
		return fmt.Errorf("-Q, -l and -B must be positive")
	}
	total := min(qps*secs, 1<<16)
	names, err := readNames(data, total)
	if err != nil {
		return err
	}
	conn, err := net.Dial("udp", net.JoinHostPort(server, port))
	if err != nil {
		return err
	}
	defer conn.Close()

	recs := make([]record, len(names))
	var mu sync.Mutex
	start := time.Now()
	received := make(chan struct{})
	go func() {
		defer close(received)
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return // the deadline set after the last query
			}
			at := time.Since(start)
			if n < 4 {
				continue
			}
			id := int(binary.BigEndian.Uint16(buf))
			mu.Lock()
			if id < len(recs) && !recs[id].done {
				recs[id].latency, recs[id].rcode, recs[id].done = at-recs[id].sent, int(buf[3]&0xf), true
			}
			mu.Unlock()
		}
	}()

	every := time.Duration(float64(burst) / float64(qps) * float64(time.Second))
	m := new(dns.Msg)
	m.SetEdns0(1232, false)
	for i := 0; i < len(names); {
		time.Sleep(time.Until(start.Add(time.Duration(i/burst) * every)))
		for j := 0; j < burst && i < len(names); j, i = j+1, i+1 {
			m.SetQuestion(names[i], dns.TypeA)
			m.Id = uint16(i)
			b, err := m.Pack()
			if err != nil {
				return fmt.Errorf("%s: %w", names[i], err)
			}
			mu.Lock()
			recs[i] = record{name: names[i], sent: time.Since(start)}
			mu.Unlock()
			if _, err := conn.Write(b); err != nil {
				return err
			}
		}
	}
	last := time.Since(start)
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-received

	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	answered := 0
	var sum time.Duration
	for _, r := range recs {
		if !r.done {
			continue
		}
		answered++
		sum += r.latency
		fmt.Fprintf(w, "> %s %s A %.6f\n", dns.RcodeToString[r.rcode], r.name, r.latency.Seconds())
	}
	fmt.Fprintf(w, "  Queries sent:         %d\n", len(names))
	fmt.Fprintf(w, "  Queries completed:    %d\n", answered)
	fmt.Fprintf(w, "  Queries lost:         %d\n", len(names)-answered)
	fmt.Fprintf(w, "  Queries per second:   %.1f\n", float64(answered)/last.Seconds())
	fmt.Fprintf(w, "  Average Latency (s):  %.6f\n", (sum / time.Duration(max(answered, 1))).Seconds())
	return nil
}

// readNames takes the first n names of a dnsperf data file.
func readNames(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(names) < n {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		names = append(names, dns.Fqdn(fields[0]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no names", path)
	}
	return names, nil
}
