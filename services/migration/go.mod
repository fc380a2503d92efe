module ballast.dev/services/migration

go 1.26.8
