package gittest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSH is a minimal git-over-ssh server on 127.0.0.1: it accepts one client
// key and runs git-upload-pack on the repositories under Root.
type SSH struct {
	Root    string
	Addr    string
	HostKey ssh.PublicKey
	ln      net.Listener
	wg      sync.WaitGroup
}

// NewSSHKey makes an Ed25519 key and returns the signer and the private key
// in OpenSSH PEM, as a key file holds it.
func NewSSHKey(t testing.TB) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return s, pem.EncodeToMemory(blk)
}

// StartSSH serves root over ssh, accepting only clientKey.
func StartSSH(t testing.TB, root string, clientKey ssh.PublicKey) *SSH {
	t.Helper()
	uploadPack := ExecPath(t, "git-upload-pack")
	hostSigner, _ := NewSSHKey(t)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if string(k.Marshal()) == string(clientKey.Marshal()) {
				return nil, nil
			}
			return nil, os.ErrPermission
		},
	}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SSH{Root: root, Addr: ln.Addr().String(), HostKey: hostSigner.PublicKey(), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c, cfg, uploadPack)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// KnownHosts returns a known_hosts line for host (as written in the URL).
func (s *SSH) KnownHosts(host string) string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(host, port))}, s.HostKey) + "\n"
}

func (s *SSH) serve(c net.Conn, cfg *ssh.ServerConfig, uploadPack string) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for r := range creqs {
				if r.Type != "exec" || len(r.Payload) < 4 {
					r.Reply(false, nil)
					continue
				}
				n := binary.BigEndian.Uint32(r.Payload)
				cmdline := string(r.Payload[4 : 4+n])
				prog, arg, _ := strings.Cut(cmdline, " ")
				if prog != "git-upload-pack" {
					r.Reply(false, nil)
					continue
				}
				r.Reply(true, nil)
				path := filepath.Join(s.Root, filepath.Clean("/"+strings.Trim(arg, "'\"")))
				cmd := exec.Command(uploadPack, path)
				cmd.Stdin = ch
				cmd.Stdout = ch
				cmd.Stderr = io.Discard
				code := uint32(0)
				if err := cmd.Run(); err != nil {
					code = 1
				}
				ch.CloseWrite()
				ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, code))
				return
			}
		}()
	}
}
