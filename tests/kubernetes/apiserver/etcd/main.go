// etcd: the etcd server (go.etcd.io/etcd/server/v3 etcdmain) at the version
// k8s.io/kubernetes itself depends on, the store behind the e2e cluster's
// kube-apiserver (scripts/services/kube-apiserver.sh).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
