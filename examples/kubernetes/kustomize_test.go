package kubernetes_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// The contract between the manifests, examples/basic and the agent. Every
// value here is stated once, so a drift in any manifest shows up as a
// failure naming the field.
const (
	appLabelKey     = "app.kubernetes.io/name"
	appLabelValue   = "komachi-example"
	appImageName    = "komachi-example"
	appPort         = 4000
	readinessPath   = "/ops/heartbeat"
	livenessPath    = "/ops/livez"
	statsPath       = "/ops/stats"
	agentName       = "mackerel-container-agent"
	agentImage      = "mackerel/mackerel-container-agent:plugins"
	agentMemLimit   = "128Mi"
	apiKeySecret    = "mackerel"
	apiKeySecretKey = "apikey"
	agentConfigEnv  = "MACKEREL_AGENT_CONFIG"
	readOnlyPortEnv = "MACKEREL_KUBERNETES_KUBELET_READ_ONLY_PORT"
	pluginJSON      = "mackerel-plugin-json"
	checkHTTP       = "check-http"
	// serviceName is the example's service name: OTEL_SERVICE_NAME, the
	// plugin's -prefix and KOMACHI_MACKEREL_PREFIX all say it.
	serviceName = "basic"
	prefixEnv   = "KOMACHI_MACKEREL_PREFIX"
	// minGraceSeconds is the least termination grace that still leaves the
	// app time to fail its heartbeat, wait for endpoints to drop the Pod
	// and drain; the default 30 s is the intended value.
	minGraceSeconds = 10
)

// What a Pod costs in Mackerel (../../../shared/docs/mackerel.md and
// README.md): a micro host includes 30 metrics, standard and custom metrics
// and check monitors together.
const (
	microHostMetrics = 30
	// The agent posts container.cpu.<c>.usage, .limit and
	// container.memory.<c>.usage, .limit per container it does not ignore.
	metricsPerContainer = 4
	// interface.<if>.rxBytes.delta and .txBytes.delta for the Pod's one
	// interface.
	interfaceMetrics = 2
	// statsMetrics is what /stats yields at komachi's defaults, checked
	// against the real plugin by examples/basic/plugintest.
	statsMetrics = 20
	// agentPluginTimeout is the agent's timeout for a plugin whose
	// timeoutSeconds is 0 (cmdutil in mackerel-container-agent).
	agentPluginTimeout = 30
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// manifests is a kustomize build, decoded into the Kubernetes API types.
type manifests struct {
	Deployments         []*appsv1.Deployment
	Services            []*corev1.Service
	ConfigMaps          []*corev1.ConfigMap
	ServiceAccounts     []*corev1.ServiceAccount
	ClusterRoles        []*rbacv1.ClusterRole
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
}

// render runs kustomize on dir of fSys and decodes every object strictly.
func render(fSys filesys.FileSystem, dir string) (*manifests, error) {
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fSys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	m := &manifests{}
	for _, r := range rm.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s: rendering YAML: %w", r.CurId(), err)
		}
		if err := m.add(doc); err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
	}
	return m, nil
}

// add decodes one object into the API type its apiVersion and kind name.
// A kind the example does not ship is an error, so nothing slips through
// unchecked.
func (m *manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := sigsyaml.Unmarshal(doc, &tm); err != nil {
		return fmt.Errorf("reading apiVersion/kind: %w", err)
	}
	switch gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind); gvk {
	case appsv1.SchemeGroupVersion.WithKind("Deployment"):
		return decodeAppend(doc, &m.Deployments)
	case corev1.SchemeGroupVersion.WithKind("Service"):
		return decodeAppend(doc, &m.Services)
	case corev1.SchemeGroupVersion.WithKind("ConfigMap"):
		return decodeAppend(doc, &m.ConfigMaps)
	case corev1.SchemeGroupVersion.WithKind("ServiceAccount"):
		return decodeAppend(doc, &m.ServiceAccounts)
	case rbacv1.SchemeGroupVersion.WithKind("ClusterRole"):
		return decodeAppend(doc, &m.ClusterRoles)
	case rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"):
		return decodeAppend(doc, &m.ClusterRoleBindings)
	default:
		return fmt.Errorf("unexpected object %q (apiVersion %q): the example ships only "+
			"apps/v1 Deployment, v1 Service, ConfigMap, ServiceAccount and "+
			"rbac.authorization.k8s.io/v1 ClusterRole, ClusterRoleBinding", gvk.Kind, tm.APIVersion)
	}
}

func decodeAppend[T any](doc []byte, list *[]*T) error {
	obj := new(T)
	if err := decodeStrict(doc, obj); err != nil {
		return err
	}
	*list = append(*list, obj)
	return nil
}

// decodeStrict decodes YAML the way the API server reads JSON: field names
// match case-sensitively, and an unknown or duplicate field is an error
// (encoding/json alone would accept "ReadinessProbe" for "readinessProbe").
func decodeStrict(doc []byte, into any) error {
	j, err := sigsyaml.YAMLToJSONStrict(doc)
	if err != nil {
		return fmt.Errorf("strict YAML: %w", err)
	}
	strictErrs, err := kjson.UnmarshalStrict(j, into)
	if err != nil {
		return fmt.Errorf("decoding into %T: %w", into, err)
	}
	if len(strictErrs) > 0 {
		return fmt.Errorf("decoding into %T: %w", into, errors.Join(strictErrs...))
	}
	return nil
}

func (m *manifests) deepCopy() *manifests {
	return &manifests{
		Deployments:         copyAll(m.Deployments, (*appsv1.Deployment).DeepCopy),
		Services:            copyAll(m.Services, (*corev1.Service).DeepCopy),
		ConfigMaps:          copyAll(m.ConfigMaps, (*corev1.ConfigMap).DeepCopy),
		ServiceAccounts:     copyAll(m.ServiceAccounts, (*corev1.ServiceAccount).DeepCopy),
		ClusterRoles:        copyAll(m.ClusterRoles, (*rbacv1.ClusterRole).DeepCopy),
		ClusterRoleBindings: copyAll(m.ClusterRoleBindings, (*rbacv1.ClusterRoleBinding).DeepCopy),
	}
}

func copyAll[T any](in []*T, cp func(*T) *T) []*T {
	out := make([]*T, len(in))
	for i, o := range in {
		out[i] = cp(o)
	}
	return out
}

func (m *manifests) objects() []metav1.Object {
	var all []metav1.Object
	for _, o := range m.Deployments {
		all = append(all, o)
	}
	for _, o := range m.Services {
		all = append(all, o)
	}
	for _, o := range m.ConfigMaps {
		all = append(all, o)
	}
	for _, o := range m.ServiceAccounts {
		all = append(all, o)
	}
	for _, o := range m.ClusterRoles {
		all = append(all, o)
	}
	for _, o := range m.ClusterRoleBindings {
		all = append(all, o)
	}
	return all
}

// pod returns the single Deployment and its app and agent containers.
func (m *manifests) pod() (*appsv1.Deployment, *corev1.Container, *corev1.Container, error) {
	if len(m.Deployments) != 1 {
		return nil, nil, nil, fmt.Errorf("want exactly 1 Deployment, got %d", len(m.Deployments))
	}
	d := m.Deployments[0]
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 2 {
		return nil, nil, nil, fmt.Errorf("Deployment %s: want 2 containers (app + %s), got %d", d.Name, agentName, len(cs))
	}
	var app, agent *corev1.Container
	for i := range cs {
		if cs[i].Name == agentName {
			agent = &cs[i]
		} else {
			app = &cs[i]
		}
	}
	if agent == nil || app == nil {
		return nil, nil, nil, fmt.Errorf("Deployment %s: want one container named %q and one app container, got %q and %q",
			d.Name, agentName, cs[0].Name, cs[1].Name)
	}
	return d, app, agent, nil
}

