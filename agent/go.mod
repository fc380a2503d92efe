module ballast.dev/agent

go 1.26.8

require (
	ballast.dev/platform v0.0.0
	ballast.dev/proto v0.0.0
	pgregory.net/rapid v1.3.0
)

replace ballast.dev/platform => ../platform

replace ballast.dev/proto => ../proto
