module edgekey

go 1.19
