package nsdconf

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The configuration is one NSD itself accepts (nsd-checkconf), with and
// without a log file and a port.
func TestConfigAccepted(t *testing.T) {
	if _, err := exec.LookPath("nsd-checkconf"); err != nil {
		t.Skip("nsd-checkconf not installed (Debian: nsd; .ci/run installs it)")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "example.zone"), []byte("example. 60 IN SOA ns.example. h.example. 1 60 60 600 60\nexample. 60 IN NS ns.example.\nns.example. 60 IN A 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range []Server{
		{Addr: "127.0.0.1", Dir: dir, ZonesDir: dir, Zones: []Zone{{"example.", "example.zone"}}},
		{Addr: "127.0.0.1", Port: 5353, Dir: dir, ZonesDir: dir, LogFile: filepath.Join(dir, "nsd.log"), Zones: []Zone{{"example.", "example.zone"}}},
	} {
		conf := filepath.Join(dir, "nsd.conf")
		if err := os.WriteFile(conf, []byte(s.Config()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("nsd-checkconf", conf).CombinedOutput(); err != nil {
			t.Errorf("nsd-checkconf: %v\n%s\n%s", err, out, s.Config())
		}
	}
}
