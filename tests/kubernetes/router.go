// router.go: the checks of the router's sets (see main.go): its headless
// Services, the ConfigMap holding its --sets-file, the volume and mount that
// bring it to the router, the checksum annotation, and the file itself,
// parsed as the router parses its --state file (runtime/router/state.c).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const setsAnnotation = "shimkit.io/sets-sha256"

// routerSet is one set block of a sets file.
type routerSet struct {
	name, policy, hashField, hashKey string
	weight                           int
	services, backends               []string
	retryNotFound                    bool
}

// parseSets reads a sets file: "shimkit-router-state 1", then per set
// "set NAME", its key-value lines and "end", then "end-state N" (N sets);
// '#' lines and empty lines are skipped.
func parseSets(text string) ([]routerSet, error) {
	var sets []routerSet
	var cur *routerSet
	magic, ended := false, false
	for i, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		at := fmt.Sprintf("line %d", i+1)
		if ended {
			return nil, fmt.Errorf("%s: text after end-state", at)
		}
		if !magic {
			if line != "shimkit-router-state 1" {
				return nil, fmt.Errorf("%s: %q is not the magic line", at, line)
			}
			magic = true
			continue
		}
		key, value, _ := strings.Cut(line, " ")
		switch {
		case key == "set":
			if cur != nil {
				return nil, fmt.Errorf("%s: set %q inside set %q", at, value, cur.name)
			}
			sets = append(sets, routerSet{name: value, policy: "round_robin"})
			cur = &sets[len(sets)-1]
		case key == "end":
			if cur == nil {
				return nil, fmt.Errorf("%s: end outside a set", at)
			}
			cur = nil
		case key == "end-state":
			if cur != nil {
				return nil, fmt.Errorf("%s: end-state inside set %q", at, cur.name)
			}
			if n, err := strconv.Atoi(value); err != nil || n != len(sets) {
				return nil, fmt.Errorf("%s: end-state %q, the file has %d sets", at, value, len(sets))
			}
			ended = true
		case cur == nil:
			return nil, fmt.Errorf("%s: %q outside a set", at, key)
		case key == "weight":
			w, err := strconv.Atoi(value)
			if err != nil || w < 0 || w > 1000000 {
				return nil, fmt.Errorf("%s: weight %q", at, value)
			}
			cur.weight = w
		case key == "policy":
			if value != "round_robin" && value != "least_outstanding" && value != "hash" {
				return nil, fmt.Errorf("%s: policy %q", at, value)
			}
			cur.policy = value
		case key == "hash_field":
			cur.hashField = value
		case key == "hash_key":
			cur.hashKey = value
		case key == "retry_not_found":
			if value != "" {
				return nil, fmt.Errorf("%s: retry_not_found takes no value, not %q", at, value)
			}
			cur.retryNotFound = true
		case key == "service":
			cur.services = append(cur.services, value)
		case key == "backend":
			cur.backends = append(cur.backends, value)
		default:
			return nil, fmt.Errorf("%s: unknown key %q", at, key)
		}
	}
	if !ended {
		return nil, fmt.Errorf("no end-state line")
	}
	return sets, nil
}

