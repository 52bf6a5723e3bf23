package deploy

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gitops-dns/resolverd/internal/version"
)

// unit is a systemd unit file: section -> key -> values (in order).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u, section := unit{}, ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section: %q", path, i+1, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// corefile reads the values of a Corefile's top-level directives and of
// its gitops block (one server block; comments dropped).
type corefile struct {
	listen    string            // the server block's key, e.g. ".:53"
	top       map[string]string // directive -> its first argument
	gitops    map[string]string // gitops property -> its arguments
	directive []string
}

func parseCorefile(t *testing.T, path string) corefile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := corefile{top: map[string]string{}, gitops: map[string]string{}}
	depth, in := 0, ""
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case depth == 0 && f[len(f)-1] == "{":
			c.listen = f[0]
		case depth == 1 && f[0] != "}":
			c.directive = append(c.directive, f[0])
			if len(f) > 1 && f[1] != "{" {
				c.top[f[0]] = f[1]
			}
			if f[len(f)-1] == "{" {
				in = f[0]
			}
		case depth == 2 && in == "gitops" && f[0] != "}":
			c.gitops[f[0]] = strings.Join(f[1:], " ")
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
	}
	if c.listen == "" || depth != 0 {
		t.Fatalf("%s: no server block, or unbalanced braces", path)
	}
	return c
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// TestSystemdUnit checks the hardening the issue asks for, key by key, and
// that the unit and the production Corefile agree; then `make install`
// into a temporary root and `systemd-analyze verify` on what it installed.
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, "systemd/resolverd.service")
	svc := u["Service"]
	want := map[string]string{
		"DynamicUser":             "yes",
		"StateDirectory":          "resolverd",
		"ConfigurationDirectory":  "resolverd",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"Restart":                 "on-failure",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"SystemCallFilter":        "@system-service",
		"ExecStart":               "/usr/local/bin/resolverd -conf /etc/resolverd/Corefile",
	}
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s = %q, want exactly %q", k, got, v)
		}
	}
	if n := svc["LimitNOFILE"]; len(n) != 1 || n[0] == "" {
		t.Errorf("[Service] LimitNOFILE = %q, want one limit", n)
	}
	if w := u["Install"]["WantedBy"]; !slices.Equal(w, []string{"multi-user.target"}) {
		t.Errorf("[Install] WantedBy = %q", w)
	}
	for _, k := range []string{"User", "ReadWritePaths", "PermissionsStartOnly"} {
		if v, ok := svc[k]; ok {
			t.Errorf("[Service] %s = %q: the unit writes only its StateDirectory, as its DynamicUser", k, v)
		}
	}
	cf := parseCorefile(t, "Corefile")
	if cf.gitops["state"] != "/var/lib/"+svc["StateDirectory"][0] {
		t.Errorf("Corefile state %q is not the unit's StateDirectory /var/lib/%s", cf.gitops["state"], svc["StateDirectory"][0])
	}
	if !strings.HasPrefix(cf.gitops["http"], "127.0.0.1:") {
		t.Errorf("Corefile gitops http %q: status and sync belong on localhost", cf.gitops["http"])
	}
	for _, k := range []string{"sync_token_file", "auth_file", "trust"} {
		if v := cf.gitops[k]; v != "" && !strings.HasPrefix(v, "/etc/resolverd/") {
			t.Errorf("Corefile %s %q is outside the unit's ConfigurationDirectory /etc/resolverd", k, v)
		}
	}

	if testing.Short() {
		t.Skip("-short: not building for make install")
	}
	root := t.TempDir()
	make := exec.Command("make", "-C", "..", "install", "PREFIX="+root+"/usr", "UNITDIR="+root+"/units", "CONFDIR="+root+"/etc")
	if out, err := make.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	installed := parseUnit(t, filepath.Join(root, "units/resolverd.service"))
	if got := installed["Service"]["ExecStart"]; !slices.Equal(got, []string{root + "/usr/bin/resolverd -conf " + root + "/etc/Corefile"}) {
		t.Errorf("installed ExecStart = %q: make install did not point the unit at what it installed", got)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/Corefile")); err != nil || !bytes.Equal(b, mustRead(t, "Corefile")) {
		t.Errorf("make install did not install deploy/Corefile: %v", err)
	}
	// A second install keeps the operator's Corefile.
	if err := os.WriteFile(filepath.Join(root, "etc/Corefile"), []byte("# edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	again := exec.Command("make", "-C", "..", "install", "PREFIX="+root+"/usr", "UNITDIR="+root+"/units", "CONFDIR="+root+"/etc")
	if out, err := again.CombinedOutput(); err != nil {
		t.Fatalf("make install again: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/Corefile")); string(b) != "# edited\n" {
		t.Error("a second make install overwrote the installed Corefile")
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (Debian: systemd; .ci/run installs it): unit keys checked above only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// verify exits 0 on unknown keys and bad values (it only warns): any
	// output is a finding.
	out, err := exec.CommandContext(ctx, "systemd-analyze", "verify", filepath.Join(root, "units/resolverd.service")).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// instruction is one Dockerfile instruction (continuation lines joined).
type instruction struct {
	cmd, args string
	line      int
}

type stage struct {
	from, name string
	ins        []instruction
}

func parseDockerfile(t *testing.T, path string) (args map[string]string, stages []*stage) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args = map[string]string{}
	s := bufio.NewScanner(f)
	var buf strings.Builder
	n, start := 0, 0
	for s.Scan() {
		n++
		line := strings.TrimSpace(s.Text())
		if buf.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if buf.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			buf.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		buf.WriteString(line)
		cmd, rest, _ := strings.Cut(buf.String(), " ")
		buf.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(rest), line: start}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := &stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		case in.cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case len(stages) == 0:
			t.Fatalf("%s:%d: %s before FROM", path, in.line, in.cmd)
		default:
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		}
	}
	return args, stages
}

