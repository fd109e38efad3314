package collector

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// What deploy/ is checked against; there is no Docker daemon or Kubernetes
// API server here, so the files are parsed and cross-checked instead.
var deployDir = filepath.Join("..", "..", "deploy")

// collectorConfig is the part of deploy/config.yaml the deployments depend on.
type collectorConfig struct {
	Extensions map[string]struct {
		Directory string `yaml:"directory"`
		HTTP      struct {
			Endpoint string `yaml:"endpoint"`
			Status   struct {
				Path string `yaml:"path"`
			} `yaml:"status"`
		} `yaml:"http"`
	} `yaml:"extensions"`
	Service struct {
		Extensions []string `yaml:"extensions"`
	} `yaml:"service"`
}

func parseCollectorConfig(t *testing.T, text string) collectorConfig {
	var c collectorConfig
	require.NoError(t, yaml.Unmarshal([]byte(text), &c))
	return c
}

// healthEndpoint returns the path and port of a health_check extension.
func (c collectorConfig) healthEndpoint(t *testing.T, id string) (string, int) {
	ext, ok := c.Extensions[id]
	require.True(t, ok, "extension %s is configured", id)
	require.Contains(t, c.Service.Extensions, id, "extension %s is enabled", id)
	_, port, err := net.SplitHostPort(ext.HTTP.Endpoint)
	require.NoError(t, err)
	p, err := net.LookupPort("tcp", port)
	require.NoError(t, err)
	return ext.HTTP.Status.Path, p
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)

// validate runs `otelcol validate` on a configuration, as the deployments
// start the collector.
func validate(t *testing.T, path string, env []string) {
	t.Helper()
	cmd := exec.Command(collectorBinary(t), "validate", "--config", path, healthGate)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "otelcol validate %s: %s", path, out)
}

type manifest struct {
	secret     corev1.Secret
	configMap  corev1.ConfigMap
	pvc        corev1.PersistentVolumeClaim
	deployment appsv1.Deployment
}

// readManifest decodes every document of kubernetes.yaml strictly into the
// Kubernetes API types, so a misspelled or misplaced field fails.
func readManifest(t *testing.T) manifest {
	b, err := os.ReadFile(filepath.Join(deployDir, "kubernetes.yaml"))
	require.NoError(t, err)
	var m manifest
	kinds := map[string]any{
		"Secret": &m.secret, "ConfigMap": &m.configMap,
		"PersistentVolumeClaim": &m.pvc, "Deployment": &m.deployment,
	}
	var seen []string
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		doc += "\n" // the separator took the document's last newline
		var head struct{ Kind string }
		require.NoError(t, sigsyaml.Unmarshal([]byte(doc), &head))
		into, ok := kinds[head.Kind]
		require.True(t, ok, "unexpected document kind %q", head.Kind)
		require.NoError(t, sigsyaml.UnmarshalStrict([]byte(doc), into), "the %s document", head.Kind)
		seen = append(seen, head.Kind)
	}
	assert.ElementsMatch(t, []string{"Secret", "ConfigMap", "PersistentVolumeClaim", "Deployment"}, seen)
	return m
}

