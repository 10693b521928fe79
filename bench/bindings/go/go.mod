module bindingsbench

go 1.19

require edgekey v0.0.0

replace edgekey => ../../../bindings/go
