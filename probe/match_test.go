package probe

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
)

func TestMatch(t *testing.T) {
	msg := func(rcode int, rrs ...string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("db.corp.internal.", dns.TypeA)
		m.Response = true
		m.Rcode = rcode
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		return m
	}
	withEDE := func(m *dns.Msg, text string) *dns.Msg {
		m.SetEdns0(1232, false)
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeOther, ExtraText: text})
		return m
	}
	a := model.Probe{Name: "db", Query: "db.corp.internal.", Type: dns.TypeA, Expect: []string{"198.18.5.10"}}
	tests := []struct {
		name    string
		p       model.Probe
		r       *dns.Msg
		wantErr string // "" = match
	}{
		{"exact answer", a, msg(dns.RcodeSuccess, "db.corp.internal. 60 IN A 198.18.5.10"), ""},
		{"expected among others", a, msg(dns.RcodeSuccess, "db.corp.internal. 60 IN A 198.18.5.11", "db.corp.internal. 60 IN A 198.18.5.10"), ""},
		{"wrong address", a, msg(dns.RcodeSuccess, "db.corp.internal. 60 IN A 198.18.5.99"), "answer NOERROR A 198.18.5.99 lacks 198.18.5.10"},
		{"empty answer", a, msg(dns.RcodeSuccess), "answer NOERROR lacks 198.18.5.10"},
		{"lack shows the EDE", a, withEDE(msg(dns.RcodeSuccess, "db.corp.internal. 30 IN A 198.18.5.99"), "fallback record: timeout"),
			"answer NOERROR A 198.18.5.99 (EDE: fallback record: timeout) lacks 198.18.5.10"},
		{"every missing one named", model.Probe{Type: dns.TypeA, Expect: []string{"198.18.5.10", "198.18.5.11", "198.18.5.12"}},
			msg(dns.RcodeSuccess, "db.corp.internal. 60 IN A 198.18.5.11"), "lacks 198.18.5.10, 198.18.5.12"},
		{"wrong rcode", a, msg(dns.RcodeServerFailure), "rcode SERVFAIL, want NOERROR"},
		{"nxdomain expected", model.Probe{Rcode: dns.RcodeNameError}, msg(dns.RcodeNameError), ""},
		{"nxdomain expected, got an answer", model.Probe{Rcode: dns.RcodeNameError}, msg(dns.RcodeSuccess, "db.corp.internal. 60 IN A 198.18.5.10"), "rcode NOERROR, want NXDOMAIN"},
		{"no expectation: rcode alone", model.Probe{}, msg(dns.RcodeSuccess), ""},
		{"name: case and final dot do not matter", model.Probe{Type: dns.TypeCNAME, Expect: []string{"DB.Corp.Internal"}},
			msg(dns.RcodeSuccess, "www.corp.internal. 60 IN CNAME db.corp.internal."), ""},
		{"txt: quotes do not matter", model.Probe{Type: dns.TypeTXT, Expect: []string{"v=spf1 -all"}},
			msg(dns.RcodeSuccess, `corp.internal. 60 IN TXT "v=spf1 -all"`), ""},
		{"txt: quoted expectation", model.Probe{Type: dns.TypeTXT, Expect: []string{` "v=spf1 -all" `}},
			msg(dns.RcodeSuccess, `corp.internal. 60 IN TXT "v=spf1 -all"`), ""},
		{"mx: the whole rdata counts", model.Probe{Type: dns.TypeMX, Expect: []string{"10 mail.corp.internal."}},
			msg(dns.RcodeSuccess, "corp.internal. 60 IN MX 20 mail.corp.internal."), "answer NOERROR MX 20 mail.corp.internal. lacks 10 mail.corp.internal."},
		{"nil response", a, nil, "no answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Match(tc.p, tc.r)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("MatchProbe: %v, want a match", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("MatchProbe matched, want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("MatchProbe: %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestNormRdata(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"198.18.5.10", "198.18.5.10"},
		{"DB.Corp.Internal.", "db.corp.internal"},
		{` "v=spf1 -all" `, "v=spf1 -all"},
		{"10 Mail.corp.internal.", "10 mail.corp.internal"},
		{"", ""},
	} {
		if got := NormRdata(tc.in); got != tc.want {
			t.Errorf("NormRdata(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
