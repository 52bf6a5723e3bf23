package gitrepo

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
)

// A remote that answers with something other than the git protocol is
// class protocol (it was "other"), over git:// and http://.
func TestGarbageRemoteIsProtocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 512)
				c.Read(buf) // the git-upload-pack request line
				c.Write([]byte("zzzz this is not git\n"))
				io.Copy(io.Discard, c)
			}()
		}
	}()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		w.Write([]byte("zzzz this is not git \x00\x01\x02"))
	}))
	defer srv.Close()
	for name, url := range map[string]string{
		"git":  "git://" + ln.Addr().String() + "/config",
		"http": srv.URL + "/config",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := openStore(t).Fetch(bg, Remote{URL: url, Timeout: 5 * time.Second}, "master")
			if ClassOf(err) != ClassProtocol {
				t.Fatalf("garbage over %s: %v, want class protocol", name, err)
			}
		})
	}
}

// A fetch into a state directory on a full disk (a real tmpfs, as root) is
// class disk-full, not unreachable, and leaves no tmp_pack_* behind.
func TestFetchDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	src := newSrcRepo(t)
	blob := make([]byte, 2<<20) // incompressible: the pack is larger than the disk
	rand.Read(blob)
	src.commit("big.bin", string(blob), nil)
	d := gittest.StartDaemon(t, src.root)
	s, err := OpenStore(filepath.Join(mnt, "state"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Fetch(bg, Remote{URL: d.URL("config"), Timeout: 10 * time.Second}, "master")
	if ClassOf(err) != ClassDiskFull {
		t.Fatalf("fetch onto a full disk: %v, want class disk-full", err)
	}
	left, _ := filepath.Glob(filepath.Join(mnt, "state", RepoDir, "objects", "pack", "tmp_*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("not an *Error: %T", err)
	}
}
