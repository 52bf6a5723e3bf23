package fastpath

import (
	"fmt"
	"reflect"
)

// diffAnswers names the first difference between two Answers of one
// snapshot, for the message of a failing equivalence test.
func diffAnswers(got, want *Answers) string {
	for o, wt := range want.zones {
		gt := got.zones[o]
		if gt == nil {
			return "missing zone " + o
		}
		for w, wa := range wt.owners {
			ga := gt.owners[w]
			if !reflect.DeepEqual(ga, wa) {
				return fmt.Sprintf("owner %q: got %+v want %+v", w, ga, wa)
			}
		}
		for w := range gt.owners {
			if wt.owners[w] == nil {
				return fmt.Sprintf("extra owner %q", w)
			}
		}
		if !reflect.DeepEqual(gt.reads, wt.reads) {
			return fmt.Sprintf("reads %v / %v", gt.reads, wt.reads)
		}
		if !reflect.DeepEqual(gt.negative, wt.negative) {
			return fmt.Sprintf("negative %v / %v", gt.negative, wt.negative)
		}
		if !reflect.DeepEqual(gt.refs, wt.refs) {
			out := ""
			for k, v := range wt.refs {
				if gt.refs[k] != v {
					out += fmt.Sprintf(" %x:%d/%d", k, gt.refs[k], v)
				}
			}
			for k, v := range gt.refs {
				if _, ok := wt.refs[k]; !ok {
					out += fmt.Sprintf(" %x:%d/-", k, v)
				}
			}
			sums := map[uint64]string{}
			for w, oa := range wt.owners {
				for _, p := range oa.answers {
					sums[p.sum] += fmt.Sprintf("%q ", w)
				}
				if oa.nodata != nil {
					sums[oa.nodata.sum] += fmt.Sprintf("nd%q ", w)
				}
			}
			for l, p := range wt.nodata {
				if p != nil {
					sums[p.sum] += fmt.Sprintf("len%d ", l)
				}
			}
			for k := range wt.refs {
				if gt.refs[k] != wt.refs[k] {
					out += "\n" + fmt.Sprintf("%x", k) + ": " + sums[k]
				}
			}
			return fmt.Sprintf("refs %d / %d:%s", len(gt.refs), len(wt.refs), out)
		}
		if !reflect.DeepEqual(gt.nodata, wt.nodata) || gt.byLen != wt.byLen {
			return fmt.Sprintf("nodata %v / %v", gt.byLen, wt.byLen)
		}
		if !reflect.DeepEqual(gt.nxdomain, wt.nxdomain) {
			return "nxdomain"
		}
		if gt.responses != wt.responses || gt.bytes != wt.bytes {
			return fmt.Sprintf("t responses %d/%d bytes %d/%d", gt.responses, wt.responses, gt.bytes, wt.bytes)
		}
	}
	return "in Responses, Bytes or outside the zone tables"
}
