module kube-rpf.dev/netns-listen

go 1.22
