// Package explain owns how the node explains a failure to a client: an Extended
// DNS Error option (RFC 8914) in the OPT record of a response. Every plugin
// that answers SERVFAIL itself, and the fast path's front door for the
// SERVFAILs nobody explained, use it, so a failure reads the same whichever
// part of the node gave up.
package explain

import (
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// Has reports whether m carries an Extended DNS Error.
func Has(m *dns.Msg) bool {
	opt := m.IsEdns0()
	if opt == nil {
		return false
	}
	for _, o := range opt.Option {
		if _, ok := o.(*dns.EDNS0_EDE); ok {
			return true
		}
	}
	return false
}

// Add puts an Extended DNS Error into m's OPT record unless m has one
// already. A response without an OPT record (the client did not speak EDNS,
// RFC 6891 7) cannot carry one: Add then does nothing and reports false.
func Add(m *dns.Msg, code uint16, text string) bool {
	opt := m.IsEdns0()
	if opt == nil {
		return false
	}
	if Has(m) {
		return true
	}
	opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
	return true
}

// ServFail is the SERVFAIL reply to state's request, saying why with an
// Extended DNS Error when the client speaks EDNS.
func ServFail(state request.Request, code uint16, text string) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(state.Req, dns.RcodeServerFailure)
	state.SizeAndDo(m)
	Add(m, code, text)
	return m
}
