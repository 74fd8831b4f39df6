// shimkit-k8s-check: checks the manifests shimctl renders for the kubernetes
// environment (runtime/shimctl/env_kubernetes.c) against the Kubernetes API
// types, strictly: every document must decode into apps/v1 Deployment,
// core/v1 Service or core/v1 ConfigMap with no unknown or duplicate field
// (sigs.k8s.io/yaml UnmarshalStrict), and then make sense as a shimkit set:
//
//   - readiness and liveness probes are native gRPC probes (grpc.health.v1)
//     on the container's gRPC port, which is also the --listen port;
//   - terminationGracePeriodSeconds is longer than the shim's --drain-grace-ms;
//   - resources have requests and limits, requests no larger than limits;
//   - labels app.kubernetes.io/{name,part-of,instance} (and shimkit.io/set on
//     sets), the selector matches the pod template;
//   - every Deployment has a ClusterIP Service on the same port that selects
//     its pods, and no Service selects nothing;
//   - every set's Deployment also has a headless Service (clusterIP None, no
//     not-ready addresses) on that port selecting exactly its pods;
//   - the router runs with --sets-file (never --state or --backend) from a
//     ConfigMap of the folder mounted read-only, and its pod template's
//     shimkit.io/sets-sha256 is the SHA-256 of that file; the file (the
//     router's --state format, sets.go) names every set of the folder and
//     no other, each with one backend dns:HOST:PORT where HOST is the
//     set's headless Service and PORT its port.
//
//	shimkit-k8s-check [-sets N] [-router] DIR
//
// Exits 0 when every file in DIR passes ("N passed, 0 failed" on the last line).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type checker struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	failures    []string
	files       int
}

func (c *checker) failf(format string, args ...any) {
	c.failures = append(c.failures, fmt.Sprintf(format, args...))
}

// documents splits a YAML stream on lines that are exactly "---".
func documents(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if strings.TrimRight(string(line), "\r\n") == "---" {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	docs = append(docs, cur.Bytes())
	var out [][]byte
	for _, d := range docs {
		trimmed := strings.TrimSpace(stripComments(string(d)))
		if trimmed != "" {
			out = append(out, d)
		}
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		b.WriteString(l)
		b.WriteString("\n")
	}
	return b.String()
}

func (c *checker) load(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		c.failf("%s: %v", path, err)
		return
	}
	c.files++
	for i, doc := range documents(data) {
		where := fmt.Sprintf("%s: document %d", filepath.Base(path), i+1)
		var tm typeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			c.failf("%s: not YAML: %v", where, err)
			continue
		}
		switch {
		case tm.APIVersion == "apps/v1" && tm.Kind == "Deployment":
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				c.failf("%s: Deployment (strict): %v", where, err)
				continue
			}
			if _, dup := c.deployments[d.Name]; dup {
				c.failf("%s: Deployment %q twice", where, d.Name)
			}
			c.deployments[d.Name] = &d
		case tm.APIVersion == "v1" && tm.Kind == "Service":
			var s corev1.Service
			if err := yaml.UnmarshalStrict(doc, &s); err != nil {
				c.failf("%s: Service (strict): %v", where, err)
				continue
			}
			if _, dup := c.services[s.Name]; dup {
				c.failf("%s: Service %q twice", where, s.Name)
			}
			c.services[s.Name] = &s
		case tm.APIVersion == "v1" && tm.Kind == "ConfigMap":
			var m corev1.ConfigMap
			if err := yaml.UnmarshalStrict(doc, &m); err != nil {
				c.failf("%s: ConfigMap (strict): %v", where, err)
				continue
			}
			if _, dup := c.configMaps[m.Name]; dup {
				c.failf("%s: ConfigMap %q twice", where, m.Name)
			}
			c.configMaps[m.Name] = &m
		default:
			c.failf("%s: unexpected %s %s", where, tm.APIVersion, tm.Kind)
		}
	}
}

