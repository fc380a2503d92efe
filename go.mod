module ballast.dev/ballast

go 1.26.8
