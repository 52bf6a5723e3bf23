// Package nsdconf owns the NSD configuration the tests and the lab run real
// NSD servers with, as the internet's authoritative servers: one server
// process, no privilege drop, no chroot, no database, rate limiting off,
// every state file in one folder.
package nsdconf

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Zone is one zone an NSD serves: its origin and its file, relative to the
// server's zone folder.
type Zone struct {
	Origin, File string
}

// Server is one NSD process.
type Server struct {
	Addr     string // listen address
	Port     int    // 0: 53
	Dir      string // pid, zone list and xfrd state
	ZonesDir string // where the zone files are
	LogFile  string // "": stderr
	Zones    []Zone
}

// Config returns the server's nsd.conf.
func (s Server) Config() string {
	port := s.Port
	if port == 0 {
		port = 53
	}
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  ip-address: %s@%d
  port: %d
  server-count: 1
  do-ip6: no
  username: ""
  chroot: ""
  database: ""
  zonesdir: %q
  zonelistfile: %q
  xfrdfile: %q
  xfrdir: %q
  pidfile: %q
  verbosity: 1
  hide-version: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
`, s.Addr, port, port, s.ZonesDir, filepath.Join(s.Dir, "zone.list"), filepath.Join(s.Dir, "xfrd.state"), s.Dir, filepath.Join(s.Dir, "nsd.pid"))
	if s.LogFile != "" {
		fmt.Fprintf(&b, "  logfile: %q\n", s.LogFile)
	}
	b.WriteString("remote-control:\n  control-enable: no\n")
	for _, z := range s.Zones {
		fmt.Fprintf(&b, "zone:\n  name: %q\n  zonefile: %q\n", z.Origin, z.File)
	}
	return b.String()
}