// flagValue returns the value of --name in args ("--name V" or "--name=V").
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if strings.HasPrefix(a, name+"=") {
			return strings.TrimPrefix(a, name+"="), true
		}
	}
	return "", false
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (c *checker) checkDeployment(d *appsv1.Deployment) {
	n := "Deployment " + d.Name
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 1 {
		c.failf("%s: replicas missing or < 1", n)
	}
	if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		c.failf("%s: selector does not match the pod template's labels", n)
	}
	for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/instance"} {
		if d.Labels[k] == "" || d.Spec.Template.Labels[k] == "" {
			c.failf("%s: label %s missing", n, k)
		}
	}
	if d.Labels["app.kubernetes.io/name"] != "router" && d.Spec.Template.Labels["shimkit.io/set"] == "" {
		c.failf("%s: label shimkit.io/set missing", n)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		c.failf("%s: %d containers, want 1 (shim and service in one container)", n, len(pod.Containers))
		return
	}
	ct := pod.Containers[0]
	if ct.Image == "" {
		c.failf("%s: no image", n)
	}
	var port int32
	for _, p := range ct.Ports {
		if p.Name == "grpc" {
			port = p.ContainerPort
		}
	}
	if port == 0 {
		c.failf("%s: no container port named grpc", n)
	}
	listen, ok := flagValue(ct.Args, "--listen")
	if !ok || !strings.HasSuffix(listen, ":"+strconv.Itoa(int(port))) {
		c.failf("%s: --listen %q is not on the grpc port %d", n, listen, port)
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
	}{{"readinessProbe", ct.ReadinessProbe}, {"livenessProbe", ct.LivenessProbe}} {
		switch {
		case pr.probe == nil:
			c.failf("%s: no %s", n, pr.name)
		case pr.probe.GRPC == nil:
			c.failf("%s: %s is not a gRPC probe (grpc.health.v1)", n, pr.name)
		case pr.probe.GRPC.Port != port:
			c.failf("%s: %s on port %d, the shim listens on %d", n, pr.name, pr.probe.GRPC.Port, port)
		case pr.probe.HTTPGet != nil || pr.probe.TCPSocket != nil || pr.probe.Exec != nil:
			c.failf("%s: %s has more than one handler", n, pr.name)
		}
	}
	drain := 10000 // shim_cli's default
	if v, ok := flagValue(ct.Args, "--drain-grace-ms"); ok {
		if x, err := strconv.Atoi(v); err == nil {
			drain = x
		} else {
			c.failf("%s: --drain-grace-ms %q is not a number", n, v)
		}
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds*1000 <= int64(drain) {
		c.failf("%s: terminationGracePeriodSeconds must be longer than the drain grace (%d ms)", n, drain)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okr := ct.Resources.Requests[r]
		lim, okl := ct.Resources.Limits[r]
		if !okr || !okl {
			c.failf("%s: resources.requests and .limits need %s", n, r)
			continue
		}
		if req.Cmp(lim) > 0 {
			c.failf("%s: %s request %s above its limit %s", n, r, req.String(), lim.String())
		}
	}
	if d.Labels["app.kubernetes.io/name"] == "router" {
		c.checkRouter(d, ct)
	} else if c.headlessOf(d, port) == nil {
		c.failf("%s: no headless Service (clusterIP None, ready pods only) selects its pods on port %d", n, port)
	}
	// A Service with a cluster IP on the same port selecting these pods.
	for _, s := range c.services {
		if s.Spec.ClusterIP != corev1.ClusterIPNone && selects(s.Spec.Selector, d.Spec.Template.Labels) {
			for _, sp := range s.Spec.Ports {
				if sp.Port == port && (sp.TargetPort.String() == "grpc" || sp.TargetPort.IntValue() == int(port)) {
					return
				}
			}
		}
	}
	c.failf("%s: no Service selects its pods on port %d", n, port)
}

func (c *checker) checkService(s *corev1.Service) {
	n := "Service " + s.Name
	if s.Spec.Type != corev1.ServiceTypeClusterIP {
		c.failf("%s: type %q, want ClusterIP", n, s.Spec.Type)
	}
	if len(s.Spec.Ports) == 0 {
		c.failf("%s: no ports", n)
	}
	for _, d := range c.deployments {
		if selects(s.Spec.Selector, d.Spec.Template.Labels) {
			return
		}
	}
	c.failf("%s: selects no Deployment's pods", n)
}

func main() {
	wantSets := flag.Int("sets", -1, "number of set Deployments expected (-1: any)")
	wantRouter := flag.Bool("router", false, "expect a router Deployment")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: shimkit-k8s-check [-sets N] [-router] DIR")
		os.Exit(2)
	}
	c := &checker{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}}
	files, _ := filepath.Glob(filepath.Join(flag.Arg(0), "*.yaml"))
	sort.Strings(files)
	if len(files) == 0 {
		fmt.Fprintf(os.Stderr, "shimkit-k8s-check: no *.yaml in %s\n", flag.Arg(0))
		os.Exit(1)
	}
	for _, f := range files {
		c.load(f)
	}
	sets, routers := 0, 0
	names := make([]string, 0, len(c.deployments))
	for name := range c.deployments {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d := c.deployments[name]
		if d.Labels["app.kubernetes.io/name"] == "router" {
			routers++
		} else {
			sets++
		}
		c.checkDeployment(d)
	}
	for _, s := range c.services {
		c.checkService(s)
	}
	if *wantSets >= 0 && sets != *wantSets {
		c.failf("%d set Deployments, want %d", sets, *wantSets)
	}
	if *wantRouter && routers != 1 {
		c.failf("%d router Deployments, want 1", routers)
	}
	for _, f := range c.failures {
		fmt.Println("FAIL:", f)
	}
	if routers == 0 && len(c.configMaps) > 0 {
		c.failf("%d ConfigMaps and no router to read them", len(c.configMaps))
	}
	checked := len(c.deployments) + len(c.services) + len(c.configMaps)
	fmt.Printf("shimkit-k8s-check: %d files, %d Deployments (%d sets, %d routers), %d Services, %d ConfigMaps\n",
		c.files, len(c.deployments), sets, routers, len(c.services), len(c.configMaps))
	if len(c.failures) > 0 {
		fmt.Printf("%d passed, %d failed\n", max(0, checked-len(c.failures)), len(c.failures))
		os.Exit(1)
	}
	fmt.Printf("%d passed, 0 failed\n", checked)
}