func TestKubernetesManifest(t *testing.T) {
	m := readManifest(t)
	want, err := os.ReadFile(filepath.Join(deployDir, "config.yaml"))
	require.NoError(t, err)
	configText := m.configMap.Data["config.yaml"]
	assert.Equal(t, string(want), configText, "the ConfigMap holds deploy/config.yaml verbatim")
	cfg := parseCollectorConfig(t, configText)

	d := m.deployment.Spec
	require.NotNil(t, d.Replicas)
	assert.Equal(t, int32(1), *d.Replicas, "one writer per cursor")
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Strategy.Type, "the old pod stops before the new one takes the volume")
	assert.Equal(t, d.Selector.MatchLabels, d.Template.Labels)
	pod := d.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mountOf := func(dir string) (corev1.VolumeMount, bool) {
		for _, vm := range c.VolumeMounts {
			if vm.MountPath == dir {
				return vm, true
			}
		}
		return corev1.VolumeMount{}, false
	}

	t.Run("config from the ConfigMap", func(t *testing.T) {
		var configPath string
		for _, a := range c.Args {
			if p, ok := strings.CutPrefix(a, "--config="); ok {
				configPath = p
			}
		}
		assert.Contains(t, c.Args, healthGate)
		vm, ok := mountOf(filepath.Dir(configPath))
		require.True(t, ok, "the directory of %s is mounted", configPath)
		v := volumes[vm.Name]
		require.NotNil(t, v.ConfigMap, "%s is a ConfigMap volume", vm.Name)
		assert.Equal(t, m.configMap.Name, v.ConfigMap.Name)
		assert.Contains(t, m.configMap.Data, filepath.Base(configPath))
	})

	t.Run("file_storage on the PersistentVolumeClaim", func(t *testing.T) {
		dir := cfg.Extensions["file_storage"].Directory
		require.NotEmpty(t, dir)
		vm, ok := mountOf(dir)
		require.True(t, ok, "file_storage's directory %s is mounted", dir)
		assert.False(t, vm.ReadOnly)
		v := volumes[vm.Name]
		require.NotNil(t, v.PersistentVolumeClaim, "%s is a PVC volume", vm.Name)
		assert.Equal(t, m.pvc.Name, v.PersistentVolumeClaim.ClaimName)
		assert.Contains(t, m.pvc.Spec.AccessModes, corev1.ReadWriteOnce)
	})

	t.Run("a writable spool directory under a read-only root", func(t *testing.T) {
		// The receiver spools a backfill's new events to $TMPDIR; without a
		// writable one it keeps the whole export in memory.
		dir := "/tmp"
		for _, e := range c.Env {
			if e.Name == "TMPDIR" {
				dir = e.Value
			}
		}
		vm, ok := mountOf(dir)
		require.True(t, ok, "the spool directory %s is mounted", dir)
		assert.False(t, vm.ReadOnly)
		assert.NotNil(t, volumes[vm.Name].EmptyDir, "%s is an emptyDir", vm.Name)
	})

	t.Run("secrets and the environment", func(t *testing.T) {
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		for _, name := range []string{"HF_TOKEN", "CLICKHOUSE_PASSWORD"} {
			e := env[name]
			require.NotNil(t, e.ValueFrom, "%s comes from the Secret", name)
			require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s comes from the Secret", name)
			assert.Empty(t, e.Value)
			assert.Equal(t, m.secret.Name, e.ValueFrom.SecretKeyRef.Name)
			assert.Contains(t, m.secret.StringData, e.ValueFrom.SecretKeyRef.Key)
		}
		for _, ref := range envRef.FindAllStringSubmatch(configText, -1) {
			assert.Contains(t, env, ref[1], "the config's ${env:%s} is set in the container", ref[1])
		}
	})

	t.Run("probes on the health check", func(t *testing.T) {
		for _, p := range []struct {
			probe *corev1.Probe
			ext   string
		}{{c.LivenessProbe, "health_check"}, {c.ReadinessProbe, "health_check/status"}} {
			require.NotNil(t, p.probe, "a probe on %s", p.ext)
			require.NotNil(t, p.probe.HTTPGet)
			path, port := cfg.healthEndpoint(t, p.ext)
			assert.Equal(t, path, p.probe.HTTPGet.Path, p.ext)
			assert.Equal(t, port, p.probe.HTTPGet.Port.IntValue(), p.ext)
			assert.True(t, slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return int(cp.ContainerPort) == port }),
				"port %d is declared", port)
		}
	})

	t.Run("non-root and locked down", func(t *testing.T) {
		require.NotNil(t, pod.SecurityContext)
		require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
		assert.True(t, *pod.SecurityContext.RunAsNonRoot)
		require.NotNil(t, pod.SecurityContext.FSGroup, "the volume is writable by the pod's user")
		require.NotNil(t, c.SecurityContext)
		assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
		assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
		assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
	})

	t.Run("the embedded config validates", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		require.NoError(t, os.WriteFile(path, []byte(configText), 0o600))
		env := []string{"HF_TOKEN=hf_deploy_test_token", "CLICKHOUSE_PASSWORD=secret"}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env = append(env, e.Name+"="+e.Value)
			}
		}
		validate(t, path, env)
	})
}