// resolvePort gives the number a probe or Service port refers to in c,
// by name or by number; either must be a port c declares.
func resolvePort(c *corev1.Container, p intstr.IntOrString) (int32, error) {
	for _, cp := range c.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("port %s is not a port declared by container %q (%v)", p.String(), c.Name, c.Ports)
}

func findEnv(c *corev1.Container, name string) (*corev1.EnvVar, bool) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i], true
		}
	}
	return nil, false
}

// ---- checks: each returns every problem it finds, joined ----

func checkObjects(m *manifests) error {
	var errs []error
	for _, c := range []struct {
		kind string
		n    int
	}{{"Deployment", len(m.Deployments)}, {"Service", len(m.Services)}, {"ConfigMap", len(m.ConfigMaps)}} {
		if c.n != 1 {
			errs = append(errs, fmt.Errorf("want exactly 1 %s, got %d", c.kind, c.n))
		}
	}
	if len(m.Deployments) == 1 {
		ns := m.Deployments[0].Namespace
		for _, o := range m.objects() {
			if _, cluster := o.(*rbacv1.ClusterRole); cluster {
				continue
			}
			if _, cluster := o.(*rbacv1.ClusterRoleBinding); cluster {
				continue
			}
			if o.GetNamespace() != ns {
				errs = append(errs, fmt.Errorf("%T %s: namespace %q, want the Deployment's %q", o, o.GetName(), o.GetNamespace(), ns))
			}
		}
	}
	for _, o := range m.objects() {
		if got := o.GetLabels()[appLabelKey]; got != appLabelValue {
			errs = append(errs, fmt.Errorf("%T %s: label %s=%q, want %q (kustomization labels)", o, o.GetName(), appLabelKey, got, appLabelValue))
		}
	}
	return errors.Join(errs...)
}

func checkAppProbes(m *manifests) error {
	_, app, _, err := m.pod()
	if err != nil {
		return err
	}
	var errs []error
	var httpPort *corev1.ContainerPort
	for i := range app.Ports {
		if app.Ports[i].Name == "http" {
			httpPort = &app.Ports[i]
		}
	}
	switch {
	case httpPort == nil:
		errs = append(errs, fmt.Errorf("app container %q: no port named http", app.Name))
	case httpPort.ContainerPort != appPort:
		errs = append(errs, fmt.Errorf("app container %q: port http is %d, want %d (examples/basic's default)", app.Name, httpPort.ContainerPort, appPort))
	case httpPort.Protocol != "" && httpPort.Protocol != corev1.ProtocolTCP:
		errs = append(errs, fmt.Errorf("app container %q: port http protocol %s, want TCP", app.Name, httpPort.Protocol))
	}
	probe := func(kind string, p *corev1.Probe, wantPath string) {
		if p == nil || p.HTTPGet == nil {
			errs = append(errs, fmt.Errorf("app container %q: %s must be an httpGet probe on %s", app.Name, kind, wantPath))
			return
		}
		if p.HTTPGet.Path != wantPath {
			errs = append(errs, fmt.Errorf("app container %q: %s path %q, want %q", app.Name, kind, p.HTTPGet.Path, wantPath))
		}
		if p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != corev1.URISchemeHTTP {
			errs = append(errs, fmt.Errorf("app container %q: %s scheme %s, want HTTP", app.Name, kind, p.HTTPGet.Scheme))
		}
		port, err := resolvePort(app, p.HTTPGet.Port)
		if err != nil {
			errs = append(errs, fmt.Errorf("app container %q: %s: %w", app.Name, kind, err))
		} else if port != appPort {
			errs = append(errs, fmt.Errorf("app container %q: %s port resolves to %d, want %d", app.Name, kind, port, appPort))
		}
	}
	probe("readinessProbe", app.ReadinessProbe, readinessPath)
	probe("livenessProbe", app.LivenessProbe, livenessPath)
	// A slow start must not be killed by liveness: either a startupProbe
	// holds liveness off, or liveness waits before its first try.
	if app.StartupProbe != nil {
		probe("startupProbe", app.StartupProbe, livenessPath)
	} else if app.LivenessProbe != nil && app.LivenessProbe.InitialDelaySeconds < 5 {
		errs = append(errs, fmt.Errorf("app container %q: no startupProbe and livenessProbe.initialDelaySeconds=%d: a slow start would be restarted",
			app.Name, app.LivenessProbe.InitialDelaySeconds))
	}
	return errors.Join(errs...)
}

func checkAppSecurity(m *manifests) error {
	d, app, _, err := m.pod()
	if err != nil {
		return err
	}
	var errs []error
	podSC := d.Spec.Template.Spec.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	sc := app.SecurityContext
	if sc == nil {
		return fmt.Errorf("app container %q: no securityContext", app.Name)
	}
	// The container's own setting wins over the Pod's, as in the kubelet.
	nonRoot, uid, seccomp := podSC.RunAsNonRoot, podSC.RunAsUser, podSC.SeccompProfile
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if nonRoot == nil || !*nonRoot {
		errs = append(errs, fmt.Errorf("app container %q: runAsNonRoot must be true", app.Name))
	}
	if uid != nil && *uid == 0 {
		errs = append(errs, fmt.Errorf("app container %q: runAsUser is 0 (root)", app.Name))
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		errs = append(errs, fmt.Errorf("app container %q: seccompProfile must be RuntimeDefault, got %v", app.Name, seccomp))
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		errs = append(errs, fmt.Errorf("app container %q: readOnlyRootFilesystem must be true", app.Name))
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		errs = append(errs, fmt.Errorf("app container %q: allowPrivilegeEscalation must be false", app.Name))
	}
	if sc.Privileged != nil && *sc.Privileged {
		errs = append(errs, fmt.Errorf("app container %q: privileged must not be true", app.Name))
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		errs = append(errs, fmt.Errorf("app container %q: capabilities must drop ALL and add none, got %+v", app.Name, sc.Capabilities))
	}
	return errors.Join(errs...)
}

func checkAppRuntime(m *manifests) error {
	d, app, _, err := m.pod()
	if err != nil {
		return err
	}
	var errs []error
	if ref := strings.SplitN(app.Image, "@", 2)[0]; path.Base(strings.SplitN(path.Base(ref), ":", 2)[0]) != appImageName {
		errs = append(errs, fmt.Errorf("app container %q: image %q is not %s (kustomization images entry)", app.Name, app.Image, appImageName))
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := app.Resources.Requests[r]; !ok || q.IsZero() {
			errs = append(errs, fmt.Errorf("app container %q: resources.requests.%s must be set", app.Name, r))
		}
	}
	if q, ok := app.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		errs = append(errs, fmt.Errorf("app container %q: resources.limits.memory must be set", app.Name))
	}
	if e, ok := findEnv(app, "OTEL_SERVICE_NAME"); !ok || e.Value == "" {
		errs = append(errs, fmt.Errorf("app container %q: env OTEL_SERVICE_NAME must be set to a literal name", app.Name))
	}
	grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || *grace < minGraceSeconds {
		errs = append(errs, fmt.Errorf("Deployment %s: terminationGracePeriodSeconds must be set and >= %d to cover the app's drain, got %v",
			d.Name, minGraceSeconds, grace))
	}
	if app.Lifecycle != nil && app.Lifecycle.PreStop != nil {
		errs = append(errs, fmt.Errorf("app container %q: has a preStop hook; the app drains on SIGTERM by itself", app.Name))
	}
	return errors.Join(errs...)
}

