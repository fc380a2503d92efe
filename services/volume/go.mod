module ballast.dev/services/volume

go 1.26.8
