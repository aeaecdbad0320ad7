// Command etcd is upstream etcd's server entry point, built from the same
// go.etcd.io/etcd/server/v3 version that the pinned Kubernetes depends on.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
