package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/config"
)

// The deploy files are checked here, in CI, because nothing else runs them: a typo in a
// manifest or in compose.yaml would otherwise be found by an operator, in production.

var deployDir = filepath.Join("..", "..", "deploy")

const (
	k8sNamespace = "voix"
	placeholder  = "REPLACE_ME"
)

// voixBinaries are the commands of the image that run as long-lived containers, and the gRPC
// ones among them.
var (
	voixBinaries = []string{"pulse", "feedback", "sentiment", "gateway"}
	grpcBinaries = []string{"pulse", "feedback", "sentiment"}
)

// knownEnv is every VOIX_* variable the binary reads: its flags through config.ApplyEnv, and
// the variables its main reads itself. The extra flags repeat those that the mains in
// services/*/cmd define beyond config.Service: keep them in step.
func knownEnv(t *testing.T, bin string) map[string]bool {
	t.Helper()
	fs := flag.NewFlagSet(bin, flag.ContinueOnError)
	var c config.Service
	extra := map[string][]string{
		"pulse":     {"schedule-every"},
		"feedback":  {"comment-threshold", "daily-limit", "ack-deadline", "resolve-deadline", "notify-allow"},
		"sentiment": {"language", "min-confidence"},
		"gateway": {"listen", "data-dir", "feedback-addr", "pulse-addr", "sentiment-addr", "directory-file", "tokens-file", "workspace",
			"service-tls-ca", "service-tls-cert", "service-tls-key", "service-tls-server-name"},
	}
	switch bin {
	case "pulse", "feedback", "sentiment":
		c.Register(fs, "127.0.0.1:0")
	case "gateway":
		c.RegisterSecret(fs)
		c.RegisterClock(fs)
	default:
		t.Fatalf("no known environment for binary %q", bin)
	}
	env := map[string]bool{anonymity.SecretEnv: true}
	fs.VisitAll(func(f *flag.Flag) { env[config.EnvName(f.Name)] = true })
	for _, name := range extra[bin] {
		env[config.EnvName(name)] = true
	}
	if bin == "gateway" {
		env["VOIX_WORKSPACES"] = true
		env["VOIX_SLACK_SIGNING_SECRET"] = true
		env["VOIX_GATEWAY_TOKEN"] = true
	}
	return env
}

// forbiddenEnv are flags that have no place in a deployment: --create-secret makes a secret of
// a service's own (every service must share one), --clock-offset is for audits and demos.
var forbiddenEnv = []string{config.EnvName("create-secret"), config.EnvName("clock-offset")}

// checkEnv reports VOIX_* names the binary does not read (a typo is a setting silently
// ignored) and settings that must not be used in a deployment.
func checkEnv(t *testing.T, where, bin string, env map[string]string) {
	t.Helper()
	known := knownEnv(t, bin)
	for name := range env {
		if strings.HasPrefix(name, "VOIX_") && !known[name] {
			t.Errorf("%s: %s is not read by %s (a typo?)", where, name, bin)
		}
		if slices.Contains(forbiddenEnv, name) {
			t.Errorf("%s: %s must not be set in a deployment", where, name)
		}
	}
	// Three NATS nodes: three copies of each stream, once the binaries can be told so.
	if name := config.EnvName("stream-replicas"); known[name] && bin != "gateway" && env[name] != "3" {
		t.Errorf("%s: %s=%q, want 3 on the three-node NATS cluster", where, name, env[name])
	}
	for _, name := range []string{"VOIX_DATA_DIR", "VOIX_LISTEN", "VOIX_SECRET_FILE", "VOIX_TOKENS_FILE"} {
		if env[name] == "" {
			t.Errorf("%s: %s is not set", where, name)
		}
	}
	if _, port, err := net.SplitHostPort(env["VOIX_LISTEN"]); err != nil || port == "0" {
		t.Errorf("%s: VOIX_LISTEN=%q is not host:port", where, env["VOIX_LISTEN"])
	}
	if host, _, _ := net.SplitHostPort(env["VOIX_LISTEN"]); host != "0.0.0.0" {
		t.Errorf("%s: VOIX_LISTEN=%q: a container must listen on 0.0.0.0 to be reached", where, env["VOIX_LISTEN"])
	}
}

func listenPort(env map[string]string) int {
	_, port, _ := net.SplitHostPort(env["VOIX_LISTEN"])
	n, _ := strconv.Atoi(port)
	return n
}

// ---- Kubernetes ----