func checkService(m *manifests) error {
	d, app, _, err := m.pod()
	if err != nil {
		return err
	}
	if len(m.Services) != 1 {
		return fmt.Errorf("want exactly 1 Service, got %d", len(m.Services))
	}
	s := m.Services[0]
	var errs []error
	tpl := labels.Set(d.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(tpl) {
		errs = append(errs, fmt.Errorf("Deployment %s: selector %v does not match its Pod template labels %v (err %v)", d.Name, d.Spec.Selector, tpl, err))
	}
	if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
		errs = append(errs, fmt.Errorf("Service %s: type %s, want ClusterIP", s.Name, s.Spec.Type))
	}
	if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(tpl) {
		errs = append(errs, fmt.Errorf("Service %s: selector %v does not select the Pod template labels %v", s.Name, s.Spec.Selector, tpl))
	}
	i := slices.IndexFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "http" })
	if i < 0 {
		return errors.Join(append(errs, fmt.Errorf("Service %s: no port named http", s.Name))...)
	}
	sp := s.Spec.Ports[i]
	target := sp.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(sp.Port) // Kubernetes defaults targetPort to port
	}
	if port, err := resolvePort(app, target); err != nil {
		errs = append(errs, fmt.Errorf("Service %s: targetPort: %w", s.Name, err))
	} else if port != appPort {
		errs = append(errs, fmt.Errorf("Service %s: targetPort resolves to %d, want %d", s.Name, port, appPort))
	}
	return errors.Join(errs...)
}