// dockerInstructions returns the Dockerfile's instructions, one string each
// (continuation lines joined), without comments.
func dockerInstructions(t *testing.T) []string {
	f, err := os.Open(filepath.Join(deployDir, "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	require.NoError(t, sc.Err())
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(t)
	var stages []int
	for i, in := range ins {
		if strings.HasPrefix(in, "FROM ") {
			stages = append(stages, i)
		}
	}
	require.GreaterOrEqual(t, len(stages), 2, "a multi-stage build")
	build, final := ins[stages[0]:stages[len(stages)-1]], ins[stages[len(stages)-1]:]
	assert.Contains(t, build, "ENV CGO_ENABLED=0", "a static binary")
	assert.True(t, slices.ContainsFunc(build, func(s string) bool { return strings.Contains(s, "builder --config builder-config.yaml") }),
		"the binary is the ocb build of builder-config.yaml")
	assert.Regexp(t, `^FROM gcr\.io/distroless/static`, final[0], "a minimal base without a shell or libc")

	// The image runs the binary ocb writes to builder-config.yaml's
	// dist.output_path/dist.name inside the build stage's WORKDIR.
	var ocb struct {
		Dist struct {
			Name       string `yaml:"name"`
			OutputPath string `yaml:"output_path"`
		} `yaml:"dist"`
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "builder-config.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &ocb))
	var workdir, binary string
	for _, in := range build {
		if rest, ok := strings.CutPrefix(in, "WORKDIR "); ok {
			workdir = rest
		}
	}
	built := path.Join(workdir, ocb.Dist.OutputPath, ocb.Dist.Name)
	for _, in := range final {
		if rest, ok := strings.CutPrefix(in, "COPY --from=build "+built+" "); ok {
			binary = rest
		}
	}
	require.NotEmpty(t, binary, "the final stage copies the ocb build %s", built)
	assert.Contains(t, final, `ENTRYPOINT ["`+binary+`"]`, "the entrypoint is that binary")
	assert.Contains(t, final, "USER 65532:65532", "non-root")

	var configPath, cmd string
	for _, in := range final {
		if rest, ok := strings.CutPrefix(in, "COPY deploy/config.yaml "); ok {
			configPath = rest
		}
		if rest, ok := strings.CutPrefix(in, "CMD "); ok {
			cmd = rest
		}
	}
	require.NotEmpty(t, configPath, "deploy/config.yaml is in the image")
	assert.Contains(t, cmd, `"--config=`+configPath+`"`)
	assert.Contains(t, cmd, `"`+healthGate+`"`)

	cfgText, err := os.ReadFile(filepath.Join(deployDir, "config.yaml"))
	require.NoError(t, err)
	cfg := parseCollectorConfig(t, string(cfgText))
	dir := cfg.Extensions["file_storage"].Directory
	assert.Contains(t, final, `VOLUME ["`+dir+`"]`, "file_storage's directory is a volume")
	for _, id := range []string{"health_check", "health_check/status"} {
		_, port := cfg.healthEndpoint(t, id)
		assert.True(t, slices.ContainsFunc(final, func(s string) bool {
			return strings.HasPrefix(s, "EXPOSE ") && slices.Contains(strings.Fields(s), strconv.Itoa(port))
		}), "health port %d is exposed", port)
	}
}

// unitSettings reads a systemd unit's Key=Value lines; a key may repeat.
func unitSettings(t *testing.T, path string) map[string][]string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string][]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "a Key=Value line: %q", line)
		out[k] = append(out[k], v)
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	unit := filepath.Join(deployDir, "otelcol-hfaudit.service")
	s := unitSettings(t, unit)
	require.Len(t, s["ExecStart"], 1)
	args := strings.Fields(s["ExecStart"][0])
	assert.Contains(t, args, "--config=/etc/otelcol-hfaudit/config.yaml")
	assert.Contains(t, args, healthGate)

	cfgText, err := os.ReadFile(filepath.Join(deployDir, "config.yaml"))
	require.NoError(t, err)
	dir := parseCollectorConfig(t, string(cfgText)).Extensions["file_storage"].Directory
	require.Len(t, s["StateDirectory"], 1)
	assert.True(t, strings.HasPrefix(dir, "/var/lib/"+s["StateDirectory"][0]+"/"),
		"file_storage's directory %s is inside the writable StateDirectory", dir)
	for k, v := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
		"MemoryDenyWriteExecute": "yes", "UMask": "0077",
	} {
		assert.Equal(t, []string{v}, s[k], k)
	}
	assert.Equal(t, []string{"/etc/otelcol-hfaudit/env"}, s["EnvironmentFile"], "secrets from a root-only file, not the unit")

	// systemd's own checks, where systemd-analyze exists: the unit parses
	// (with ExecStart pointed at the built collector) and its exposure
	// score is at most 2.0 of 10.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit was only parsed")
	}
	b, err := os.ReadFile(unit)
	require.NoError(t, err)
	local := filepath.Join(t.TempDir(), "otelcol-hfaudit.service")
	text := strings.Replace(string(b), "ExecStart=/usr/local/bin/otelcol-hfaudit ", "ExecStart="+collectorBinary(t)+" ", 1)
	require.NoError(t, os.WriteFile(local, []byte(text), 0o644))
	out, err := exec.Command(analyze, "verify", local).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify: %s", out)
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", local).CombinedOutput()
	require.NoError(t, err, "systemd-analyze security: %s", out)
	if i := bytes.Index(out, []byte("Overall exposure level")); i >= 0 {
		t.Logf("%s", bytes.TrimSpace(out[i:]))
	}
}

// The watcher (hfauditdetect -watch) beside the collector.

type watcherManifest struct {
	secret     corev1.Secret
	configMap  corev1.ConfigMap
	deployment appsv1.Deployment
}