type k8sObject struct {
	where string // file#document
	kind  string
	name  string
	obj   any
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeStrict decodes one YAML document into obj as the API server would, only stricter: a
// duplicate key, or a field the type does not have, is an error. sigs.k8s.io/yaml's own
// UnmarshalStrict goes through encoding/json, which matches field names case-insensitively,
// so "readOnlyRootFileSystem" would pass there and be dropped by the API server; the
// Kubernetes JSON decoder (sigs.k8s.io/json) matches them exactly.
func decodeStrict(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeManifests decodes every document of every .yaml file under dir strictly into its API
// type: an unknown or misspelt field, a duplicate key or an unknown kind fails.
func decodeManifests(t *testing.T, dir string) []k8sObject {
	t.Helper()
	var objs []k8sObject
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: not a .yaml file in the manifests folder", path)
			return nil
		}
		if filepath.Base(path) == "kustomization.yaml" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, doc := range docSeparator.Split(string(data), -1) {
			where := fmt.Sprintf("%s#%d", strings.TrimPrefix(path, deployDir+string(filepath.Separator)), i)
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if head.APIVersion == "" && head.Kind == "" {
				var any map[string]any
				if err := yaml.Unmarshal([]byte(doc), &any); err == nil && len(any) == 0 {
					continue // comments only
				}
			}
			var obj any
			switch head.APIVersion + " " + head.Kind {
			case "v1 Namespace":
				obj = &corev1.Namespace{}
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "apps/v1 StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "networking.k8s.io/v1 NetworkPolicy":
				obj = &networkingv1.NetworkPolicy{}
			default:
				t.Errorf("%s: unknown apiVersion/kind %q %q: add it to this test, with its checks", where, head.APIVersion, head.Kind)
				continue
			}
			if err := decodeStrict([]byte(doc), obj); err != nil {
				t.Errorf("%s (%s %s): %v", where, head.Kind, head.Metadata.Name, err)
				continue
			}
			objs = append(objs, k8sObject{where: where, kind: head.Kind, name: head.Metadata.Name, obj: obj})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

type podTemplate struct {
	owner  string
	labels map[string]string
	spec   *corev1.PodSpec
}

type k8sSet struct {
	objs       []k8sObject
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	services   map[string]*corev1.Service
	sets       map[string]*appsv1.StatefulSet
	policies   []*networkingv1.NetworkPolicy
	pods       []podTemplate
}

func indexManifests(t *testing.T, objs []k8sObject) *k8sSet {
	t.Helper()
	s := &k8sSet{objs: objs, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		services: map[string]*corev1.Service{}, sets: map[string]*appsv1.StatefulSet{}}
	seen := map[string]string{}
	namespaces := 0
	for _, o := range objs {
		key := o.kind + "/" + o.name
		if prev, dup := seen[key]; dup {
			t.Errorf("%s: %s is also defined in %s", o.where, key, prev)
		}
		seen[key] = o.where
		if o.name == "" {
			t.Errorf("%s: %s without metadata.name", o.where, o.kind)
		}
		var meta *metav1.ObjectMeta
		switch v := o.obj.(type) {
		case *corev1.Namespace:
			namespaces++
			if v.Name != k8sNamespace {
				t.Errorf("%s: namespace %q, want %q", o.where, v.Name, k8sNamespace)
			}
			continue
		case *corev1.ConfigMap:
			meta, s.configMaps[v.Name] = &v.ObjectMeta, v
		case *corev1.Secret:
			meta, s.secrets[v.Name] = &v.ObjectMeta, v
		case *corev1.Service:
			meta, s.services[v.Name] = &v.ObjectMeta, v
		case *appsv1.StatefulSet:
			meta, s.sets[v.Name] = &v.ObjectMeta, v
			s.pods = append(s.pods, podTemplate{owner: o.where + " " + v.Name, labels: v.Spec.Template.Labels, spec: &v.Spec.Template.Spec})
		case *networkingv1.NetworkPolicy:
			meta = &v.ObjectMeta
			s.policies = append(s.policies, v)
		}
		if meta.Namespace != k8sNamespace {
			t.Errorf("%s: %s %s is in namespace %q, want %q", o.where, o.kind, o.name, meta.Namespace, k8sNamespace)
		}
	}
	if namespaces != 1 {
		t.Errorf("want one Namespace manifest, got %d", namespaces)
	}
	return s
}

// podsMatching returns the pod templates sel selects.
func (s *k8sSet) podsMatching(t *testing.T, where string, sel *metav1.LabelSelector) []podTemplate {
	t.Helper()
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s: selector: %v", where, err)
		return nil
	}
	var out []podTemplate
	for _, p := range s.pods {
		if selector.Matches(labels.Set(p.labels)) {
			out = append(out, p)
		}
	}
	return out
}

func hasContainerPort(pods []podTemplate, port intstr.IntOrString, protocol corev1.Protocol) bool {
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	for _, p := range pods {
		for _, c := range p.spec.Containers {
			for _, cp := range c.Ports {
				proto := cp.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				if proto != protocol {
					continue
				}
				if (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
					return true
				}
			}
		}
	}
	return false
}

// containerEnv is the container's environment as the process sees it: the ConfigMaps of
// envFrom, then env. Values from Secrets read "secret:<name>/<key>".
func (s *k8sSet) containerEnv(t *testing.T, where string, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := s.configMaps[from.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom ConfigMap %q is not defined", where, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			sec, ok := s.secrets[from.SecretRef.Name]
			if !ok {
				t.Errorf("%s: envFrom Secret %q is not defined", where, from.SecretRef.Name)
				continue
			}
			for k := range sec.StringData {
				env[from.Prefix+k] = "secret:" + sec.Name + "/" + k
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s.checkSecretKey(t, where+" env "+e.Name, ref.Name, ref.Key)
			env[e.Name] = "secret:" + ref.Name + "/" + ref.Key
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := s.configMaps[ref.Name]
			if !ok {
				t.Errorf("%s: env %s: ConfigMap %q is not defined", where, e.Name, ref.Name)
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Errorf("%s: env %s: ConfigMap %q has no key %q", where, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "field:" + e.ValueFrom.FieldRef.FieldPath
		default:
			t.Errorf("%s: env %s: unsupported valueFrom", where, e.Name)
		}
	}
	return env
}

func (s *k8sSet) checkSecretKey(t *testing.T, where, name, key string) {
	t.Helper()
	sec, ok := s.secrets[name]
	if !ok {
		t.Errorf("%s: Secret %q is not defined (secrets/secrets.example.yaml)", where, name)
		return
	}
	_, inString := sec.StringData[key]
	_, inData := sec.Data[key]
	if !inString && !inData {
		t.Errorf("%s: Secret %q has no key %q", where, name, key)
	}
}

// mountedFile reports whether path is a file that a volume of the pod provides: a key of a
// Secret or ConfigMap volume mounted read-only. It returns the Secret's name, if any.
func (s *k8sSet) mountedFile(t *testing.T, where string, spec *corev1.PodSpec, c *corev1.Container, path string) (secret string, ok bool) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") || rel == "." {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			if !m.ReadOnly {
				t.Errorf("%s: volume %s at %s holds a Secret and is not mounted readOnly", where, m.Name, m.MountPath)
			}
			for _, item := range v.Secret.Items {
				if item.Path == rel {
					s.checkSecretKey(t, where+" volume "+v.Name, v.Secret.SecretName, item.Key)
					return v.Secret.SecretName, true
				}
			}
			if len(v.Secret.Items) == 0 {
				s.checkSecretKey(t, where+" volume "+v.Name, v.Secret.SecretName, rel)
				return v.Secret.SecretName, true
			}
		}
	}
	return "", false
}