func (s *stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// exec form: a JSON array.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Errorf("Dockerfile:%d: %s %s is not exec form (the image has no shell)", in.line, in.cmd, in.args)
	}
	return v
}

// TestDockerfile checks the image's stages by parsing the Dockerfile (CI
// cannot run docker), then runs the build stage's go build command as the
// image build would and checks the binary is static and stamped.
func TestDockerfile(t *testing.T) {
	args, stages := parseDockerfile(t, "Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("%d stages, want build + final", len(stages))
	}
	build, final := stages[0], stages[1]

	gomod := string(mustRead(t, "../go.mod"))
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(gomod)
	if m == nil || args["GO_VERSION"] != m[1] {
		t.Errorf("ARG GO_VERSION=%q, go.mod says go %v", args["GO_VERSION"], m)
	}
	if build.from != "golang:${GO_VERSION}-bookworm" || build.name == "" {
		t.Errorf("build stage FROM %q AS %q", build.from, build.name)
	}
	if final.from != "scratch" {
		t.Errorf("final stage FROM %q, want scratch (no shell, no package manager)", final.from)
	}
	if r := final.all("RUN"); len(r) != 0 {
		t.Errorf("final stage has RUN at line %d: it has no shell to run it", r[0].line)
	}
	copies := map[string]string{} // destination -> source
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		from := ""
		var paths []string
		for _, a := range f {
			if v, ok := strings.CutPrefix(a, "--from="); ok {
				from = v
			} else if !strings.HasPrefix(a, "--") {
				paths = append(paths, a)
			}
		}
		if from != "" && from != build.name {
			t.Errorf("Dockerfile:%d: COPY --from=%s, not the build stage", in.line, from)
		}
		if len(paths) != 2 {
			t.Fatalf("Dockerfile:%d: COPY with %d paths", in.line, len(paths))
		}
		copies[paths[1]] = paths[0]
		if strings.Contains(paths[0], "sh") && strings.Contains(paths[0], "bin") {
			t.Errorf("Dockerfile:%d: copies %s into an image meant to have no shell", in.line, paths[0])
		}
	}
	if copies["/resolverd"] != "/out/resolverd" || copies["/etc/resolverd/Corefile"] != "deploy/Corefile" {
		t.Errorf("final stage copies %v: want the built binary at /resolverd and deploy/Corefile", copies)
	}
	user := final.all("USER")
	if len(user) != 1 {
		t.Fatalf("final stage: %d USER instructions, want 1", len(user))
	}
	uid, _, _ := strings.Cut(user[0].args, ":")
	if uid == "0" || uid == "root" || !regexp.MustCompile(`^[0-9]+$`).MatchString(uid) {
		t.Errorf("USER %q: want a numeric non-root user (scratch has no passwd)", user[0].args)
	}
	cf := parseCorefile(t, "Corefile")
	vol := final.all("VOLUME")
	if len(vol) != 1 || !slices.Equal(execForm(t, vol[0]), []string{cf.gitops["state"]}) {
		t.Errorf("VOLUME %v, want the Corefile's state dir %s", vol, cf.gitops["state"])
	}
	if _, ok := copies[cf.gitops["state"]]; !ok {
		t.Errorf("the state dir %s is not created in the image (a fresh volume takes its owner)", cf.gitops["state"])
	}
	hc := final.all("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("%d HEALTHCHECK instructions", len(hc))
	}
	_, hcCmd, ok := strings.Cut(hc[0].args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %q: no CMD", hc[0].args)
	}
	want := []string{"/resolverd", "-healthcheck", "http://" + cf.top["health"] + "/health"}
	if got := execForm(t, instruction{cmd: "HEALTHCHECK", args: hcCmd, line: hc[0].line}); !slices.Equal(got, want) {
		t.Errorf("HEALTHCHECK CMD %q, want %q (the Corefile's health address)", got, want)
	}
	ep, cmd := final.all("ENTRYPOINT"), final.all("CMD")
	if len(ep) != 1 || !slices.Equal(execForm(t, ep[0]), []string{"/resolverd"}) || len(cmd) != 1 ||
		!slices.Equal(execForm(t, cmd[0]), []string{"-conf", "/etc/resolverd/Corefile"}) {
		t.Errorf("ENTRYPOINT %v CMD %v", ep, cmd)
	}
	expose := final.all("EXPOSE")
	if len(expose) != 1 || !strings.Contains(expose[0].args, port(cf.listen)+"/udp") || !strings.Contains(expose[0].args, port(cf.listen)+"/tcp") ||
		!strings.Contains(expose[0].args, port(cf.top["prometheus"])+"/tcp") {
		t.Errorf("EXPOSE %v: want the Corefile's DNS port (udp, tcp) and metrics port", expose)
	}

	// The build stage's go build, run the way the image build runs it.
	var goBuild string
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	if !strings.Contains(goBuild, "CGO_ENABLED=0") || !strings.Contains(goBuild, "-o /out/resolverd ./cmd/resolverd") {
		t.Fatalf("build stage's go build %q: want CGO_ENABLED=0 ... -o /out/resolverd ./cmd/resolverd", goBuild)
	}
	if testing.Short() {
		t.Skip("-short: not building the image's binary")
	}
	out := t.TempDir()
	script := strings.Replace(goBuild, "-o /out/resolverd", "-o "+out+"/resolverd", 1)
	const rev = "0123456789abcdef0123456789abcdef01234567"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "sh", "-c", script)
	sh.Dir = ".."
	sh.Env = append(os.Environ(), "REVISION="+rev, "MODIFIED=false")
	if b, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	bin := filepath.Join(out, "resolverd")
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the image's binary has an ELF interpreter: not static, it cannot run FROM scratch")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the image's binary needs shared libraries %v", libs)
	}
	v, err := exec.Command(bin, "-version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(v), "\n"); first != "resolverd-"+version.Release()+"+"+rev[:12] {
		t.Errorf("the image's binary says %q: REVISION is not stamped", first)
	}
}