// headlessOf is the headless Service that selects exactly d's pods on port.
func (c *checker) headlessOf(d *appsv1.Deployment, port int32) *corev1.Service {
	for _, s := range c.services {
		if s.Spec.ClusterIP != corev1.ClusterIPNone || s.Spec.PublishNotReadyAddresses ||
			d.Spec.Selector == nil || !sameLabels(s.Spec.Selector, d.Spec.Selector.MatchLabels) {
			continue
		}
		for _, sp := range s.Spec.Ports {
			if sp.Port == port && sp.TargetPort.String() == "grpc" {
				return s
			}
		}
	}
	return nil
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkRouter: the router's sets come from a ConfigMap of the folder, by
// --sets-file, and name every set Deployment by its headless Service.
func (c *checker) checkRouter(d *appsv1.Deployment, ct corev1.Container) {
	n := "Deployment " + d.Name
	for _, f := range []string{"--state", "--backend"} {
		if _, ok := flagValue(ct.Args, f); ok {
			c.failf("%s: %s given: the router's sets come from --sets-file alone", n, f)
		}
	}
	file, ok := flagValue(ct.Args, "--sets-file")
	if !ok {
		c.failf("%s: no --sets-file", n)
		return
	}
	// The mount that holds the file, and the ConfigMap volume behind it.
	var mount *corev1.VolumeMount
	for i, m := range ct.VolumeMounts {
		if path.Dir(file) == path.Clean(m.MountPath) {
			mount = &ct.VolumeMounts[i]
		}
	}
	if mount == nil {
		c.failf("%s: no volume mounted at %s (--sets-file %s)", n, path.Dir(file), file)
		return
	}
	if !mount.ReadOnly {
		c.failf("%s: the sets volume %s is not mounted read-only", n, mount.Name)
	}
	var cmv *corev1.ConfigMapVolumeSource
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == mount.Name {
			cmv = v.ConfigMap
		}
	}
	if cmv == nil {
		c.failf("%s: volume %s is not a ConfigMap", n, mount.Name)
		return
	}
	key := path.Base(file)
	if len(cmv.Items) > 0 {
		key = ""
		for _, it := range cmv.Items {
			if it.Path == path.Base(file) {
				key = it.Key
			}
		}
	}
	cm := c.configMaps[cmv.Name]
	if cm == nil {
		c.failf("%s: ConfigMap %q (its sets) is not in the folder", n, cmv.Name)
		return
	}
	text, ok := cm.Data[key]
	if !ok || key == "" {
		c.failf("%s: ConfigMap %s has no key %q for %s", n, cm.Name, key, file)
		return
	}
	sum := sha256.Sum256([]byte(text))
	if got := d.Spec.Template.Annotations[setsAnnotation]; got != hex.EncodeToString(sum[:]) {
		c.failf("%s: pod template annotation %s = %q, the sets file's SHA-256 is %s", n, setsAnnotation, got,
			hex.EncodeToString(sum[:]))
	}
	sets, err := parseSets(text)
	if err != nil {
		c.failf("ConfigMap %s: %s: %v", cm.Name, key, err)
		return
	}
	c.checkSets(cm.Name, sets)
}

// checkSets: one set per set Deployment (by its shimkit.io/set), each with
// a service, a policy that fits its hash lines, and one dns: backend on the
// headless Service of that Deployment, at its port.
func (c *checker) checkSets(where string, sets []routerSet) {
	bySet := map[string]*appsv1.Deployment{}
	for _, d := range c.deployments {
		if s := d.Spec.Template.Labels["shimkit.io/set"]; s != "" && d.Labels["app.kubernetes.io/name"] != "router" {
			bySet[s] = d
		}
	}
	seen := map[string]bool{}
	for _, s := range sets {
		at := fmt.Sprintf("ConfigMap %s: set %s", where, s.name)
		if seen[s.name] {
			c.failf("%s: twice", at)
		}
		seen[s.name] = true
		d := bySet[s.name]
		if d == nil {
			c.failf("%s: no Deployment of the folder is that set", at)
			continue
		}
		if len(s.services) != 1 {
			c.failf("%s: %d services, want 1", at, len(s.services))
		}
		if (s.policy == "hash") != (s.hashField != "" || s.hashKey != "") || (s.hashField != "" && s.hashKey != "") {
			c.failf("%s: policy %s with hash_field %q, hash_key %q", at, s.policy, s.hashField, s.hashKey)
		}
		// Training's jobs live on the pod that ran them: the router must ask the others on NOT_FOUND.
		if len(s.services) == 1 && (s.services[0] == "shimkit.ml.v1.Training") != s.retryNotFound {
			c.failf("%s: service %s with retry_not_found %v", at, s.services[0], s.retryNotFound)
		}
		if len(s.backends) != 1 {
			c.failf("%s: %d backends, want one dns: name", at, len(s.backends))
			continue
		}
		host, port, ok := strings.Cut(strings.TrimPrefix(s.backends[0], "dns:"), ":")
		if !strings.HasPrefix(s.backends[0], "dns:") || !ok {
			c.failf("%s: backend %q is not dns:HOST:PORT", at, s.backends[0])
			continue
		}
		var cport int32
		for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
			if p.Name == "grpc" {
				cport = p.ContainerPort
			}
		}
		hs := c.headlessOf(d, cport)
		switch {
		case hs == nil:
			c.failf("%s: Deployment %s has no headless Service", at, d.Name)
		case host != hs.Name:
			c.failf("%s: backend %q does not name %s's headless Service %s", at, s.backends[0], d.Name, hs.Name)
		case port != strconv.Itoa(int(cport)):
			c.failf("%s: backend %q is not on port %d", at, s.backends[0], cport)
		}
	}
	var missing []string
	for name := range bySet {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		c.failf("ConfigMap %s: set %s (Deployment %s) is not in the router's sets", where, name, bySet[name].Name)
	}
}
