module ballast.dev/services/metrics

go 1.26.8
