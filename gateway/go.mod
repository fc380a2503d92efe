module ballast.dev/gateway

go 1.26.8
