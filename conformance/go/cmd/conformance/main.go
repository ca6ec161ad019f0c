// Command conformance runs the cases of fixtures/manifest.json against the Go reference loader
// (package ldakit) and prints one line per case and "N passed, N failed".
//
//	go run ./cmd/conformance [-fixtures DIR] [-expected-failures FILE] [-run SUBSTRING]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"ldakit/conformance/suite"
)

func main() {
	fixtures := flag.String("fixtures", "", "folder holding manifest.json (default: the nearest "+
		"fixtures/ in this folder or a parent)")
	expected := flag.String("expected-failures", "", "expected-failures file (default: "+
		"expected-failures.txt next to go.mod, found from the fixtures folder)")
	filter := flag.String("run", "", "only the cases whose name contains this")
	flag.Parse()

	dir := *fixtures
	if dir == "" {
		found, err := suite.FindFixtures(".")
		if err != nil {
			fmt.Fprintln(os.Stderr, "conformance:", err)
			os.Exit(2)
		}
		dir = found
	}
	xf := *expected
	if xf == "" {
		xf = filepath.Join(filepath.Dir(dir), "conformance", "go", "expected-failures.txt")
		if _, err := os.Stat(xf); err != nil {
			xf = ""
		}
	}
	_, failed, err := suite.Run(suite.Reference{}, suite.Options{
		Fixtures: dir, ExpectedFailures: xf, Filter: *filter, Out: os.Stdout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(2)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
