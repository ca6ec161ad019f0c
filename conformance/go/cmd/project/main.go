// Command project loads a projection with the Go reference loader (package ldakit) and prints,
// as JSON, the routing weights, the projected queries and both top-k rankings of every query in
// an .npy file — what the cross-runtime round trip compares with @ldakit/search and Rust.
//
//	go run ./cmd/project -root STORE -mh-id N -queries QUERIES.npy [-k 5]
//
// STORE is the store root (the folder holding embeddings/); QUERIES.npy holds one query (d,) or
// several (n, d), any float dtype. The output is one JSON object:
//
//	{"mh_id": N, "model": "...", "dimensions": d, "temperature": t, "cluster_ids": [...],
//	 "queries": [{"weights": [...], "projected": [...],
//	              "top": [{"cluster_id": c, "score": s}, ...], "direct": [...]}, ...]}
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"ldakit/conformance/ldakit"
)

type hit struct {
	ClusterID int64   `json:"cluster_id"`
	Score     float64 `json:"score"`
}

type result struct {
	Weights   []float64 `json:"weights"`
	Projected []float64 `json:"projected"`
	Top       []hit     `json:"top"`
	Direct    []hit     `json:"direct"`
}

type output struct {
	MhID        int64    `json:"mh_id"`
	Model       string   `json:"model"`
	Dimensions  int      `json:"dimensions"`
	Temperature float64  `json:"temperature"`
	ClusterIDs  []int64  `json:"cluster_ids"`
	Queries     []result `json:"queries"`
}

func hits(in []ldakit.Hit) []hit {
	out := make([]hit, len(in))
	for i, h := range in {
		out[i] = hit{ClusterID: h.ClusterID, Score: h.Score}
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "project:", err)
	os.Exit(1)
}

func main() {
	root := flag.String("root", "", "the store root (the folder holding embeddings/)")
	mhID := flag.Int64("mh-id", -1, "the projection id")
	queries := flag.String("queries", "", "an .npy file of one (d,) or several (n, d) queries")
	k := flag.Int("k", 5, "how many results per ranking")
	flag.Parse()
	if *root == "" || *mhID < 0 || *queries == "" || *k < 1 {
		flag.Usage()
		os.Exit(2)
	}
	p, err := ldakit.LoadProjection(*root, *mhID)
	if err != nil {
		fail(err)
	}
	q, err := ldakit.ReadNpy(*queries)
	if err != nil {
		fail(err)
	}
	if q.Dtype.Kind != 'f' || len(q.Shape) < 1 || len(q.Shape) > 2 {
		fail(fmt.Errorf("%s: expected a (d,) or (n, d) float array, found %s of shape %v",
			*queries, q.Descr, q.Shape))
	}
	d := q.Shape[len(q.Shape)-1]
	values := q.Float64s()
	out := output{MhID: p.ID, Model: p.Model, Dimensions: p.Dimensions,
		Temperature: p.Temperature, ClusterIDs: p.ClusterIDs, Queries: []result{}}
	for start := 0; start+d <= len(values) && d > 0; start += d {
		row := values[start : start+d]
		w, err := p.Weights(row)
		if err != nil {
			fail(err)
		}
		proj, err := p.Project(row)
		if err != nil {
			fail(err)
		}
		top, err := p.Search(row, *k)
		if err != nil {
			fail(err)
		}
		direct, err := p.DirectSearch(row, *k)
		if err != nil {
			fail(err)
		}
		out.Queries = append(out.Queries, result{Weights: w, Projected: proj, Top: hits(top),
			Direct: hits(direct)})
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}