func checkAgentSidecar(m *manifests) error {
	d, _, agent, err := m.pod()
	if err != nil {
		return err
	}
	var errs []error
	if agent.Image != agentImage {
		errs = append(errs, fmt.Errorf("container %q: image %q, want %q (it bundles %s)", agentName, agent.Image, agentImage, pluginJSON))
	}
	want := resource.MustParse(agentMemLimit)
	if q, ok := agent.Resources.Limits[corev1.ResourceMemory]; !ok || q.Cmp(want) != 0 {
		errs = append(errs, fmt.Errorf("container %q: resources.limits.memory %v, want %s", agentName, agent.Resources.Limits.Memory(), agentMemLimit))
	}
	seen := map[string]bool{}
	for _, e := range agent.Env {
		if seen[e.Name] {
			errs = append(errs, fmt.Errorf("container %q: env %s given twice", agentName, e.Name))
		}
		seen[e.Name] = true
	}
	literal := func(name, want string) {
		e, ok := findEnv(agent, name)
		if !ok || e.ValueFrom != nil || e.Value != want {
			errs = append(errs, fmt.Errorf("container %q: env %s must be %q, got %+v", agentName, name, want, e))
		}
	}
	fieldRef := func(name, fieldPath string) {
		e, ok := findEnv(agent, name)
		if !ok || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != fieldPath {
			errs = append(errs, fmt.Errorf("container %q: env %s must come from the downward API fieldRef %s, got %+v", agentName, name, fieldPath, e))
		}
	}
	literal("MACKEREL_CONTAINER_PLATFORM", "kubernetes")
	fieldRef("MACKEREL_KUBERNETES_KUBELET_HOST", "status.hostIP")
	fieldRef("MACKEREL_KUBERNETES_NAMESPACE", "metadata.namespace")
	fieldRef("MACKEREL_KUBERNETES_POD_NAME", "metadata.name")
	if e, ok := findEnv(agent, "MACKEREL_APIKEY"); !ok || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != apiKeySecret || e.ValueFrom.SecretKeyRef.Key != apiKeySecretKey {
		errs = append(errs, fmt.Errorf("container %q: env MACKEREL_APIKEY must come from secretKeyRef {name: %s, key: %s} and never be a literal, got %+v",
			agentName, apiKeySecret, apiKeySecretKey, e))
	}
	if e, ok := findEnv(agent, "MACKEREL_ROLES"); ok && e.ValueFrom == nil && strings.TrimSpace(e.Value) == "" {
		errs = append(errs, fmt.Errorf("container %q: env MACKEREL_ROLES is set but empty; leave it out instead", agentName))
	}
	// No container may carry an API key in clear text.
	apiKeyName := regexp.MustCompile(`(?i)api_?key`)
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if apiKeyName.MatchString(e.Name) && e.Value != "" {
				errs = append(errs, fmt.Errorf("container %q: env %s holds a literal value; use a secretKeyRef", c.Name, e.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// agentConfigSource finds the file MACKEREL_AGENT_CONFIG names inside the
// agent's mounted ConfigMap and returns that ConfigMap entry.
func agentConfigSource(m *manifests) (string, error) {
	d, _, agent, err := m.pod()
	if err != nil {
		return "", err
	}
	e, ok := findEnv(agent, agentConfigEnv)
	if !ok || e.ValueFrom != nil || !path.IsAbs(e.Value) {
		return "", fmt.Errorf("container %q: env %s must be a literal absolute path, got %+v", agentName, agentConfigEnv, e)
	}
	file := path.Clean(e.Value)
	for _, vm := range agent.VolumeMounts {
		var rel string
		switch mount := path.Clean(vm.MountPath); {
		case vm.SubPath != "" && file == mount:
			rel = vm.SubPath
		case vm.SubPath == "" && strings.HasPrefix(file, mount+"/"):
			rel = strings.TrimPrefix(file, mount+"/")
		default:
			continue
		}
		vi := slices.IndexFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if vi < 0 {
			return "", fmt.Errorf("container %q: volumeMount %q has no volume", agentName, vm.Name)
		}
		src := d.Spec.Template.Spec.Volumes[vi].ConfigMap
		if src == nil {
			return "", fmt.Errorf("container %q: %s=%s lies in volume %q, which is not a ConfigMap", agentName, agentConfigEnv, file, vm.Name)
		}
		key := rel
		if len(src.Items) > 0 {
			ii := slices.IndexFunc(src.Items, func(it corev1.KeyToPath) bool { return path.Clean(it.Path) == rel })
			if ii < 0 {
				return "", fmt.Errorf("volume %q: no item is projected to %q", vm.Name, rel)
			}
			key = src.Items[ii].Key
		}
		ci := slices.IndexFunc(m.ConfigMaps, func(cm *corev1.ConfigMap) bool { return cm.Name == src.Name })
		if ci < 0 {
			return "", fmt.Errorf("volume %q refers to ConfigMap %q, which the build does not contain (generator name not rewritten?)", vm.Name, src.Name)
		}
		data, ok := m.ConfigMaps[ci].Data[key]
		if !ok {
			return "", fmt.Errorf("ConfigMap %s has no key %q for %s=%s", src.Name, key, agentConfigEnv, file)
		}
		return data, nil
	}
	return "", fmt.Errorf("container %q: %s=%s is not inside any of its volumeMounts", agentName, agentConfigEnv, file)
}

// agentConfig mirrors the keys mackerel-container-agent reads from its
// YAML config. The agent itself ignores unknown keys silently, which is why
// the test decodes strictly: a misspelt key would otherwise do nothing.
type agentConfig struct {
	APIBase           string                            `json:"apibase,omitempty"`
	APIKey            string                            `json:"apikey,omitempty"`
	Root              string                            `json:"root,omitempty"`
	Roles             []string                          `json:"roles,omitempty"`
	DisplayName       string                            `json:"displayName,omitempty"`
	Memo              string                            `json:"memo,omitempty"`
	IgnoreContainer   string                            `json:"ignoreContainer,omitempty"`
	ReadinessProbe    *agentProbe                       `json:"readinessProbe,omitempty"`
	HostStatusOnStart string                            `json:"hostStatusOnStart,omitempty"`
	HostIDStore       string                            `json:"hostIdStore,omitempty"`
	Plugin            map[string]map[string]agentPlugin `json:"plugin,omitempty"`
}

type agentProbe struct {
	Exec                *agentExec      `json:"exec,omitempty"`
	HTTP                *agentProbeHTTP `json:"http,omitempty"`
	TCP                 *agentProbeTCP  `json:"tcp,omitempty"`
	InitialDelaySeconds int             `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int             `json:"periodSeconds,omitempty"`
	TimeoutSeconds      int             `json:"timeoutSeconds,omitempty"`
}

type agentExec struct {
	Command agentCommand      `json:"command"`
	User    string            `json:"user,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

type agentProbeHTTP struct {
	Scheme  string       `json:"scheme,omitempty"`
	Method  string       `json:"method,omitempty"`
	Host    string       `json:"host,omitempty"`
	Port    scalarString `json:"port,omitempty"`
	Path    string       `json:"path"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers,omitempty"`
	Proxy string `json:"proxy,omitempty"`
}

type agentProbeTCP struct {
	Host string       `json:"host,omitempty"`
	Port scalarString `json:"port"`
}

type agentPlugin struct {
	Command        agentCommand      `json:"command"`
	User           string            `json:"user,omitempty"`
	TimeoutSeconds int               `json:"timeoutSeconds,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	Memo           string            `json:"memo,omitempty"`
}

// scalarString takes a YAML string or number, as the agent's string-typed
// port fields do.
type scalarString string

func (s *scalarString) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = scalarString(str)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*s = scalarString(n.String())
	return nil
}

// agentCommand is the agent's command: one shell string, or a list of
// arguments run without a shell.
type agentCommand struct {
	List bool
	Args []string
}

func (c *agentCommand) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*c = agentCommand{Args: strings.Fields(str)}
		return nil
	}
	var list []scalarString
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("command: want a string or a list of arguments, got %s", b)
	}
	c.List = true
	for _, a := range list {
		c.Args = append(c.Args, string(a))
	}
	return nil
}

// parseAgentConfig decodes strictly and applies the agent's own validation.
func parseAgentConfig(data string) (*agentConfig, error) {
	var cfg agentConfig
	if err := decodeStrict([]byte(data), &cfg); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	var errs []error
	if p := cfg.ReadinessProbe; p != nil {
		n := 0
		for _, set := range []bool{p.Exec != nil, p.HTTP != nil, p.TCP != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("agent config: readinessProbe needs exactly one of exec, http, tcp; got %d", n))
		}
		if p.HTTP != nil && p.HTTP.Path == "" {
			errs = append(errs, errors.New("agent config: readinessProbe.http.path is required"))
		}
		if p.InitialDelaySeconds < 0 || p.PeriodSeconds < 0 || p.TimeoutSeconds < 0 {
			errs = append(errs, errors.New("agent config: readinessProbe seconds must not be negative"))
		}
	}
	if cfg.IgnoreContainer != "" {
		if _, err := regexp.Compile(cfg.IgnoreContainer); err != nil {
			errs = append(errs, fmt.Errorf("agent config: ignoreContainer: %w", err))
		}
	}
	for kind, plugins := range cfg.Plugin {
		if kind != "metrics" && kind != "checks" {
			errs = append(errs, fmt.Errorf("agent config: plugin.%s: the agent only knows plugin.metrics and plugin.checks", kind))
		}
		for name, p := range plugins {
			if len(p.Command.Args) == 0 {
				errs = append(errs, fmt.Errorf("agent config: plugin.%s.%s.command is empty", kind, name))
			}
			if p.TimeoutSeconds < 0 {
				errs = append(errs, fmt.Errorf("agent config: plugin.%s.%s.timeoutSeconds is negative", kind, name))
			}
		}
	}
	return &cfg, errors.Join(errs...)
}

// flagValue reads a Go-style flag (-name=v, --name=v, -name v) from args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		trimmed := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if trimmed == a {
			continue
		}
		if v, ok := strings.CutPrefix(trimmed, name+"="); ok {
			return v, true
		}
		if trimmed == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func isLocalhost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

var metricNamePrefix = regexp.MustCompile(`^[-a-zA-Z0-9_]+(\.[-a-zA-Z0-9_]+)*$`)

// loadAgentConfig finds the agent's config in the build and parses it.
func loadAgentConfig(m *manifests) (*agentConfig, error) {
	data, err := agentConfigSource(m)
	if err != nil {
		return nil, err
	}
	return parseAgentConfig(data)
}

// appReadiness is the path and port of the app's readiness probe, or the
// contract's when the probe is missing (checkAppProbes names that).
func appReadiness(app *corev1.Container) (path, port string) {
	path, port = readinessPath, strconv.Itoa(appPort)
	if app.ReadinessProbe != nil && app.ReadinessProbe.HTTPGet != nil {
		path = app.ReadinessProbe.HTTPGet.Path
		if p, err := resolvePort(app, app.ReadinessProbe.HTTPGet.Port); err == nil {
			port = strconv.Itoa(int(p))
		}
	}
	return path, port
}

func checkAgentConfig(m *manifests) error {
	_, app, _, err := m.pod()
	if err != nil {
		return err
	}
	cfg, err := loadAgentConfig(m)
	if err != nil {
		return err
	}
	var errs []error
	if cfg.APIKey != "" {
		errs = append(errs, errors.New("agent config: apikey is set in the ConfigMap; it must come from the MACKEREL_APIKEY Secret"))
	}

	// The agent registers the host only when the same endpoint Kubernetes
	// uses for readiness answers, on the port the app really listens on.
	wantPath, wantPort := appReadiness(app)
	switch p := cfg.ReadinessProbe; {
	case p == nil || p.HTTP == nil:
		errs = append(errs, errors.New("agent config: readinessProbe.http is missing"))
	default:
		if p.HTTP.Path != wantPath {
			errs = append(errs, fmt.Errorf("agent config: readinessProbe.http.path %q, want the app's readiness path %q", p.HTTP.Path, wantPath))
		}
		if string(p.HTTP.Port) != wantPort {
			errs = append(errs, fmt.Errorf("agent config: readinessProbe.http.port %q, want the app's container port %s", p.HTTP.Port, wantPort))
		}
		if p.HTTP.Host != "" && !isLocalhost(p.HTTP.Host) {
			errs = append(errs, fmt.Errorf("agent config: readinessProbe.http.host %q: the app is in the same Pod, use localhost", p.HTTP.Host))
		}
		if p.HTTP.Scheme != "" && !strings.EqualFold(p.HTTP.Scheme, "http") {
			errs = append(errs, fmt.Errorf("agent config: readinessProbe.http.scheme %q, the app serves plain http", p.HTTP.Scheme))
		}
	}

	found := 0
	for name, p := range cfg.Plugin["metrics"] {
		args := p.Command.Args
		if len(args) == 0 || path.Base(args[0]) != pluginJSON {
			continue
		}
		found++
		where := "agent config: plugin.metrics." + name
		if !p.Command.List {
			errs = append(errs, fmt.Errorf("%s.command: use the list form (no shell, no quoting surprises)", where))
		}
		raw, ok := flagValue(args[1:], "url")
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %s has no -url", where, pluginJSON))
		} else if u, err := url.Parse(raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: -url %q: %w", where, raw, err))
		} else {
			host, port, _ := net.SplitHostPort(u.Host)
			if u.Scheme != "http" || !isLocalhost(host) || port != strconv.Itoa(appPort) || u.Path != statsPath {
				errs = append(errs, fmt.Errorf("%s: -url %q, want http://localhost:%d%s (the app's stats in the same Pod)", where, raw, appPort, statsPath))
			}
		}
		prefix, ok := flagValue(args[1:], "prefix")
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: %s has no -prefix: names would become custom.custom.*", where, pluginJSON))
		case prefix == "custom" || strings.HasPrefix(prefix, "custom."):
			errs = append(errs, fmt.Errorf("%s: -prefix=%s makes names custom.custom.*; use the app's name", where, prefix))
		case !metricNamePrefix.MatchString(prefix):
			errs = append(errs, fmt.Errorf("%s: -prefix=%q is not a valid Mackerel metric name element", where, prefix))
		}
	}
	if found != 1 {
		errs = append(errs, fmt.Errorf("agent config: want exactly one plugin.metrics entry running %s, got %d", pluginJSON, found))
	}
	return errors.Join(errs...)
}

// checkHTTPOptions are the long options of go-check-plugins' check-http
// (check-http/lib: checkHTTPOpts), each with whether it takes a value.
var checkHTTPOptions = map[string]bool{
	"url": true, "status": true, "no-check-certificate": false, "source-ip": true,
	"pattern": true, "max-redirects": true, "method": true, "connect-to": true,
	"proxy": true, "user": true, "require-bytes": true, "body": true,
	"min-bytes": true, "timeout": true, "cert-file": true, "key-file": true,
	"ca-file": true,
}

// checkHTTPArgs reads check-http's arguments. go-flags parses them the GNU
// way, where one dash starts short options (-url=x is -u with the value
// rl=x), so only --name=value, and --name for a switch, are accepted.
func checkHTTPArgs(args []string) (map[string][]string, error) {
	opts := map[string][]string{}
	var errs []error
	for _, a := range args {
		long, ok := strings.CutPrefix(a, "--")
		if !ok {
			errs = append(errs, fmt.Errorf("%s argument %q: give --name=value; a single dash starts short options", checkHTTP, a))
			continue
		}
		name, value, hasValue := strings.Cut(long, "=")
		takesValue, known := checkHTTPOptions[name]
		switch {
		case !known:
			errs = append(errs, fmt.Errorf("%s argument %q: unknown option --%s", checkHTTP, a, name))
		case takesValue != hasValue:
			errs = append(errs, fmt.Errorf("%s argument %q: --%s takes a value: %v", checkHTTP, a, name, takesValue))
		default:
			opts[name] = append(opts[name], value)
		}
	}
	return opts, errors.Join(errs...)
}

// checkHTTPState is the state check-http reports for an HTTP status under
// its --status mappings: that of the first range holding it, else OK below
// 400, WARNING below 500 and CRITICAL from 500.
func checkHTTPState(mappings []string, code int) (string, error) {
	for _, m := range mappings {
		codes, state, ok := strings.Cut(m, "=")
		lo, hi, isRange := strings.Cut(codes, "-")
		if !isRange {
			hi = lo
		}
		low, errLo := strconv.Atoi(lo)
		high, errHi := strconv.Atoi(hi)
		state = strings.ToUpper(state)
		if !ok || errLo != nil || errHi != nil || low > high || !slices.Contains([]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}, state) {
			return "", fmt.Errorf("--status=%s: want CODE[-CODE]=OK|WARNING|CRITICAL|UNKNOWN", m)
		}
		if low <= code && code <= high {
			return state, nil
		}
	}
	switch {
	case code < 400:
		return "OK", nil
	case code < 500:
		return "WARNING", nil
	}
	return "CRITICAL", nil
}

// checkHeartbeatMonitor: after readiness has passed once the agent never
// asks the heartbeat again, so a check monitor must, or a failing vital and
// a dead app are silent gaps.
func checkHeartbeatMonitor(m *manifests) error {
	_, app, _, err := m.pod()
	if err != nil {
		return err
	}
	cfg, err := loadAgentConfig(m)
	if err != nil {
		return err
	}
	wantPath, wantPort := appReadiness(app)
	var errs []error
	found := 0
	for name, p := range cfg.Plugin["checks"] {
		args := p.Command.Args
		if len(args) == 0 || path.Base(args[0]) != checkHTTP {
			continue
		}
		found++
		where := "agent config: plugin.checks." + name
		if !p.Command.List {
			errs = append(errs, fmt.Errorf("%s.command: use the list form (no shell, no quoting surprises)", where))
		}
		opts, err := checkHTTPArgs(args[1:])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if urls := opts["url"]; len(urls) != 1 {
			errs = append(errs, fmt.Errorf("%s: want one --url, got %q", where, urls))
		} else if u, err := url.Parse(urls[0]); err != nil {
			errs = append(errs, fmt.Errorf("%s: --url %q: %w", where, urls[0], err))
		} else if host, port, _ := net.SplitHostPort(u.Host); u.Scheme != "http" || !isLocalhost(host) || port != wantPort || u.Path != wantPath {
			errs = append(errs, fmt.Errorf("%s: --url %q, want http://localhost:%s%s (the app's readiness in the same Pod)", where, urls[0], wantPort, wantPath))
		}
		// go-flags keeps the last of a repeated option.
		if ms := opts["method"]; len(ms) > 0 && ms[len(ms)-1] != "GET" && ms[len(ms)-1] != "HEAD" {
			errs = append(errs, fmt.Errorf("%s: --method=%s; the heartbeat answers GET and HEAD", where, ms[len(ms)-1]))
		}
		for _, c := range []struct {
			code int
			want string
		}{{200, "OK"}, {500, "CRITICAL"}, {503, "CRITICAL"}} {
			if got, err := checkHTTPState(opts["status"], c.code); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				break
			} else if got != c.want {
				errs = append(errs, fmt.Errorf("%s: an answer %d is %s, want %s (503: a vital failed)", where, c.code, got, c.want))
			}
		}
		agentTimeout := p.TimeoutSeconds
		if agentTimeout == 0 {
			agentTimeout = agentPluginTimeout
		}
		// The agent reports a plugin it had to kill as UNKNOWN; check-http's
		// own timeout is CRITICAL. It has none by default.
		if ts := opts["timeout"]; len(ts) == 0 {
			errs = append(errs, fmt.Errorf("%s: no --timeout: check-http would wait until the agent kills it, which reports UNKNOWN, not CRITICAL", where))
		} else if n, err := strconv.Atoi(ts[len(ts)-1]); err != nil || n <= 0 || 2*n > agentTimeout {
			errs = append(errs, fmt.Errorf("%s: --timeout=%s is not well inside the agent's %d s (at most half), so a hang would not be CRITICAL", where, ts[len(ts)-1], agentTimeout))
		}
	}
	if found != 1 {
		errs = append(errs, fmt.Errorf("agent config: want exactly one plugin.checks entry running %s on the heartbeat, got %d", checkHTTP, found))
	}
	return errors.Join(errs...)
}

// checkPrefixes: the plugin's -prefix names the metrics, the app's
// KOMACHI_MACKEREL_PREFIX the graph definitions it posts; with two prefixes
// the definitions would name graphs no metric falls into. Both are the
// service's name, as OTEL_SERVICE_NAME says.
func checkPrefixes(m *manifests) error {
	_, app, _, err := m.pod()
	if err != nil {
		return err
	}
	cfg, err := loadAgentConfig(m)
	if err != nil {
		return err
	}
	var errs []error
	var prefixes []string
	for _, p := range cfg.Plugin["metrics"] {
		if args := p.Command.Args; len(args) > 0 && path.Base(args[0]) == pluginJSON {
			if v, ok := flagValue(args[1:], "prefix"); ok {
				prefixes = append(prefixes, v)
			}
		}
	}
	if len(prefixes) != 1 {
		return fmt.Errorf("agent config: want one %s -prefix, got %q", pluginJSON, prefixes)
	}
	prefix := prefixes[0]
	if prefix != serviceName {
		errs = append(errs, fmt.Errorf("agent config: %s -prefix=%s, want the service name %s", pluginJSON, prefix, serviceName))
	}
	for _, name := range []string{prefixEnv, "OTEL_SERVICE_NAME"} {
		if e, ok := findEnv(app, name); !ok || e.ValueFrom != nil || e.Value != prefix {
			errs = append(errs, fmt.Errorf("app container %q: env %s must be the literal %q, the plugin's -prefix, got %+v", app.Name, name, prefix, e))
		}
	}
	return errors.Join(errs...)
}

// checkAppAPIKey: the app posts its graph definitions with the agent's key,
// from the same Secret; optional, so the app runs without it. The key also
// turns OTLP forwarding to Mackerel's labeled metrics on, a paid option,
// unless OTEL_METRICS_EXPORTER says otherwise.
func checkAppAPIKey(m *manifests) error {
	_, app, _, err := m.pod()
	if err != nil {
		return err
	}
	var errs []error
	e, ok := findEnv(app, "MACKEREL_APIKEY")
	if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != apiKeySecret || e.ValueFrom.SecretKeyRef.Key != apiKeySecretKey {
		errs = append(errs, fmt.Errorf("app container %q: env MACKEREL_APIKEY must come from the agent's Secret, secretKeyRef {name: %s, key: %s}, so the app posts its graph definitions; got %+v",
			app.Name, apiKeySecret, apiKeySecretKey, e))
	} else if ref := e.ValueFrom.SecretKeyRef; ref.Optional == nil || !*ref.Optional {
		errs = append(errs, fmt.Errorf("app container %q: env MACKEREL_APIKEY: secretKeyRef must be optional: the app needs no key to serve", app.Name))
	}
	if e, ok := findEnv(app, "OTEL_METRICS_EXPORTER"); ok && (e.ValueFrom != nil || e.Value != "none" && e.Value != "otlp") || !ok {
		errs = append(errs, fmt.Errorf("app container %q: env OTEL_METRICS_EXPORTER must be none (or otlp, to pay for labeled metrics): MACKEREL_APIKEY alone also forwards OTLP; got %+v", app.Name, e))
	}
	return errors.Join(errs...)
}

// checkPodBudget does the arithmetic of README.md: what the agent posts of
// its own, the check monitors and /stats must fit in one micro host. The
// app's container is never ignored: its CPU and memory answer vitals that
// /stats leaves out.
func checkPodBudget(m *manifests) error {
	d, app, agent, err := m.pod()
	if err != nil {
		return err
	}
	cfg, err := loadAgentConfig(m)
	if err != nil {
		return err
	}
	ignore := cfg.IgnoreContainer
	if e, ok := findEnv(agent, "MACKEREL_IGNORE_CONTAINER"); ok && ignore == "" { // the config wins
		ignore = e.Value
	}
	var ignored *regexp.Regexp
	if ignore != "" {
		if ignored, err = regexp.Compile(ignore); err != nil {
			return fmt.Errorf("agent config: ignoreContainer: %w", err)
		}
	}
	var errs []error
	containers := 0
	for _, c := range d.Spec.Template.Spec.Containers {
		if ignored == nil || !ignored.MatchString(c.Name) {
			containers++
		} else if c.Name == app.Name {
			errs = append(errs, fmt.Errorf("agent config: ignoreContainer %q matches the app container %q: its CPU and memory would go unwatched", ignore, app.Name))
		}
	}
	checks := len(cfg.Plugin["checks"])
	if total := containers*metricsPerContainer + interfaceMetrics + checks + statsMetrics; total > microHostMetrics {
		errs = append(errs, fmt.Errorf("the Pod posts up to %d metrics (%d containers × %d, %d for the interface, %d for check monitors, %d from /stats), more than the %d a micro host includes: ignoreContainer %q in the agent config drops the agent's own %d",
			total, containers, metricsPerContainer, interfaceMetrics, checks, statsMetrics, microHostMetrics, "^"+agentName+"$", metricsPerContainer))
	}
	return errors.Join(errs...)
}

// checkKubeletAccess: with the read-only kubelet port off, the agent reads
// the kubelet with its ServiceAccount token, which needs get on three node
// subresources and nothing more.
func checkKubeletAccess(m *manifests) error {
	d, _, agent, err := m.pod()
	if err != nil {
		return err
	}
	if e, ok := findEnv(agent, readOnlyPortEnv); !ok || e.Value != "0" {
		return nil // read-only port 10255: no credentials involved
	}
	spec := d.Spec.Template.Spec
	var errs []error
	saName := spec.ServiceAccountName
	si := slices.IndexFunc(m.ServiceAccounts, func(sa *corev1.ServiceAccount) bool {
		return sa.Name == saName && sa.Namespace == d.Namespace
	})
	if saName == "" || si < 0 {
		return fmt.Errorf("Deployment %s: %s=0 needs serviceAccountName naming a ServiceAccount in the build, got %q", d.Name, readOnlyPortEnv, saName)
	}
	if spec.AutomountServiceAccountToken != nil && !*spec.AutomountServiceAccountToken ||
		spec.AutomountServiceAccountToken == nil && m.ServiceAccounts[si].AutomountServiceAccountToken != nil && !*m.ServiceAccounts[si].AutomountServiceAccountToken {
		errs = append(errs, fmt.Errorf("Deployment %s: the ServiceAccount token is not mounted; the agent reads it to call the kubelet", d.Name))
	}
	need := map[string]bool{"nodes/proxy": false, "nodes/stats": false, "nodes/spec": false}
	bound := false
	for _, b := range m.ClusterRoleBindings {
		if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == saName && s.Namespace == d.Namespace
		}) {
			continue
		}
		bound = true
		if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.APIGroup != rbacv1.GroupName {
			errs = append(errs, fmt.Errorf("ClusterRoleBinding %s: roleRef %+v must be a ClusterRole", b.Name, b.RoleRef))
			continue
		}
		ri := slices.IndexFunc(m.ClusterRoles, func(r *rbacv1.ClusterRole) bool { return r.Name == b.RoleRef.Name })
		if ri < 0 {
			errs = append(errs, fmt.Errorf("ClusterRoleBinding %s: ClusterRole %q is not in the build", b.Name, b.RoleRef.Name))
			continue
		}
		role := m.ClusterRoles[ri]
		for _, r := range role.Rules {
			extra := len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 ||
				slices.ContainsFunc(r.APIGroups, func(g string) bool { return g != "" }) ||
				slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" }) ||
				slices.ContainsFunc(r.Resources, func(res string) bool { _, ok := need[res]; return !ok })
			if extra {
				errs = append(errs, fmt.Errorf("ClusterRole %s: rule %+v grants more than get on nodes/proxy, nodes/stats, nodes/spec", role.Name, r))
				continue
			}
			if slices.Contains(r.Verbs, "get") {
				for _, res := range r.Resources {
					need[res] = true
				}
			}
		}
	}
	if !bound {
		errs = append(errs, fmt.Errorf("no ClusterRoleBinding binds ServiceAccount %s/%s (the subject's namespace must follow the Deployment's)", d.Namespace, saName))
	}
	for _, res := range slices.Sorted(maps.Keys(need)) {
		if !need[res] {
			errs = append(errs, fmt.Errorf("ServiceAccount %s/%s is not granted get on %s", d.Namespace, saName, res))
		}
	}
	return errors.Join(errs...)
}

var checks = []struct {
	name string
	fn   func(*manifests) error
}{
	{"objects", checkObjects},
	{"app-probes", checkAppProbes},
	{"app-security", checkAppSecurity},
	{"app-runtime", checkAppRuntime},
	{"service", checkService},
	{"agent-sidecar", checkAgentSidecar},
	{"agent-config", checkAgentConfig},
	{"heartbeat-monitor", checkHeartbeatMonitor},
	{"prefixes", checkPrefixes},
	{"app-api-key", checkAppAPIKey},
	{"pod-budget", checkPodBudget},
	{"kubelet-access", checkKubeletAccess},
}

func renderHere(t *testing.T) *manifests {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	m, err := render(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("rendering the kustomization: %v", err)
	}
	return m
}

func TestKustomization(t *testing.T) {
	m := renderHere(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.fn(m); err != nil {
				t.Errorf("%s:\n%v", c.name, err)
			}
		})
	}
}

// TestChecksCatchMistakes breaks one thing at a time in a copy of the
// rendered manifests and demands that the matching check names it.
func TestChecksCatchMistakes(t *testing.T) {
	good := renderHere(t)
	app := func(m *manifests) *corev1.Container { _, a, _, _ := m.pod(); return a }
	agent := func(m *manifests) *corev1.Container { _, _, a, _ := m.pod(); return a }
	editConfig := func(old, new string) func(*manifests) {
		return func(m *manifests) {
			for _, cm := range m.ConfigMaps {
				for k, v := range cm.Data {
					if !strings.Contains(v, old) {
						panic(fmt.Sprintf("ConfigMap %s/%s no longer contains %q: update this test", cm.Name, k, old))
					}
					cm.Data[k] = strings.Replace(v, old, new, 1)
				}
			}
		}
	}
	setEnv := func(c *corev1.Container, name string, ev corev1.EnvVar) {
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env[i] = ev
				return
			}
		}
		panic("no env " + name)
	}
	deleteEnv := func(c *corev1.Container, name string) {
		n := len(c.Env)
		c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
		if len(c.Env) == n {
			panic("no env " + name)
		}
	}
	literalEnv := func(name, value string) func(*manifests) {
		return func(m *manifests) { setEnv(app(m), name, corev1.EnvVar{Name: name, Value: value}) }
	}
	cases := []struct {
		name   string
		check  func(*manifests) error
		mutate func(*manifests)
		want   string
	}{
		{"readiness path", checkAppProbes, func(m *manifests) { app(m).ReadinessProbe.HTTPGet.Path = "/healthz" }, "readinessProbe path"},
		{"liveness on undeclared port", checkAppProbes, func(m *manifests) { app(m).LivenessProbe.HTTPGet.Port = intstr.FromInt32(8080) }, "not a port declared"},
		{"liveness by unknown name", checkAppProbes, func(m *manifests) { app(m).LivenessProbe.HTTPGet.Port = intstr.FromString("metrics") }, "not a port declared"},
		{"container port moved", checkAppProbes, func(m *manifests) { app(m).Ports[0].ContainerPort = 8080 }, "port http is 8080"},
		{"no startup protection", checkAppProbes, func(m *manifests) { app(m).StartupProbe = nil }, "slow start"},
		{"root allowed", checkAppSecurity, func(m *manifests) { app(m).SecurityContext.RunAsNonRoot = nil }, "runAsNonRoot"},
		{"uid 0", checkAppSecurity, func(m *manifests) { app(m).SecurityContext.RunAsUser = new(int64) }, "runAsUser is 0"},
		{"writable root fs", checkAppSecurity, func(m *manifests) { app(m).SecurityContext.ReadOnlyRootFilesystem = nil }, "readOnlyRootFilesystem"},
		{"capability kept", checkAppSecurity, func(m *manifests) { app(m).SecurityContext.Capabilities.Drop = []corev1.Capability{"NET_RAW"} }, "drop ALL"},
		{"seccomp unconfined", checkAppSecurity, func(m *manifests) {
			app(m).SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, "RuntimeDefault"},
		{"no grace", checkAppRuntime, func(m *manifests) { m.Deployments[0].Spec.Template.Spec.TerminationGracePeriodSeconds = nil }, "terminationGracePeriodSeconds"},
		{"no memory limit", checkAppRuntime, func(m *manifests) { delete(app(m).Resources.Limits, corev1.ResourceMemory) }, "limits.memory"},
		{"service misses pods", checkService, func(m *manifests) { m.Services[0].Spec.Selector = map[string]string{appLabelKey: "other"} }, "does not select"},
		{"service wrong target", checkService, func(m *manifests) { m.Services[0].Spec.Ports[0].TargetPort = intstr.FromInt32(8080) }, "targetPort"},
		{"literal API key", checkAgentSidecar, func(m *manifests) {
			setEnv(agent(m), "MACKEREL_APIKEY", corev1.EnvVar{Name: "MACKEREL_APIKEY", Value: "0123456789abcdef"})
		}, "never be a literal"},
		{"wrong agent image", checkAgentSidecar, func(m *manifests) { agent(m).Image = "mackerel/mackerel-container-agent:latest" }, "want \"mackerel/mackerel-container-agent:plugins\""},
		{"pod name literal", checkAgentSidecar, func(m *manifests) {
			setEnv(agent(m), "MACKEREL_KUBERNETES_POD_NAME", corev1.EnvVar{Name: "MACKEREL_KUBERNETES_POD_NAME", Value: "x"})
		}, "fieldRef metadata.name"},
		{"agent memory", checkAgentSidecar, func(m *manifests) { agent(m).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("64Mi") }, "128Mi"},
		{"config path outside mount", checkAgentConfig, func(m *manifests) {
			setEnv(agent(m), agentConfigEnv, corev1.EnvVar{Name: agentConfigEnv, Value: "/etc/elsewhere/mackerel.yaml"})
		}, "not inside any of its volumeMounts"},
		{"config file name", checkAgentConfig, func(m *manifests) {
			setEnv(agent(m), agentConfigEnv, corev1.EnvVar{Name: agentConfigEnv, Value: "/etc/mackerel-container-agent/agent.yaml"})
		}, "has no key \"agent.yaml\""},
		{"agent probe port", checkAgentConfig, editConfig("port: 4000", "port: 4001"), "readinessProbe.http.port \"4001\""},
		{"agent probe path", checkAgentConfig, editConfig("path: /ops/heartbeat", "path: /ops/livez"), "readinessProbe.http.path"},
		{"agent config typo", checkAgentConfig, editConfig("readinessProbe:", "readinesProbe:"), "unknown field"},
		{"agent config case", checkAgentConfig, editConfig("timeoutSeconds: 10", "TimeoutSeconds: 10"), "unknown field"},
		{"default prefix", checkAgentConfig, editConfig("-prefix=basic", "-prefix=custom"), "custom.custom"},
		{"no prefix", checkAgentConfig, editConfig("- -prefix=basic\n", ""), "no -prefix"},
		{"stats on wrong port", checkAgentConfig, editConfig("localhost:4000/ops/stats", "localhost:8080/ops/stats"), "-url"},
		{"apikey in config", checkAgentConfig, editConfig("plugin:", "apikey: abc\nplugin:"), "apikey is set"},
		{"no heartbeat check", checkHeartbeatMonitor, editConfig("- check-http ", "- check-tcp "), "want exactly one plugin.checks entry"},
		{"check flag with one dash", checkHeartbeatMonitor, editConfig("- --url=", "- -url="), "single dash"},
		{"unknown check flag", checkHeartbeatMonitor, editConfig("--timeout=3", "--timeout-seconds=3"), "unknown option --timeout-seconds"},
		{"check on liveness", checkHeartbeatMonitor, editConfig("localhost:4000/ops/heartbeat", "localhost:4000/ops/livez"), "--url"},
		{"check on wrong port", checkHeartbeatMonitor, editConfig("localhost:4000/ops/heartbeat", "localhost:8080/ops/heartbeat"), "--url"},
		{"503 is OK", checkHeartbeatMonitor, editConfig("--status=400-599=CRITICAL", "--status=500-599=OK"), "answer 503 is OK"},
		{"bad status mapping", checkHeartbeatMonitor, editConfig("--status=400-599=CRITICAL", "--status=400-599=FATAL"), "want CODE"},
		{"check without timeout", checkHeartbeatMonitor, editConfig("        - --timeout=3\n", ""), "no --timeout"},
		{"check timeout as long as the agent's", checkHeartbeatMonitor, editConfig("--timeout=3", "--timeout=10"), "not well inside"},
		{"check by POST", checkHeartbeatMonitor, editConfig("--timeout=3", "--timeout=3\n        - --method=POST"), "--method=POST"},
		{"plugin prefix not the service", checkPrefixes, editConfig("-prefix=basic", "-prefix=komachi"), "-prefix=komachi, want the service name"},
		{"graph prefix differs", checkPrefixes, literalEnv(prefixEnv, "komachi"), "env " + prefixEnv + " must be the literal \"basic\""},
		{"no graph prefix", checkPrefixes, func(m *manifests) { deleteEnv(app(m), prefixEnv) }, "env " + prefixEnv},
		{"service name differs", checkPrefixes, literalEnv("OTEL_SERVICE_NAME", "komachi-example"), "env OTEL_SERVICE_NAME must be"},
		{"app key from another Secret", checkAppAPIKey, func(m *manifests) {
			e, _ := findEnv(app(m), "MACKEREL_APIKEY")
			e.ValueFrom.SecretKeyRef.Name = "other"
		}, "the agent's Secret"},
		{"app key required", checkAppAPIKey, func(m *manifests) {
			e, _ := findEnv(app(m), "MACKEREL_APIKEY")
			e.ValueFrom.SecretKeyRef.Optional = nil
		}, "must be optional"},
		{"app key forwards OTLP", checkAppAPIKey, func(m *manifests) { deleteEnv(app(m), "OTEL_METRICS_EXPORTER") }, "OTEL_METRICS_EXPORTER"},
		{"agent container counted", checkPodBudget, editConfig("ignoreContainer: \"^mackerel-container-agent$\"\n", ""), "up to 31 metrics"},
		{"app container ignored", checkPodBudget, editConfig(`"^mackerel-container-agent$"`, `"^(mackerel-container-agent|app)$"`), "matches the app container"},
		{"ignoreContainer not a regexp", checkPodBudget, editConfig(`"^mackerel-container-agent$"`, `"^(mackerel"`), "ignoreContainer"},
		{"binding in other namespace", checkKubeletAccess, func(m *manifests) { m.ClusterRoleBindings[0].Subjects[0].Namespace = "other" }, "no ClusterRoleBinding binds"},
		{"role too broad", checkKubeletAccess, func(m *manifests) {
			m.ClusterRoles[0].Rules[0].Verbs = append(m.ClusterRoles[0].Rules[0].Verbs, "list")
		}, "grants more"},
		{"role misses stats", checkKubeletAccess, func(m *manifests) { m.ClusterRoles[0].Rules[0].Resources = []string{"nodes/proxy", "nodes/spec"} }, "get on nodes/stats"},
		{"token not mounted", checkKubeletAccess, func(m *manifests) {
			f := false
			m.Deployments[0].Spec.Template.Spec.AutomountServiceAccountToken = &f
		}, "token is not mounted"},
		{"unlabelled object", checkObjects, func(m *manifests) { delete(m.Services[0].Labels, appLabelKey) }, "label " + appLabelKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.check(good); err != nil {
				t.Fatalf("precondition: the unbroken manifests already fail: %v", err)
			}
			m := good.deepCopy()
			c.mutate(m)
			err := c.check(m)
			if err == nil {
				t.Fatalf("check passed a manifest with %s; want an error mentioning %q", c.name, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error does not mention %q:\n%v", c.want, err)
			}
		})
	}
}

// TestStrictDecoder feeds objects the API server would reject (or silently
// prune) through the same decoder the build goes through.
func TestStrictDecoder(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: app
          image: komachi-example
          %s
`
	for _, c := range []struct {
		name, doc, want string
	}{
		{"unknown field", fmt.Sprintf(deployment, "readinesProbe: {httpGet: {path: /ops/heartbeat, port: 4000}}"), "unknown field"},
		{"wrong case", fmt.Sprintf(deployment, "ReadinessProbe: {httpGet: {path: /ops/heartbeat, port: 4000}}"), "unknown field"},
		{"duplicate field", fmt.Sprintf(deployment, "image: other"), "already set"},
		{"wrong type", fmt.Sprintf(deployment, "ports: [{containerPort: \"http\"}]"), "containerPort"},
		{"unexpected kind", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\n", "unexpected object \"Ingress\""},
		{"old apiVersion", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: x}\n", "unexpected object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := (&manifests{}).add([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error mentioning %q, got %v", c.want, err)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		m := &manifests{}
		if err := m.add([]byte(fmt.Sprintf(deployment, "readinessProbe: {httpGet: {path: /ops/heartbeat, port: 4000}}"))); err != nil {
			t.Fatalf("a valid Deployment was refused: %v", err)
		}
		if len(m.Deployments) != 1 || m.Deployments[0].Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Port.IntValue() != 4000 {
			t.Fatalf("decoded wrongly: %+v", m.Deployments)
		}
	})
}

// TestNamespaceFollows renders the kustomization with another namespace:
// every check must still pass, in particular the ClusterRoleBinding's
// subject must follow the ServiceAccount (kustomize's name reference does
// that; the namespace transformer alone rewrites only subjects named
// "default").
func TestNamespaceFollows(t *testing.T) {
	mem := filesys.MakeFsInMemory()
	for _, name := range []string{"kustomization.yaml", "deployment.yaml", "service.yaml", "rbac.yaml", "mackerel.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "kustomization.yaml" {
			if !bytes.Contains(b, []byte("\nnamespace: default\n")) {
				t.Fatal("kustomization.yaml no longer sets `namespace: default`: update this test")
			}
			b = bytes.Replace(b, []byte("\nnamespace: default\n"), []byte("\nnamespace: observability\n"), 1)
		}
		if err := mem.WriteFile(filepath.Join("/k", name), b); err != nil {
			t.Fatal(err)
		}
	}
	m, err := render(mem, "/k")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Deployments[0].Namespace; got != "observability" {
		t.Fatalf("Deployment namespace %q, want observability", got)
	}
	for _, c := range checks {
		if err := c.fn(m); err != nil {
			t.Errorf("%s in namespace observability:\n%v", c.name, err)
		}
	}

}

// TestDockerfile checks what can be checked without a Docker engine: the
// stages, build flags, port and user the manifests rely on.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	type instr struct{ op, args string }
	var stages [][]instr
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, args, _ := strings.Cut(line, " ")
		op = strings.ToUpper(op)
		if op == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", op)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], instr{op, strings.Join(strings.Fields(args), " ")})
	}
	if len(stages) != 2 {
		t.Fatalf("Dockerfile: want 2 stages (build, run), got %d", len(stages))
	}
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goVer == nil {
		t.Fatal("../../go.mod has no go directive")
	}
	if from := stages[0][0].args; !strings.HasPrefix(from, "golang:"+string(goVer[1])+" ") && !strings.HasPrefix(from, "golang:"+string(goVer[1])+"-") {
		t.Errorf("Dockerfile: builder %q, want golang:%s (the root module's go directive)", from, goVer[1])
	}
	var build string
	for _, in := range stages[0] {
		if in.op == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`, "./examples/basic"} {
		if !strings.Contains(build, want) {
			t.Errorf("Dockerfile: go build step %q lacks %s", build, want)
		}
	}
	final := stages[1]
	if base := final[0].args; base != "gcr.io/distroless/static-debian12:nonroot" && base != "scratch" {
		t.Errorf("Dockerfile: final base %q, want gcr.io/distroless/static-debian12:nonroot or scratch", base)
	}
	var expose, user string
	for _, in := range final {
		switch in.op {
		case "EXPOSE":
			expose = in.args
		case "USER":
			user = in.args
		}
	}
	if !slices.Contains(strings.Fields(expose), strconv.Itoa(appPort)) {
		t.Errorf("Dockerfile: EXPOSE %q, want %d", expose, appPort)
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("Dockerfile: USER %q, want a numeric non-root uid (runAsNonRoot cannot verify a user name)", user)
	}
}

// TestBasicAddrDefault: the manifests assume examples/basic listens on
// :4000 when given no -addr or PORT.
func TestBasicAddrDefault(t *testing.T) {
	t.Run("basic-addr-default", func(t *testing.T) {
		src, err := os.ReadFile("../basic/main.go")
		if errors.Is(err, os.ErrNotExist) {
			t.Skip("../basic/main.go does not exist yet")
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(":%d", appPort); !bytes.Contains(src, []byte(want)) {
			t.Errorf("../basic/main.go never mentions %q, but the manifests expect the app on port %d", want, appPort)
		}
	})
}
