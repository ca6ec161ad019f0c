module ldakit/conformance

go 1.16

require github.com/sbinet/npyio v0.6.0
