package version

import (
	"regexp"
	"runtime/debug"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		rel, rev string
		dirty    bool
		want     string
	}{
		{"0.1.0", "", false, "0.1.0"},
		{"0.1.0", "", true, "0.1.0"},
		{"0.1.0", "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", false, "0.1.0+1a2b3c4d5e6f"},
		{"0.1.0", "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", true, "0.1.0+1a2b3c4d5e6f.modified"},
		{"1.2.3", "abc", false, "1.2.3+abc"},
	} {
		if got := format(tc.rel, tc.rev, tc.dirty); got != tc.want {
			t.Errorf("format(%q, %q, %v) = %q, want %q", tc.rel, tc.rev, tc.dirty, got, tc.want)
		}
	}
}

func TestFromSettings(t *testing.T) {
	rev, dirty := fromSettings([]debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.modified", Value: "true"},
	})
	if rev != "0123456789abcdef0123456789abcdef01234567" || !dirty {
		t.Errorf("fromSettings = %q, %v", rev, dirty)
	}
	if rev, dirty := fromSettings(nil); rev != "" || dirty {
		t.Errorf("fromSettings(nil) = %q, %v, want nothing", rev, dirty)
	}
}

// The release is a SemVer version without a "v" (it is build metadata's
// anchor in String and a label value in resolverd_build_info).
func TestReleaseIsSemVer(t *testing.T) {
	if !regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$`).MatchString(Release()) {
		t.Errorf("VERSION holds %q, not a SemVer version", Release())
	}
}