// readWatcherManifest decodes hfauditdetect-kubernetes.yaml strictly into
// the Kubernetes API types.
func readWatcherManifest(t *testing.T) watcherManifest {
	b, err := os.ReadFile(filepath.Join(deployDir, "hfauditdetect-kubernetes.yaml"))
	require.NoError(t, err)
	var m watcherManifest
	kinds := map[string]any{"Secret": &m.secret, "ConfigMap": &m.configMap, "Deployment": &m.deployment}
	var seen []string
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		doc += "\n"
		var head struct{ Kind string }
		require.NoError(t, sigsyaml.Unmarshal([]byte(doc), &head))
		into, ok := kinds[head.Kind]
		require.True(t, ok, "unexpected document kind %q", head.Kind)
		require.NoError(t, sigsyaml.UnmarshalStrict([]byte(doc), into), "the %s document", head.Kind)
		seen = append(seen, head.Kind)
	}
	assert.ElementsMatch(t, []string{"Secret", "ConfigMap", "Deployment"}, seen)
	return m
}

func TestWatcherKubernetesManifest(t *testing.T) {
	m := readWatcherManifest(t)
	want, err := os.ReadFile(filepath.Join(deployDir, "hfauditdetect.yaml"))
	require.NoError(t, err)
	configText := m.configMap.Data["config.yaml"]
	assert.Equal(t, string(want), configText, "the ConfigMap holds deploy/hfauditdetect.yaml verbatim")

	d := m.deployment.Spec
	require.NotNil(t, d.Replicas)
	assert.Equal(t, int32(1), *d.Replicas, "one writer per checkpoint")
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Strategy.Type, "the old watcher stops before the new one starts")
	assert.Equal(t, d.Selector.MatchLabels, d.Template.Labels)
	pod := d.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Contains(t, c.Args, "-watch")

	var configPath string
	for _, a := range c.Args {
		if p, ok := strings.CutPrefix(a, "-config="); ok {
			configPath = p
		}
	}
	require.NotEmpty(t, configPath, "-config=PATH")
	var mounted bool
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != filepath.Dir(configPath) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == m.configMap.Name {
				mounted = true
			}
		}
	}
	assert.True(t, mounted, "the ConfigMap is mounted at %s", filepath.Dir(configPath))
	assert.Contains(t, m.configMap.Data, filepath.Base(configPath))

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, name := range []string{"CLICKHOUSE_PASSWORD", "HFAUDIT_WEBHOOK_URL"} {
		e := env[name]
		require.NotNil(t, e.ValueFrom, "%s comes from the Secret", name)
		require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s comes from the Secret", name)
		assert.Equal(t, m.secret.Name, e.ValueFrom.SecretKeyRef.Name)
		assert.Contains(t, m.secret.StringData, e.ValueFrom.SecretKeyRef.Key)
	}
	// The settings, without the comments and their examples.
	var settings strings.Builder
	for line := range strings.Lines(configText) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			settings.WriteString(line)
		}
	}
	for _, ref := range envRef.FindAllStringSubmatch(settings.String(), -1) {
		assert.Contains(t, env, ref[1], "the config's ${env:%s} is set in the container", ref[1])
	}

	require.NotNil(t, pod.SecurityContext)
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.NotNil(t, c.SecurityContext)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
}

// buildWatcher builds cmd/hfauditdetect.
func buildWatcher(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "hfauditdetect")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hfauditdetect")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func TestWatcherSystemdUnit(t *testing.T) {
	unit := filepath.Join(deployDir, "hfauditdetect.service")
	s := unitSettings(t, unit)
	require.Len(t, s["ExecStart"], 1)
	args := strings.Fields(s["ExecStart"][0])
	assert.Equal(t, []string{"/usr/local/bin/hfauditdetect", "-watch", "-config", "/etc/hfauditdetect/config.yaml"}, args)
	for k, v := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
		"MemoryDenyWriteExecute": "yes", "UMask": "0077", "KillSignal": "SIGTERM",
	} {
		assert.Equal(t, []string{v}, s[k], k)
	}
	assert.Equal(t, []string{"/etc/hfauditdetect/env"}, s["EnvironmentFile"], "secrets from a root-only file, not the unit")

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit was only parsed")
	}
	b, err := os.ReadFile(unit)
	require.NoError(t, err)
	local := filepath.Join(t.TempDir(), "hfauditdetect.service")
	text := strings.Replace(string(b), "ExecStart=/usr/local/bin/hfauditdetect ", "ExecStart="+buildWatcher(t)+" ", 1)
	require.NoError(t, os.WriteFile(local, []byte(text), 0o644))
	out, err := exec.Command(analyze, "verify", local).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify: %s", out)
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", local).CombinedOutput()
	require.NoError(t, err, "systemd-analyze security: %s", out)
	if i := bytes.Index(out, []byte("Overall exposure level")); i >= 0 {
		t.Logf("%s", bytes.TrimSpace(out[i:]))
	}
}
