module ballast.dev/ballast

go 1.26.8

replace (
	ballast.dev/agent => ./agent
	ballast.dev/gateway => ./gateway
	ballast.dev/platform => ./platform
	ballast.dev/proto => ./proto
	ballast.dev/services/metrics => ./services/metrics
	ballast.dev/services/migration => ./services/migration
	ballast.dev/services/placement => ./services/placement
	ballast.dev/services/volume => ./services/volume
)

require (
	ballast.dev/proto v0.0.0-00010101000000-000000000000
	github.com/dustin/go-humanize v1.1.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)