func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join(deployDir, "kubernetes")
	objs := decodeManifests(t, dir)
	if len(objs) == 0 {
		t.Fatalf("no manifests under %s", dir)
	}
	s := indexManifests(t, objs)

	t.Run("kustomization", func(t *testing.T) { checkKustomization(t, dir) })
	t.Run("secrets are placeholders", func(t *testing.T) {
		for _, sec := range s.secrets {
			for k, v := range sec.StringData {
				if !strings.Contains(v, placeholder) {
					t.Errorf("Secret %s key %s holds a value that is not a placeholder: secrets never go into the repository", sec.Name, k)
				}
			}
			for k, v := range sec.Data {
				if !bytes.Contains(v, []byte(placeholder)) {
					t.Errorf("Secret %s key %s holds a value that is not a placeholder: secrets never go into the repository", sec.Name, k)
				}
			}
		}
	})
	t.Run("pods", func(t *testing.T) {
		for _, p := range s.pods {
			checkPodSecurity(t, p.owner, p.spec)
			for _, v := range p.spec.Volumes {
				if v.Secret != nil {
					if _, ok := s.secrets[v.Secret.SecretName]; !ok {
						t.Errorf("%s: volume %s: Secret %q is not defined", p.owner, v.Name, v.Secret.SecretName)
					}
				}
				if v.ConfigMap != nil {
					if _, ok := s.configMaps[v.ConfigMap.Name]; !ok {
						t.Errorf("%s: volume %s: ConfigMap %q is not defined", p.owner, v.Name, v.ConfigMap.Name)
					}
				}
			}
		}
	})
	t.Run("statefulsets", func(t *testing.T) {
		for _, set := range s.sets {
			checkStatefulSetBasics(t, s, set)
		}
	})
	t.Run("voix services", func(t *testing.T) { checkVoixStatefulSets(t, s) })
	t.Run("nats", func(t *testing.T) { checkNATS(t, s) })
	t.Run("services", func(t *testing.T) {
		for _, svc := range s.services {
			where := "Service " + svc.Name
			if len(svc.Spec.Selector) == 0 {
				t.Errorf("%s: no selector", where)
				continue
			}
			pods := s.podsMatching(t, where, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
			if len(pods) == 0 {
				t.Errorf("%s: selector %v matches no pod template", where, svc.Spec.Selector)
			}
			for _, port := range svc.Spec.Ports {
				target := port.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(port.Port)
				}
				if !hasContainerPort(pods, target, port.Protocol) {
					t.Errorf("%s: port %s targets %s, which no selected container exposes", where, port.Name, target.String())
				}
			}
		}
	})
	t.Run("network policies", func(t *testing.T) { checkNetworkPolicies(t, s) })
}

func checkKustomization(t *testing.T, dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
		Images     []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := decodeStrict(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: apiVersion/kind %q %q", k.APIVersion, k.Kind)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		if !e.IsDir() && e.Name() != "kustomization.yaml" {
			want = append(want, e.Name())
		}
	}
	got := slices.Clone(k.Resources)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources %v, want every manifest of the folder %v (and no Secret)", got, want)
	}
	if len(k.Images) != 1 || k.Images[0].Name != "voix" {
		t.Errorf("kustomization.yaml: want one images entry for voix, got %+v", k.Images)
	}
}

func checkPodSecurity(t *testing.T, owner string, spec *corev1.PodSpec) {
	t.Helper()
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false: no voix process talks to the API server", owner)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("%s: uses a host namespace", owner)
	}
	podSC := spec.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	if podSC.SeccompProfile == nil || podSC.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: want seccompProfile RuntimeDefault", owner)
	}
	all := append(slices.Clone(spec.InitContainers), spec.Containers...)
	if len(spec.Containers) == 0 {
		t.Errorf("%s: no containers", owner)
	}
	for _, c := range all {
		where := owner + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", where)
			continue
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = podSC.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			t.Errorf("%s: runAsNonRoot is not true", where)
		}
		uid := sc.RunAsUser
		if uid == nil {
			uid = podSC.RunAsUser
		}
		if uid != nil && *uid == 0 {
			t.Errorf("%s: runs as uid 0", where)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", where)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities must drop ALL and add none", where)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: no %s request", where, r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				t.Errorf("%s: no %s limit", where, r)
			}
		}
		if c.Image == "" || strings.HasSuffix(c.Image, ":latest") {
			t.Errorf("%s: image %q: pin a tag", where, c.Image)
		}
	}
	for _, c := range spec.Containers {
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("%s container %s: want readiness and liveness probes", owner, c.Name)
		}
	}
}

