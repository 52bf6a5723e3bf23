package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

// TestDnstapSeesEveryAnswer: resolverd has CoreDNS's dnstap plugin
// compiled in, and a block with `dnstap` gets a frame for every answer,
// those of internal names too, which the fast path would otherwise answer
// unseen: with dnstap (as with log) the fast path steps aside and says so.
func TestDnstapSeesEveryAnswer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "tap.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	in := dnstap.NewFrameStreamSockInput(ln)
	in.SetTimeout(10 * time.Second)
	frames := make(chan []byte, 64)
	go in.ReadInto(frames)
	t.Cleanup(func() { ln.Close() })

	repo := newConfigRepo(t, baseFiles())
	ref, err := repo.repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	head := ref.Hash().String()
	n := newClusterNode(t, repo.dir, t.TempDir(), nodeSpec{fastpath: "fastpath\n    dnstap unix://" + sock + " full"})
	n.start()
	n.waitServed(head, 30*time.Second)
	if !strings.Contains(n.logText(), "disabled: the block has `dnstap`") {
		t.Errorf("the fast path does not say it stepped aside:\n%s", n.logText())
	}
	for range 3 {
		if r, err := n.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET); err != nil || len(r.Answer) == 0 {
			t.Fatalf("www.corp.internal: %v %v", r, err)
		}
	}
	responses := 0
	deadline := time.After(15 * time.Second)
	for responses < 3 {
		select {
		case f := <-frames:
			var d dnstap.Dnstap
			if err := proto.Unmarshal(f, &d); err != nil {
				t.Fatal(err)
			}
			m := d.GetMessage()
			if m.GetType() != dnstap.Message_CLIENT_RESPONSE {
				continue
			}
			var resp dns.Msg
			if err := resp.Unpack(m.GetResponseMessage()); err != nil {
				t.Fatal(err)
			}
			if len(resp.Question) == 1 && resp.Question[0].Name == "www.corp.internal." && len(resp.Answer) > 0 {
				responses++
			}
		case <-deadline:
			t.Fatalf("%d of 3 answers reached dnstap", responses)
		}
	}
}