// manifest is one Kubernetes object, as generic YAML.
type manifest = map[string]any

func get(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func str(m any, path ...string) string { s, _ := get(m, path...).(string); return s }

func list(m any, path ...string) []any { l, _ := get(m, path...).([]any); return l }

func strMap(m any, path ...string) map[string]string {
	out := map[string]string{}
	mm, _ := get(m, path...).(map[string]any)
	for k, v := range mm {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func readManifests(t *testing.T, paths ...string) []manifest {
	t.Helper()
	var out []manifest
	for _, p := range paths {
		dec := yaml.NewDecoder(bytes.NewReader(mustRead(t, p)))
		for {
			var m manifest
			if err := dec.Decode(&m); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("%s: %v", p, err)
			}
			if m != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// kustomization reads a kustomization.yaml: its resources (files of this
// directory or other kustomizations) and the files of its ConfigMap
// generators, by ConfigMap name.
func kustomization(t *testing.T, dir string) (resources []string, configMaps map[string][]string, raw manifest) {
	t.Helper()
	ms := readManifests(t, filepath.Join(dir, "kustomization.yaml"))
	if len(ms) != 1 {
		t.Fatalf("%s/kustomization.yaml: %d documents", dir, len(ms))
	}
	raw = ms[0]
	configMaps = map[string][]string{}
	for _, r := range list(raw, "resources") {
		resources = append(resources, r.(string))
		if _, err := os.Stat(filepath.Join(dir, r.(string))); err != nil {
			t.Errorf("%s: resource %s: %v", dir, r, err)
		}
	}
	for _, g := range list(raw, "configMapGenerator") {
		for _, f := range list(g, "files") {
			configMaps[str(g, "name")] = append(configMaps[str(g, "name")], f.(string))
			if _, err := os.Stat(filepath.Join(dir, f.(string))); err != nil {
				t.Errorf("%s: configMapGenerator %s file %s: %v", dir, str(g, "name"), f, err)
			}
		}
	}
	return resources, configMaps, raw
}

// documentedSecrets are the Secrets the base's kustomization.yaml tells
// operators to create (`kubectl create secret generic NAME --from-file=KEY=...`):
// name -> keys.
func documentedSecrets(t *testing.T) map[string][]string {
	out := map[string][]string{}
	re := regexp.MustCompile(`create secret generic (\S+)((?: --from-file=\S+)+)`)
	for _, m := range re.FindAllStringSubmatch(string(mustRead(t, "kubernetes/base/kustomization.yaml")), -1) {
		for _, f := range strings.Fields(m[2]) {
			k, _, _ := strings.Cut(strings.TrimPrefix(f, "--from-file="), "=")
			out[m[1]] = append(out[m[1]], k)
		}
	}
	return out
}

// checkWorkload checks one workload (the base's StatefulSet or the
// overlay's DaemonSet) against the Services, the PDB, the Secrets and the
// Corefile it runs.
func checkWorkload(t *testing.T, w manifest, objs []manifest, cf corefile, configMaps map[string][]string, corefileName string) {
	t.Helper()
	kind := str(w, "kind")
	pod := get(w, "spec", "template")
	labels := strMap(pod, "metadata", "labels")
	if !subset(strMap(w, "spec", "selector", "matchLabels"), labels) {
		t.Errorf("%s: selector does not match its pod labels %v", kind, labels)
	}
	containers := list(pod, "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("%s: %d containers", kind, len(containers))
	}
	c := containers[0]
	if img := str(c, "image"); img != "resolverd:"+version.Release() {
		t.Errorf("%s: image %q, want resolverd:%s (internal/version/VERSION)", kind, img, version.Release())
	}
	ports := map[string]string{} // name -> containerPort/protocol
	for _, p := range list(c, "ports") {
		ports[str(p, "name")] = fmt.Sprintf("%v/%s", get(p, "containerPort"), str(p, "protocol"))
	}
	for name, want := range map[string]string{
		"dns": port(cf.listen) + "/UDP", "dns-tcp": port(cf.listen) + "/TCP",
		"metrics": port(cf.top["prometheus"]) + "/TCP", "health": port(cf.top["health"]) + "/TCP", "ready": port(cf.top["ready"]) + "/TCP",
	} {
		if ports[name] != want {
			t.Errorf("%s: container port %s = %q, the Corefile says %s", kind, name, ports[name], want)
		}
	}
	if got := str(pod, "metadata", "annotations", "prometheus.io/port"); got != port(cf.top["prometheus"]) {
		t.Errorf("%s: prometheus.io/port %q, the Corefile's metrics port is %s", kind, got, port(cf.top["prometheus"]))
	}
	for probe, path := range map[string]string{"readinessProbe": "/ready", "livenessProbe": "/health"} {
		if str(c, probe, "httpGet", "path") != path || ports[str(c, probe, "httpGet", "port")] == "" {
			t.Errorf("%s: %s %v, want GET %s on a declared port", kind, probe, get(c, probe), path)
		}
	}
	env := map[string]bool{}
	for _, e := range list(c, "env") {
		env[str(e, "name")] = true
	}
	for _, v := range regexp.MustCompile(`\{\$([A-Za-z_]+)\}`).FindAllStringSubmatch(string(mustRead(t, corefileName)), -1) {
		if !env[v[1]] {
			t.Errorf("%s: the Corefile reads {$%s}, the container does not set it", kind, v[1])
		}
	}

	volumes := map[string]any{}
	for _, v := range list(pod, "spec", "volumes") {
		volumes[str(v, "name")] = v
	}
	for _, v := range list(w, "spec", "volumeClaimTemplates") {
		volumes[str(v, "metadata", "name")] = v
	}
	mounts := map[string]string{} // mount path -> volume name
	for _, m := range list(c, "volumeMounts") {
		name := str(m, "name")
		if volumes[name] == nil {
			t.Errorf("%s: volumeMount %s names no volume", kind, name)
		}
		mounts[str(m, "mountPath")] = name
	}
	if v := mounts[cf.gitops["state"]]; v == "" || get(volumes[v], "configMap") != nil || get(volumes[v], "secret") != nil {
		t.Errorf("%s: the Corefile's state dir %s is not on a writable volume (mounted: %v)", kind, cf.gitops["state"], mounts)
	}
	if v := mounts["/etc/resolverd/Corefile"]; v == "" || configMaps[str(volumes[v], "configMap", "name")] == nil {
		t.Errorf("%s: /etc/resolverd/Corefile is not mounted from a generated ConfigMap", kind)
	}
	secrets := documentedSecrets(t)
	for _, key := range []string{"auth_file", "trust", "sync_token_file"} {
		file := cf.gitops[key]
		v := mounts[filepath.Dir(file)]
		name := str(volumes[v], "secret", "secretName")
		if name == "" || !slices.Contains(secrets[name], filepath.Base(file)) {
			t.Errorf("%s: the Corefile's %s %s is not a key of a documented Secret mounted at %s (secrets: %v)", kind, key, file, filepath.Dir(file), secrets)
		}
	}

	sc := get(c, "securityContext")
	if get(sc, "allowPrivilegeEscalation") != false || get(sc, "readOnlyRootFilesystem") != true ||
		!slices.Equal(list(sc, "capabilities", "drop"), []any{"ALL"}) {
		t.Errorf("%s: container securityContext %v: want no privilege escalation, a read-only root, every capability dropped", kind, sc)
	}

	var services, pdbs int
	for _, o := range objs {
		switch str(o, "kind") {
		case "Service":
			services++
			if !subset(strMap(o, "spec", "selector"), labels) {
				t.Errorf("Service %s selects %v, not the %s's pods", str(o, "metadata", "name"), get(o, "spec", "selector"), kind)
			}
			for _, p := range list(o, "spec", "ports") {
				target := str(p, "targetPort")
				if cp := ports[target]; cp == "" || !strings.HasSuffix(cp, "/"+str(p, "protocol")) {
					t.Errorf("Service %s port %s: targetPort %q is no %s container port of the %s", str(o, "metadata", "name"), str(p, "name"), target, str(p, "protocol"), kind)
				}
			}
		case "PodDisruptionBudget":
			pdbs++
			if !subset(strMap(o, "spec", "selector", "matchLabels"), labels) {
				t.Errorf("PodDisruptionBudget selects %v, not the %s's pods", get(o, "spec", "selector"), kind)
			}
		}
	}
	if services == 0 || pdbs != 1 {
		t.Errorf("%d Services, %d PodDisruptionBudgets", services, pdbs)
	}
}

// TestKubernetesBase parses every manifest of the base and checks the
// references between them and to the Corefile they run.
func TestKubernetesBase(t *testing.T) {
	resources, configMaps, _ := kustomization(t, "kubernetes/base")
	var paths []string
	for _, r := range resources {
		paths = append(paths, filepath.Join("kubernetes/base", r))
	}
	objs := readManifests(t, paths...)
	kinds := map[string]manifest{}
	for _, o := range objs {
		kinds[str(o, "kind")+"/"+str(o, "metadata", "name")] = o
	}
	sts := kinds["StatefulSet/resolverd"]
	if sts == nil {
		t.Fatalf("no StatefulSet resolverd in %v", paths)
	}
	cf := parseCorefile(t, "kubernetes/base/Corefile")
	checkWorkload(t, sts, objs, cf, configMaps, "kubernetes/base/Corefile")

	headless := kinds["Service/"+str(sts, "spec", "serviceName")]
	if headless == nil || str(headless, "spec", "clusterIP") != "None" {
		t.Errorf("StatefulSet serviceName %q is no headless Service", str(sts, "spec", "serviceName"))
	}
	var dns manifest
	for _, o := range objs {
		if str(o, "kind") == "Service" && str(o, "spec", "clusterIP") != "None" {
			dns = o
		}
	}
	protos := map[string]bool{}
	for _, p := range list(dns, "spec", "ports") {
		if fmt.Sprint(get(p, "port")) == "53" {
			protos[str(p, "protocol")] = true
		}
	}
	if !protos["UDP"] || !protos["TCP"] {
		t.Errorf("the DNS Service serves port 53 over %v, want UDP and TCP", protos)
	}
	pod := get(sts, "spec", "template", "spec")
	if get(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("the base's pods do not require a non-root user")
	}
	if caps := list(pod, "containers")[0].(map[string]any); get(caps, "securityContext", "capabilities", "add") != nil {
		t.Errorf("the base's container adds capabilities %v: it listens on %s, no capability needed", get(caps, "securityContext", "capabilities", "add"), cf.listen)
	}
	zone := false
	for _, c := range list(pod, "topologySpreadConstraints") {
		if str(c, "topologyKey") == "topology.kubernetes.io/zone" && subset(strMap(c, "labelSelector", "matchLabels"), strMap(sts, "spec", "template", "metadata", "labels")) {
			zone = true
		}
	}
	if !zone {
		t.Error("no topology spread across zones for the StatefulSet's pods")
	}
	if cf.gitops["node"] != "{$POD_NAME}" {
		t.Errorf("base Corefile node %q: one node per pod, named like it", cf.gitops["node"])
	}
	kustomizeBuild(t, "kubernetes/base")
}

// TestKubernetesDaemonSetOverlay checks the hostNetwork overlay: it
// replaces the StatefulSet by a DaemonSet on the hosts' network that
// passes the same reference checks against its own Corefile.
func TestKubernetesDaemonSetOverlay(t *testing.T) {
	dir := "kubernetes/overlays/daemonset-hostnetwork"
	resources, configMaps, raw := kustomization(t, dir)
	baseRes, _, _ := kustomization(t, "kubernetes/base")
	var paths []string
	for _, r := range resources {
		if r == "../../base" {
			for _, b := range baseRes {
				if b != "statefulset.yaml" {
					paths = append(paths, filepath.Join("kubernetes/base", b))
				}
			}
			continue
		}
		paths = append(paths, filepath.Join(dir, r))
	}
	deleted := false
	for _, p := range list(raw, "patches") {
		if strings.Contains(str(p, "patch"), "$patch: delete") && strings.Contains(str(p, "patch"), "kind: StatefulSet") {
			deleted = true
		}
	}
	if !deleted {
		t.Error("the overlay does not delete the base's StatefulSet")
	}
	objs := readManifests(t, paths...)
	var ds manifest
	for _, o := range objs {
		if str(o, "kind") == "DaemonSet" {
			ds = o
		}
	}
	if ds == nil || get(ds, "spec", "template", "spec", "hostNetwork") != true {
		t.Fatal("no DaemonSet with hostNetwork in the overlay")
	}
	cf := parseCorefile(t, filepath.Join(dir, "Corefile"))
	checkWorkload(t, ds, objs, cf, configMaps, filepath.Join(dir, "Corefile"))
	c := list(ds, "spec", "template", "spec", "containers")[0]
	if add := list(c, "securityContext", "capabilities", "add"); !slices.Equal(add, []any{"NET_BIND_SERVICE"}) {
		t.Errorf("overlay capabilities add %v: port %s of the host needs NET_BIND_SERVICE and nothing else", add, port(cf.listen))
	}
	kustomizeBuild(t, dir)
}

// kustomizeBuild runs `kubectl kustomize` when it is installed (CI has no
// kubectl: the reference checks above are the test there).
func kustomizeBuild(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Log("kubectl not installed: kustomize build not run")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "kubectl", "kustomize", dir).CombinedOutput(); err != nil {
		t.Errorf("kubectl kustomize %s: %v\n%s", dir, err, out)
	}
}

// TestDashboardQueriesParse: every query of the dashboard is PromQL that
// promtool accepts ($variables replaced). test/e2e checks each names a
// metric a real node exports.
func TestDashboardQueriesParse(t *testing.T) {
	var dash struct {
		UID    string
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(mustRead(t, "grafana/resolverd-cluster.json"), &dash); err != nil {
		t.Fatal(err)
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			expr := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*", "$cluster", "dev").Replace(tg.Expr)
			q, _ := json.Marshal(expr)
			fmt.Fprintf(&rules, "      - record: dashboard:q%d\n        expr: %s\n", n, q)
			n++
		}
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (Debian: prometheus; .ci/run installs it)")
	}
	f := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("dashboard queries: %v\n%s", err, out)
	}
}