func checkStatefulSetBasics(t *testing.T, s *k8sSet, set *appsv1.StatefulSet) {
	where := "StatefulSet " + set.Name
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Errorf("%s: bad or empty selector: %v", where, err)
	} else if !sel.Matches(labels.Set(set.Spec.Template.Labels)) {
		t.Errorf("%s: selector does not match its pod template's labels", where)
	}
	headless, ok := s.services[set.Spec.ServiceName]
	switch {
	case !ok:
		t.Errorf("%s: serviceName %q is not a Service here", where, set.Spec.ServiceName)
	case headless.Spec.ClusterIP != corev1.ClusterIPNone:
		t.Errorf("%s: serviceName %q is not headless (clusterIP: None)", where, set.Spec.ServiceName)
	case !labels.SelectorFromSet(headless.Spec.Selector).Matches(labels.Set(set.Spec.Template.Labels)):
		t.Errorf("%s: headless Service %s does not select its pods", where, headless.Name)
	}
	// A ClusterIP Service next to the headless one: what clients use.
	clusterIP := false
	for _, svc := range s.services {
		if svc.Spec.ClusterIP != corev1.ClusterIPNone && len(svc.Spec.Selector) > 0 &&
			labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(set.Spec.Template.Labels)) {
			clusterIP = true
		}
	}
	if !clusterIP {
		t.Errorf("%s: no ClusterIP Service selects its pods", where)
	}
	claims := map[string]bool{}
	for _, vct := range set.Spec.VolumeClaimTemplates {
		claims[vct.Name] = true
		if _, ok := vct.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			t.Errorf("%s: volumeClaimTemplate %s requests no storage", where, vct.Name)
		}
	}
	for _, c := range set.Spec.Template.Spec.Containers {
		for _, m := range c.VolumeMounts {
			declared := claims[m.Name] || slices.ContainsFunc(set.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
			if !declared {
				t.Errorf("%s container %s: volumeMount %s has no volume or claim", where, c.Name, m.Name)
			}
		}
	}
}

func checkVoixStatefulSets(t *testing.T, s *k8sSet) {
	found := map[string]bool{}
	for _, set := range s.sets {
		spec := &set.Spec.Template.Spec
		var bin string
		for _, c := range spec.Containers {
			if len(c.Command) > 0 && strings.HasPrefix(c.Command[0], "/usr/local/bin/") {
				bin = filepath.Base(c.Command[0])
			}
		}
		if bin == "" {
			continue
		}
		where := "StatefulSet " + set.Name
		if !slices.Contains(voixBinaries, bin) {
			t.Errorf("%s: runs %q, which is not one of %v", where, bin, voixBinaries)
			continue
		}
		if found[bin] {
			t.Errorf("%s: a second StatefulSet runs %s", where, bin)
		}
		found[bin] = true
		// bbolt: one process per store.
		if set.Spec.Replicas == nil || *set.Spec.Replicas != 1 {
			t.Errorf("%s: replicas must be exactly 1 (set, not defaulted): its store is a single-writer bbolt file", where)
		}
		if len(spec.Containers) != 1 {
			t.Errorf("%s: want one container, got %d", where, len(spec.Containers))
			continue
		}
		c := &spec.Containers[0]
		cwhere := where + " container " + c.Name
		if len(c.Command) != 1 || len(c.Args) != 0 {
			t.Errorf("%s: settings go in the environment (VOIX_*), not in args: %v %v", cwhere, c.Command, c.Args)
		}
		env := s.containerEnv(t, cwhere, c)
		checkEnv(t, cwhere, bin, env)

		dataDir := env["VOIX_DATA_DIR"]
		var claim string
		for _, m := range c.VolumeMounts {
			if m.MountPath == dataDir {
				claim = m.Name
			}
		}
		if !slices.ContainsFunc(set.Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == claim }) {
			t.Errorf("%s: VOIX_DATA_DIR=%q is not the mount of a volumeClaimTemplate: the store would not survive the pod", cwhere, dataDir)
		}
		if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Errorf("%s: persistentVolumeClaimRetentionPolicy.whenDeleted must be Retain: the claim holds the only copy of the store", where)
		}
		if sec, ok := s.mountedFile(t, cwhere, spec, c, env["VOIX_SECRET_FILE"]); !ok || sec != "voix-secret" {
			t.Errorf("%s: VOIX_SECRET_FILE=%q is not a file of the Secret voix-secret mounted in the container", cwhere, env["VOIX_SECRET_FILE"])
		}
		if sec, ok := s.mountedFile(t, cwhere, spec, c, env["VOIX_TOKENS_FILE"]); !ok || sec != "voix-tokens" {
			t.Errorf("%s: VOIX_TOKENS_FILE=%q is not a file of the Secret voix-tokens mounted in the container", cwhere, env["VOIX_TOKENS_FILE"])
		}
		if env[anonymity.SecretEnv] != "" {
			t.Errorf("%s: set the secret as a file (VOIX_SECRET_FILE), not in %s", cwhere, anonymity.SecretEnv)
		}

		port := listenPort(env)
		if !hasContainerPort([]podTemplate{{spec: spec}}, intstr.FromInt(port), corev1.ProtocolTCP) {
			t.Errorf("%s: VOIX_LISTEN port %d is not a containerPort", cwhere, port)
		}
		probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
		for name, p := range probes {
			if p == nil {
				continue
			}
			if slices.Contains(grpcBinaries, bin) {
				// Kubernetes' gRPC probes cannot speak TLS: with VOIX_TLS_CERT, grpc-health-probe
				// (in the image) runs with the CA and a client certificate.
				if env["VOIX_TLS_CERT"] != "" {
					if p.Exec == nil || len(p.Exec.Command) < 2 || p.Exec.Command[0] != "/usr/local/bin/grpc-health-probe" ||
						!slices.Contains(p.Exec.Command, fmt.Sprintf("-addr=127.0.0.1:%d", port)) || !slices.Contains(p.Exec.Command, "-tls") {
						t.Errorf("%s: %s probe must exec /usr/local/bin/grpc-health-probe -addr=127.0.0.1:%d -tls (gRPC over TLS)", cwhere, name, port)
					}
					for _, arg := range p.Exec.Command {
						if _, file, ok := strings.Cut(arg, "-tls-client-key="); ok {
							if _, mounted := s.mountedFile(t, cwhere, spec, c, file); !mounted {
								t.Errorf("%s: %s probe's %s is not mounted", cwhere, name, arg)
							}
						}
					}
					continue
				}
				if p.GRPC == nil || int(p.GRPC.Port) != port {
					t.Errorf("%s: %s probe must be Kubernetes' gRPC probe on the listen port %d", cwhere, name, port)
				}
				continue
			}
			// The gateway serves HTTP without a health endpoint.
			if p.TCPSocket == nil || !hasContainerPort([]podTemplate{{spec: spec}}, p.TCPSocket.Port, corev1.ProtocolTCP) {
				t.Errorf("%s: %s probe must be a tcpSocket probe on a container port", cwhere, name)
			} else if p.TCPSocket.Port.Type == intstr.Int && int(p.TCPSocket.Port.IntVal) != port {
				t.Errorf("%s: %s probe port %s, want the listen port %d", cwhere, name, p.TCPSocket.Port.String(), port)
			}
		}
		if bin == "gateway" {
			for _, name := range []string{"VOIX_SLACK_SIGNING_SECRET", "VOIX_GATEWAY_TOKEN"} {
				if !strings.HasPrefix(env[name], "secret:") {
					t.Errorf("%s: %s must come from a Secret", cwhere, name)
				}
			}
			if !strings.Contains(env["VOIX_FEEDBACK_ADDR"], "feedback") {
				t.Errorf("%s: VOIX_FEEDBACK_ADDR=%q does not name the feedback Service", cwhere, env["VOIX_FEEDBACK_ADDR"])
			}
		} else {
			if env["VOIX_NATS_PASSWORD"] != "secret:voix-nats/services-password" {
				t.Errorf("%s: VOIX_NATS_PASSWORD must come from the Secret voix-nats, key services-password", cwhere)
			}
			if env["VOIX_NATS_USER"] != "services" {
				t.Errorf("%s: VOIX_NATS_USER=%q, want services (deploy/nats/accounts.conf)", cwhere, env["VOIX_NATS_USER"])
			}
		}
	}
	for _, bin := range voixBinaries {
		if !found[bin] {
			t.Errorf("no StatefulSet runs %s", bin)
		}
	}
}

var confVar = regexp.MustCompile(`\$(VOIX_[A-Z0-9_]+)`)

func checkNATS(t *testing.T, s *k8sSet) {
	cm, ok := s.configMaps["nats-config"]
	if !ok {
		t.Fatal("no ConfigMap nats-config")
	}
	files, err := filepath.Glob(filepath.Join(deployDir, "nats", "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("deploy/nats/*.conf: %v", err)
	}
	var vars []string
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		if got, ok := cm.Data[name]; !ok {
			t.Errorf("ConfigMap nats-config has no %s", name)
		} else if got != string(want) {
			t.Errorf("ConfigMap nats-config %s differs from deploy/nats/%s: copy the file into deploy/kubernetes/nats.yaml", name, name)
		}
		for _, m := range confVar.FindAllStringSubmatch(string(want), -1) {
			if !slices.Contains(vars, m[1]) {
				vars = append(vars, m[1])
			}
		}
	}
	if len(cm.Data) != len(files) {
		t.Errorf("ConfigMap nats-config has %d files, deploy/nats has %d", len(cm.Data), len(files))
	}

	set, ok := s.sets["nats"]
	if !ok {
		t.Fatal("no StatefulSet nats")
	}
	if set.Spec.Replicas == nil || *set.Spec.Replicas != 3 {
		t.Errorf("StatefulSet nats: want 3 replicas, as the routes in deploy/nats say")
	}
	// Pods nats-1..3: each loads the file of its name, whose server_name and routes say so.
	if set.Spec.Ordinals == nil || set.Spec.Ordinals.Start != 1 {
		t.Errorf("StatefulSet nats: ordinals.start must be 1, so that the pods are nats-1..3 as in deploy/nats")
	}
	for i := int32(1); set.Spec.Replicas != nil && i <= *set.Spec.Replicas; i++ {
		if _, ok := cm.Data[fmt.Sprintf("nats-%d.conf", i)]; !ok {
			t.Errorf("StatefulSet nats: pod nats-%d has no nats-%d.conf", i, i)
		}
	}
	c := set.Spec.Template.Spec.Containers[0]
	env := s.containerEnv(t, "StatefulSet nats", &c)
	for _, v := range vars {
		if !strings.HasPrefix(env[v], "secret:") {
			t.Errorf("StatefulSet nats: %s (used by deploy/nats) must be set from a Secret, or nats-server will not start", v)
		}
	}
	if env["POD_NAME"] != "field:metadata.name" || !slices.Contains(c.Args, "/etc/nats/$(POD_NAME).conf") {
		t.Errorf("StatefulSet nats: want --config /etc/nats/$(POD_NAME).conf with POD_NAME from metadata.name, got args %v", c.Args)
	}
	var search []string
	if dc := set.Spec.Template.Spec.DNSConfig; dc != nil {
		search = dc.Searches
	}
	if want := set.Spec.ServiceName + "." + k8sNamespace + ".svc.cluster.local"; !slices.Contains(search, want) {
		t.Errorf("StatefulSet nats: DNS search %v lacks %s: the routes nats-N:6222 would not resolve", search, want)
	}
	if h := s.services[set.Spec.ServiceName]; h == nil || !h.Spec.PublishNotReadyAddresses {
		t.Errorf("StatefulSet nats: its headless Service must publishNotReadyAddresses, or the routes cannot form before readiness")
	}
	if cfg := s.configMaps["voix-services"]; cfg == nil || !strings.Contains(cfg.Data["VOIX_NATS_URL"], "nats") {
		t.Errorf("ConfigMap voix-services: VOIX_NATS_URL does not point at NATS")
	}
}

func checkNetworkPolicies(t *testing.T, s *k8sSet) {
	defaultDeny := false
	for _, np := range s.policies {
		where := "NetworkPolicy " + np.Name
		sel := np.Spec.PodSelector
		types := np.Spec.PolicyTypes
		if len(types) == 0 {
			t.Errorf("%s: set policyTypes explicitly", where)
		}
		if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 &&
			slices.Contains(types, networkingv1.PolicyTypeIngress) && slices.Contains(types, networkingv1.PolicyTypeEgress) &&
			len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 {
			defaultDeny = true
			continue
		}
		targets := s.podsMatching(t, where, &sel)
		if len(targets) == 0 {
			t.Errorf("%s: podSelector matches no pod template (a typo in a label?)", where)
		}
		for i, rule := range np.Spec.Ingress {
			for _, peer := range rule.From {
				checkPeer(t, s, fmt.Sprintf("%s ingress[%d]", where, i), peer)
			}
			for _, p := range rule.Ports {
				if p.Port != nil && !hasContainerPort(targets, *p.Port, ptrOr(p.Protocol)) {
					t.Errorf("%s ingress[%d]: port %s is not a container port of the selected pods", where, i, p.Port.String())
				}
			}
		}
		for i, rule := range np.Spec.Egress {
			var peers []podTemplate
			inNamespace := true
			for _, peer := range rule.To {
				peers = append(peers, checkPeer(t, s, fmt.Sprintf("%s egress[%d]", where, i), peer)...)
				inNamespace = inNamespace && peer.NamespaceSelector == nil && peer.IPBlock == nil
			}
			if !inNamespace || len(rule.To) == 0 {
				continue
			}
			for _, p := range rule.Ports {
				if p.Port != nil && !hasContainerPort(peers, *p.Port, ptrOr(p.Protocol)) {
					t.Errorf("%s egress[%d]: port %s is not a container port of the destination pods", where, i, p.Port.String())
				}
			}
		}
	}
	if !defaultDeny {
		t.Error("no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)")
	}
}

// checkPeer checks that an in-namespace pod selector selects some pod, and returns them.
func checkPeer(t *testing.T, s *k8sSet, where string, peer networkingv1.NetworkPolicyPeer) []podTemplate {
	t.Helper()
	if peer.NamespaceSelector != nil || peer.IPBlock != nil || peer.PodSelector == nil {
		return nil
	}
	pods := s.podsMatching(t, where, peer.PodSelector)
	if len(pods) == 0 {
		t.Errorf("%s: peer podSelector %v matches no pod template in %s", where, peer.PodSelector.MatchLabels, k8sNamespace)
	}
	return pods
}

func ptrOr(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return corev1.ProtocolTCP
	}
	return *p
}

// ---- docker compose ----

type composeHealthcheck struct {
	Test []string `json:"test"`
}

type composeService struct {
	Image       string                       `json:"image"`
	Build       *struct{ Dockerfile string } `json:"build"`
	Command     []string                     `json:"command"`
	Entrypoint  []string                     `json:"entrypoint"`
	Environment map[string]string            `json:"environment"`
	Volumes     []string                     `json:"volumes"`
	Secrets     []string                     `json:"secrets"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Healthcheck *composeHealthcheck `json:"healthcheck"`
	User        string              `json:"user"`
	ReadOnly    bool                `json:"read_only"`
	CapDrop     []string            `json:"cap_drop"`
}

type composeFile struct {
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
	Secrets  map[string]struct {
		File string `json:"file"`
	} `json:"secrets"`
}

// composeServiceKeys are the compose service attributes these files use; anything else is
// probably a typo that compose would reject or, worse, ignore.
var composeServiceKeys = []string{"image", "build", "command", "entrypoint", "environment", "volumes", "secrets",
	"depends_on", "healthcheck", "user", "read_only", "cap_drop", "security_opt", "restart", "ports",
	"stop_grace_period"}

var composeVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}`)

func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var keys struct {
		Services map[string]map[string]json.RawMessage `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	for name, svc := range keys.Services {
		for k := range svc {
			if !slices.Contains(composeServiceKeys, k) {
				t.Errorf("compose service %s: unexpected key %q", name, k)
			}
		}
	}

	want := append([]string{"nats-1", "nats-2", "nats-3"}, voixBinaries...)
	var got []string
	for name := range f.Services {
		got = append(got, name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("compose services %v, want %v", got, want)
	}

	dataVolumes := map[string]string{}
	image := f.Services["pulse"].Image
	for _, bin := range voixBinaries {
		svc := f.Services[bin]
		where := "compose service " + bin
		if svc.Image == "" || svc.Image != image {
			t.Errorf("%s: image %q, want the one voix image %q for every service", where, svc.Image, image)
		}
		if svc.Build == nil || svc.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: want build from deploy/Dockerfile", where)
		}
		if !slices.Equal(svc.Command, []string{"/usr/local/bin/" + bin}) {
			t.Errorf("%s: command %v, want [/usr/local/bin/%s] (settings in the environment)", where, svc.Command, bin)
		}
		if svc.User == "" || svc.User == "0" || strings.HasPrefix(svc.User, "0:") || strings.HasPrefix(svc.User, "root") {
			t.Errorf("%s: user %q: run as non-root", where, svc.User)
		}
		if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") {
			t.Errorf("%s: want read_only: true and cap_drop: [ALL]", where)
		}
		checkEnv(t, where, bin, svc.Environment)
		env := svc.Environment

		// Its own named volume at the data dir, a read-only token file, the secret file.
		var data, tokens bool
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %q: want source:target", where, v)
				continue
			}
			src, dst := parts[0], parts[1]
			ro := len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro")
			switch {
			case dst == env["VOIX_DATA_DIR"]:
				data = true
				if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
					t.Errorf("%s: data dir %s is a bind mount; want a named volume", where, dst)
				} else if _, ok := f.Volumes[src]; !ok {
					t.Errorf("%s: volume %s is not declared under volumes:", where, src)
				}
				if other, dup := dataVolumes[src]; dup {
					t.Errorf("%s: volume %s is also %s's data dir: each store needs its own", where, src, other)
				}
				dataVolumes[src] = bin
			case dst == env["VOIX_TOKENS_FILE"], dst == path.Dir(env["VOIX_TOKENS_FILE"]):
				tokens = true
				if !ro {
					t.Errorf("%s: token file %s must be mounted :ro", where, dst)
				}
				if dst == env["VOIX_TOKENS_FILE"] {
					t.Errorf("%s: token file %s is bind-mounted as a file: the services would never see `voix token revoke` (it replaces the file); mount its directory", where, dst)
				}
			}
		}
		if !data {
			t.Errorf("%s: no volume at VOIX_DATA_DIR=%q", where, env["VOIX_DATA_DIR"])
		}
		if !tokens {
			t.Errorf("%s: nothing mounted at VOIX_TOKENS_FILE=%q", where, env["VOIX_TOKENS_FILE"])
		}
		if len(svc.Secrets) != 1 || env["VOIX_SECRET_FILE"] != "/run/secrets/"+svc.Secrets[0] {
			t.Errorf("%s: want the one Docker secret mounted at VOIX_SECRET_FILE, got secrets %v and %q", where, svc.Secrets, env["VOIX_SECRET_FILE"])
		} else if _, ok := f.Secrets[svc.Secrets[0]]; !ok {
			t.Errorf("%s: secret %s is not declared under secrets:", where, svc.Secrets[0])
		}

		var deps []string
		for dep, d := range svc.DependsOn {
			deps = append(deps, dep)
			if _, ok := f.Services[dep]; !ok {
				t.Errorf("%s: depends on unknown service %s", where, dep)
			}
			if d.Condition != "service_healthy" {
				t.Errorf("%s: depends on %s with condition %q, want service_healthy", where, dep, d.Condition)
			}
		}
		sort.Strings(deps)
		wantDeps := []string{"nats-1", "nats-2", "nats-3"}
		if bin == "gateway" {
			wantDeps = []string{"feedback", "pulse"}
		}
		if !slices.Equal(deps, wantDeps) {
			t.Errorf("%s: depends_on %v, want %v", where, deps, wantDeps)
		}
		if slices.Contains(grpcBinaries, bin) {
			port := strconv.Itoa(listenPort(env))
			hc := svc.Healthcheck
			if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/usr/local/bin/grpc-health-probe" ||
				!slices.Contains(hc.Test, "-addr=127.0.0.1:"+port) {
				t.Errorf("%s: want healthcheck [CMD /usr/local/bin/grpc-health-probe -addr=127.0.0.1:%s], got %+v", where, port, hc)
			}
		}
	}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("nats-%d", i)
		svc := f.Services[name]
		where := "compose service " + name
		conf := fmt.Sprintf("./nats/nats-%d.conf:/etc/nats/nats-%d.conf:ro", i, i)
		if !slices.Contains(svc.Volumes, conf) || !slices.Contains(svc.Volumes, "./nats/accounts.conf:/etc/nats/accounts.conf:ro") {
			t.Errorf("%s: want %s and accounts.conf mounted read-only, got %v", where, conf, svc.Volumes)
		}
		if !slices.Contains(svc.Command, fmt.Sprintf("/etc/nats/nats-%d.conf", i)) {
			t.Errorf("%s: command %v does not load its config", where, svc.Command)
		}
		if !slices.Contains(svc.Volumes, name+"-data:/data") {
			t.Errorf("%s: want its named volume on /data (store_dir /data/jetstream), got %v", where, svc.Volumes)
		} else if _, ok := f.Volumes[name+"-data"]; !ok {
			t.Errorf("%s: volume %s-data is not declared", where, name)
		}
		if svc.Healthcheck == nil || !strings.Contains(strings.Join(svc.Healthcheck.Test, " "), "127.0.0.1:8222/healthz") {
			t.Errorf("%s: want a healthcheck on the loopback monitoring port", where)
		}
		if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") {
			t.Errorf("%s: want read_only: true and cap_drop: [ALL]", where)
		}
		for _, v := range svc.Volumes {
			// ./secrets/ is made by init-secrets.sh and init-tls.sh, and git-ignored.
			if src := strings.Split(v, ":")[0]; strings.HasPrefix(src, "./") && !strings.HasPrefix(src, "./secrets/") {
				if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
		}
	}
	for name, sec := range f.Secrets {
		if !strings.HasPrefix(sec.File, "./secrets/") {
			t.Errorf("compose secret %s: file %q, want under ./secrets/ (git-ignored)", name, sec.File)
		}
	}

	// Every variable compose needs is in .env.example, and .env.example holds no secret.
	example, err := os.ReadFile(filepath.Join(deployDir, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(example), "\n") {
		line = strings.TrimSpace(line)
		commented := strings.HasPrefix(line, "#")
		line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		name, value, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(name) {
			continue
		}
		documented[name] = true
		if !commented && value != "" && value != placeholder {
			t.Errorf(".env.example: %s=%q: only %s or empty values, never a real one", name, value, placeholder)
		}
	}
	for _, m := range composeVar.FindAllStringSubmatch(string(raw), -1) {
		if !documented[m[1]] {
			t.Errorf("compose.yaml uses ${%s}, which .env.example does not document", m[1])
		}
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, "$") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			for _, m := range regexp.MustCompile(`\$[{]?[A-Za-z_]`).FindAllStringIndex(line, -1) {
				if line[m[0]+1] != '{' {
					t.Errorf("compose.yaml: %q: write ${VAR}", strings.TrimSpace(line))
				}
			}
		}
	}
}

// TestDockerfile checks what the compose file and the manifests rely on, since no Docker
// engine builds the image in CI.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, bin := range voixBinaries {
		if !strings.Contains(df, "./services/"+bin+"/cmd/"+bin) {
			t.Errorf("Dockerfile does not build %s", bin)
		}
	}
	for _, want := range []string{"./cmd/voix", `CGO_ENABLED=0`, `-trimpath`, `-ldflags="-s -w"`, "grpc-health-probe@",
		"COPY --from=build /out/bin/ /usr/local/bin/", "USER 65532:65532"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// Go as go.work says.
	work, err := os.ReadFile(filepath.Join("..", "..", "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(work)
	argLine := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\d+\.\d+)(\.\d+)?$`).FindSubmatch(raw)
	if goLine == nil || argLine == nil || string(goLine[1]) != string(argLine[1]) {
		t.Errorf("Dockerfile ARG GO_VERSION %q does not match go.work's go %q", argLine, goLine)
	}
	// Every module of go.work has its go.mod copied before the download step.
	for _, m := range regexp.MustCompile(`(?m)^\s+\./(\S+)$`).FindAllSubmatch(work, -1) {
		if !strings.Contains(df, "COPY "+string(m[1])+"/go.mod ") {
			t.Errorf("Dockerfile does not copy %s/go.mod", m[1])
		}
	}
}

// TestInitSecrets runs deploy/init-secrets.sh and loads what it wrote as the services do.
func TestInitSecrets(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, tool := range []string{"head", "base64", "tr", "cut"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	_, errSum := exec.LookPath("sha256sum")
	_, errShasum := exec.LookPath("shasum")
	if errSum != nil && errShasum != nil {
		t.Skip("no sha256sum or shasum")
	}
	dir := filepath.Join(t.TempDir(), "secrets")
	script := filepath.Join(deployDir, "init-secrets.sh")
	if out, err := exec.Command(sh, script, dir, "acme").CombinedOutput(); err != nil {
		t.Fatalf("init-secrets.sh: %v\n%s", err, out)
	}
	secretFile := filepath.Join(dir, "secret.key")
	if _, err := (anonymity.SecretSource{File: secretFile}).Load(); err != nil {
		t.Fatalf("secret.key: %v", err)
	}
	before, _ := os.ReadFile(secretFile)
	if fi, err := os.Stat(secretFile); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("secret.key mode %v (%v): want no access for group and others", fi.Mode(), err)
	}
	tokens, err := auth.LoadTokens(filepath.Join(dir, "auth", "token-hashes.json"))
	if err != nil {
		t.Fatalf("token-hashes.json: %v", err)
	}
	plain, err := os.ReadFile(filepath.Join(dir, "tokens.env"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]auth.Role{"VOIX_GATEWAY_TOKEN": auth.RoleSubmitter, "VOIX_HR_TOKEN": auth.RoleHR, "VOIX_ADMIN_TOKEN": auth.RoleAdmin}
	seen := 0
	for _, line := range strings.Split(string(plain), "\n") {
		name, token, ok := strings.Cut(line, "=")
		role, known := want[name]
		if !ok || !known {
			continue
		}
		seen++
		p, ok := tokens.Lookup(token)
		if !ok || p.Role != role {
			t.Errorf("tokens.env %s: the token file gives %+v (%v), want role %s", name, p, ok, role)
		}
		if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, "voix_")); err != nil || len(raw) != 32 || !strings.HasPrefix(token, "voix_") {
			t.Errorf("tokens.env %s: not voix_ and 32 bytes of base64url", name)
		}
	}
	if seen != len(want) {
		t.Errorf("tokens.env has %d of the %d tokens", seen, len(want))
	}
	// A second run must not replace the secret.
	if err := exec.Command(sh, script, dir, "acme").Run(); err == nil {
		t.Error("a second run succeeded: it must refuse to replace an existing secret")
	}
	if after, _ := os.ReadFile(secretFile); !bytes.Equal(before, after) {
		t.Error("a second run changed secret.key")
	}
}
