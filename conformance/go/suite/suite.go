// Package suite runs the cases of fixtures/manifest.json against a Loader: the reference loader
// of package ldakit, or your own behind a small adapter (see README.md).
package suite

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"ldakit/conformance/ldakit"
)

// NpyResult is what a loader read from an .npy file.
type NpyResult struct {
	// Descr is the dtype as written in the file (e.g. ">f4").
	Descr        string
	Shape        []int
	FortranOrder bool
	// LittleEndianC holds the elements in C order, each in little-endian byte order.
	LittleEndianC []byte
	// Float64 holds the elements converted to float64, in C order.
	Float64 []float64
}

// Hit is one ranked cluster.
type Hit struct {
	ClusterID int64
	Score     float64
}

// Discovered is one projection a loader found under a store root.
type Discovered struct {
	MhID  int64
	Model string
}

// Projection is a loaded projection. Weights come in ClusterIDs order.
type Projection interface {
	ClusterIDs() []int64
	Weights(q []float64) ([]float64, error)
	Project(q []float64) ([]float64, error)
	Search(q []float64, k int) ([]Hit, error)
	DirectSearch(q []float64, k int) ([]Hit, error)
}

// Loader is what the suite checks. Errors of ReadNpy must carry the stable code through a method
// `ErrorCode() string` somewhere in their chain (errors.As), e.g. "BAD_MAGIC". ModelFolder gives
// a model's folder under embeddings/, or an error for a name that breaks the model-name rule
// (docs/FORMAT.md §1.3).
type Loader interface {
	ReadNpy(path string, maxHeaderSize int) (*NpyResult, error)
	DiscoverProjections(root string) ([]Discovered, error)
	LoadProjection(root string, mhID int64) (Projection, error)
	ModelFolder(model string) (string, error)
}

// Manifest is fixtures/manifest.json.
type Manifest struct {
	Format               string  `json:"format"`
	Generator            string  `json:"generator"`
	Numpy                string  `json:"numpy"`
	DefaultMaxHeaderSize int     `json:"default_max_header_size"`
	Tolerance            float64 `json:"tolerance"`
	Cases                []Case  `json:"cases"`
	// ModelNames is the model-name table: each name with its folder, or refused.
	ModelNames []ModelNameCase `json:"model_names"`
}

// ModelNameCase is one entry of the manifest's model_names: Name maps to Folder, or, when Error
// is set, is refused; Why says what is wrong with a refused name.
type ModelNameCase struct {
	Case   string `json:"case"`
	Name   string `json:"name"`
	Folder string `json:"folder"`
	Error  bool   `json:"error"`
	Why    string `json:"why"`
}

// Case is one entry of the manifest (fields by kind: npy-valid, npy-invalid, heads,
// heads-invalid).
type Case struct {
	Name          string            `json:"name"`
	Kind          string            `json:"kind"`
	Path          string            `json:"path"`
	Descr         string            `json:"descr"`
	Shape         []int             `json:"shape"`
	FortranOrder  bool              `json:"fortran_order"`
	Version       []int             `json:"version"`
	Count         int               `json:"count"`
	FileSHA256    string            `json:"file_sha256"`
	DataSHA256    string            `json:"data_sha256"`
	Float64SHA256 string            `json:"float64_sha256"`
	MaxHeaderSize int               `json:"max_header_size"`
	Code          string            `json:"code"`
	Root          string            `json:"root"`
	MhID          int64             `json:"mh_id"`
	Model         string            `json:"model"`
	Dimensions    int               `json:"dimensions"`
	NumHeads      int               `json:"num_heads"`
	K             int               `json:"k"`
	Tolerance     float64           `json:"tolerance"`
	Discover      []Discovered      `json:"-"`
	RawDiscover   []discoverJSON    `json:"discover"`
	Files         map[string]string `json:"files"`
	// Why says what is wrong with a heads-invalid tree, for people.
	Why string `json:"why"`
}

type discoverJSON struct {
	MhID  int64  `json:"mh_id"`
	Model string `json:"model"`
}

// Options of Run.
type Options struct {
	// Fixtures is the folder holding manifest.json.
	Fixtures string
	// ExpectedFailures is a file of case names (one a line, then a reason) that are known to
	// fail; "" for none. A listed case that passes, or that the manifest lacks, fails the run.
	ExpectedFailures string
	// Filter keeps only the cases whose name contains it.
	Filter string
	Out    io.Writer
}

// FindFixtures looks for fixtures/manifest.json in dir and its parents.
func FindFixtures(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		candidate := filepath.Join(abs, "fixtures")
		if _, err := os.Stat(filepath.Join(candidate, "manifest.json")); err == nil {
			return candidate, nil
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return "", fmt.Errorf("no fixtures/manifest.json in %s or its parents", dir)
		}
		abs = parent
	}
}

// ReadManifest parses fixtures/manifest.json.
func ReadManifest(fixtures string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(fixtures, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest.json: %v", err)
	}
	if m.ModelNames == nil {
		return nil, fmt.Errorf("manifest.json: no model_names table (regenerate with python3 " +
			"fixtures/generate.py)")
	}
	for i := range m.Cases {
		for _, d := range m.Cases[i].RawDiscover {
			m.Cases[i].Discover = append(m.Cases[i].Discover, Discovered(d))
		}
	}
	return &m, nil
}

// ReadExpectedFailures parses an expected-failures file: "<case name> <reason>" per line;
// blank lines and lines starting with '#' are ignored.
func ReadExpectedFailures(path string) (map[string]string, []string, error) {
	out := map[string]string{}
	var order []string
	if path == "" {
		return out, order, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			name, reason = line[:i], strings.TrimSpace(line[i:])
		}
		if _, dup := out[name]; !dup {
			order = append(order, name)
		}
		out[name] = reason
	}
	return out, order, sc.Err()
}

// Run checks every case and prints one line per case and the closing line
// "N passed, N failed". It returns the counts.
func Run(loader Loader, opts Options) (passed, failed int, err error) {
	out := opts.Out
	if out == nil {
		out = os.Stdout
	}
	m, err := ReadManifest(opts.Fixtures)
	if err != nil {
		return 0, 0, err
	}
	expected, expectedOrder, err := ReadExpectedFailures(opts.ExpectedFailures)
	if err != nil {
		return 0, 0, err
	}
	// Every check is the name its line prints and the check; the model names come after the
	// file cases and count with them.
	type check struct {
		name string
		run  func() string
	}
	var checks []check
	for _, c := range m.Cases {
		c := c
		checks = append(checks, check{c.Name, func() string {
			return runCase(loader, m, c, opts.Fixtures)
		}})
	}
	for _, c := range m.ModelNames {
		c := c
		checks = append(checks, check{c.Case, func() string { return checkModelName(loader, c) }})
	}
	known := map[string]bool{}
	xfails := 0
	for _, c := range checks {
		known[c.name] = true
		if opts.Filter != "" && !strings.Contains(c.name, opts.Filter) {
			continue
		}
		why := c.run()
		reason, listed := expected[c.name]
		switch {
		case why == "" && !listed:
			passed++
			fmt.Fprintf(out, "ok  %s\n", c.name)
		case why == "" && listed:
			failed++
			fmt.Fprintf(out, "FAIL %s: passes but is listed in expected-failures (%s); remove the "+
				"stale entry\n", c.name, reason)
		case listed:
			passed++
			xfails++
			fmt.Fprintf(out, "xfail %s: %s (expected failure: %s)\n", c.name, why, reason)
		default:
			failed++
			fmt.Fprintf(out, "FAIL %s: %s\n", c.name, why)
		}
	}
	for _, name := range expectedOrder {
		if !known[name] {
			failed++
			fmt.Fprintf(out, "FAIL %s: listed in expected-failures but the manifest has no such "+
				"case; remove the stale entry\n", name)
		}
	}
	if xfails > 0 {
		fmt.Fprintf(out, "(%d of the passed are expected failures listed in %s)\n", xfails,
			opts.ExpectedFailures)
	}
	fmt.Fprintf(out, "%d passed, %d failed\n", passed, failed)
	return passed, failed, nil
}

func runCase(loader Loader, m *Manifest, c Case, fixtures string) (why string) {
	defer func() {
		if r := recover(); r != nil {
			why = fmt.Sprintf("panic: %v", r)
		}
	}()
	switch c.Kind {
	case "npy-valid":
		return checkValid(loader, m, c, fixtures)
	case "npy-invalid":
		return checkInvalid(loader, m, c, fixtures)
	case "heads":
		return checkHeads(loader, c, fixtures)
	case "heads-invalid":
		return checkHeadsInvalid(loader, c, fixtures)
	}
	return fmt.Sprintf("unknown case kind %q", c.Kind)
}

func checkModelName(loader Loader, c ModelNameCase) (why string) {
	defer func() {
		if r := recover(); r != nil {
			why = fmt.Sprintf("panic: %v", r)
		}
	}()
	if c.Error == (c.Folder != "") {
		return "the manifest entry must have either a folder or \"error\": true"
	}
	folder, err := loader.ModelFolder(c.Name)
	switch {
	case c.Error && err == nil:
		return fmt.Sprintf("%s is accepted as the folder %s; expected it to be refused (%s)",
			strconv.Quote(c.Name), strconv.Quote(folder), c.Why)
	case c.Error && err.Error() == "":
		return fmt.Sprintf("%s is refused with an empty message; say what is wrong and where",
			strconv.Quote(c.Name))
	case c.Error:
		return ""
	case err != nil:
		return fmt.Sprintf("%s is refused (%v); expected the folder %s", strconv.Quote(c.Name), err,
			strconv.Quote(c.Folder))
	case folder != c.Folder:
		return fmt.Sprintf("%s gives the folder %s, expected %s", strconv.Quote(c.Name),
			strconv.Quote(folder), strconv.Quote(c.Folder))
	}
	return ""
}

func maxHeader(m *Manifest, c Case) int {
	if c.MaxHeaderSize > 0 {
		return c.MaxHeaderSize
	}
	if m.DefaultMaxHeaderSize > 0 {
		return m.DefaultMaxHeaderSize
	}
	return ldakit.DefaultMaxHeaderSize
}

func fileHash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return hexSHA(b), nil
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func checkFixture(c Case, path string) string {
	h, err := fileHash(path)
	if err != nil {
		return err.Error()
	}
	if h != c.FileSHA256 {
		return "the fixture file differs from the manifest's file_sha256 (regenerate with " +
			"python3 fixtures/generate.py)"
	}
	return ""
}

func checkValid(loader Loader, m *Manifest, c Case, fixtures string) string {
	path := filepath.Join(fixtures, filepath.FromSlash(c.Path))
	if why := checkFixture(c, path); why != "" {
		return why
	}
	r, err := loader.ReadNpy(path, maxHeader(m, c))
	if err != nil {
		return fmt.Sprintf("read failed: %v", err)
	}
	var problems []string
	if r.Descr != c.Descr {
		problems = append(problems, fmt.Sprintf("descr %q, expected %q", r.Descr, c.Descr))
	}
	if !sameInts(r.Shape, c.Shape) {
		problems = append(problems, fmt.Sprintf("shape %v, expected %v", r.Shape, c.Shape))
	}
	if r.FortranOrder != c.FortranOrder {
		problems = append(problems, fmt.Sprintf("fortran_order %v, expected %v", r.FortranOrder,
			c.FortranOrder))
	}
	if h := hexSHA(r.LittleEndianC); h != c.DataSHA256 {
		problems = append(problems, fmt.Sprintf("data bytes differ (sha256 %s…, expected %s…)",
			h[:12], c.DataSHA256[:12]))
	}
	if len(r.Float64) != c.Count {
		problems = append(problems, fmt.Sprintf("%d float64 values, expected %d", len(r.Float64),
			c.Count))
	} else if h := hexSHA(canonicalFloat64Bytes(r.Float64)); h != c.Float64SHA256 {
		problems = append(problems, "float64 values differ")
	}
	return strings.Join(problems, "; ")
}

// canonicalFloat64Bytes: little-endian float64s, every NaN as 0x7ff8000000000000.
func canonicalFloat64Bytes(v []float64) []byte {
	out := make([]byte, 8*len(v))
	for i, x := range v {
		bits := math.Float64bits(x)
		if math.IsNaN(x) {
			bits = 0x7ff8000000000000
		}
		binary.LittleEndian.PutUint64(out[8*i:], bits)
	}
	return out
}

func checkInvalid(loader Loader, m *Manifest, c Case, fixtures string) string {
	path := filepath.Join(fixtures, filepath.FromSlash(c.Path))
	if why := checkFixture(c, path); why != "" {
		return why
	}
	r, err := loader.ReadNpy(path, maxHeader(m, c))
	if err == nil {
		return fmt.Sprintf("read succeeded (descr %q, shape %v); expected error %s", r.Descr,
			r.Shape, c.Code)
	}
	var coded interface{ ErrorCode() string }
	if !errors.As(err, &coded) {
		return fmt.Sprintf("error without a code (%v); expected %s", err, c.Code)
	}
	if coded.ErrorCode() != c.Code {
		return fmt.Sprintf("error %s (%v); expected %s", coded.ErrorCode(), err, c.Code)
	}
	return ""
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type matrix struct {
	rows, cols int
	f          []float64
	i          []int64
}

func readExpected(fixtures, rel string, ints bool) (*matrix, error) {
	arr, err := ldakit.ReadNpy(filepath.Join(fixtures, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	if len(arr.Shape) != 2 {
		return nil, fmt.Errorf("%s: expected a 2-d array", rel)
	}
	m := &matrix{rows: arr.Shape[0], cols: arr.Shape[1]}
	if ints {
		m.i, err = arr.Int64s()
		return m, err
	}
	m.f = arr.Float64s()
	return m, nil
}

func checkHeads(loader Loader, c Case, fixtures string) string {
	root := filepath.Join(fixtures, filepath.FromSlash(c.Root))
	tol := c.Tolerance
	// discovery
	found, err := loader.DiscoverProjections(root)
	if err != nil {
		return fmt.Sprintf("discover: %v", err)
	}
	got := make([]string, 0, len(found))
	for _, d := range found {
		got = append(got, fmt.Sprintf("%d:%s", d.MhID, d.Model))
	}
	want := make([]string, 0, len(c.Discover))
	for _, d := range c.Discover {
		want = append(want, fmt.Sprintf("%d:%s", d.MhID, d.Model))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Sprintf("discover found [%s], expected [%s]", strings.Join(got, ", "),
			strings.Join(want, ", "))
	}
	p, err := loader.LoadProjection(root, c.MhID)
	if err != nil {
		return fmt.Sprintf("load: %v", err)
	}
	ids := p.ClusterIDs()
	if len(ids) != c.NumHeads {
		return fmt.Sprintf("%d heads, expected %d", len(ids), c.NumHeads)
	}
	exp := map[string]*matrix{}
	for key, rel := range c.Files {
		m, err := readExpected(fixtures, rel, strings.HasSuffix(key, "_ids"))
		if err != nil {
			return fmt.Sprintf("reading the expected %s: %v", key, err)
		}
		exp[key] = m
	}
	// the expected weights' columns follow mh_<id>.json's cluster_ids
	meta, err := readMetaIDs(root, c)
	if err != nil {
		return err.Error()
	}
	column := map[int64]int{}
	for i, id := range meta {
		column[id] = i
	}
	queries := exp["queries"]
	var problems []string
	add := func(format string, args ...interface{}) {
		if len(problems) < 5 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for r := 0; r < queries.rows; r++ {
		q := queries.f[r*queries.cols : (r+1)*queries.cols]
		w, err := p.Weights(q)
		if err != nil {
			return fmt.Sprintf("query %d: weights: %v", r, err)
		}
		if len(w) != len(ids) {
			return fmt.Sprintf("query %d: %d weights for %d heads", r, len(w), len(ids))
		}
		ew := exp["weights"]
		for j, id := range ids {
			col, ok := column[id]
			if !ok {
				return fmt.Sprintf("cluster %d is not in mh_%d.json", id, c.MhID)
			}
			if e := ew.f[r*ew.cols+col]; !(math.Abs(w[j]-e) <= tol) {
				add("query %d: weight of cluster %d is %.9g, expected %.9g", r, id, w[j], e)
			}
		}
		proj, err := p.Project(q)
		if err != nil {
			return fmt.Sprintf("query %d: project: %v", r, err)
		}
		ep := exp["projected"]
		if len(proj) != ep.cols {
			return fmt.Sprintf("query %d: projection has %d dimensions, expected %d", r,
				len(proj), ep.cols)
		}
		for i := range proj {
			if e := ep.f[r*ep.cols+i]; !(math.Abs(proj[i]-e) <= tol) {
				add("query %d: projected[%d] is %.9g, expected %.9g", r, i, proj[i], e)
				break
			}
		}
		for _, mode := range []string{"top", "direct"} {
			var hits []Hit
			if mode == "top" {
				hits, err = p.Search(q, c.K)
			} else {
				hits, err = p.DirectSearch(q, c.K)
			}
			if err != nil {
				return fmt.Sprintf("query %d: %s search: %v", r, mode, err)
			}
			ei, es := exp[mode+"_ids"], exp[mode+"_scores"]
			if mode == "direct" {
				es = exp["direct_scores"]
			}
			if len(hits) != ei.cols {
				add("query %d: %s search returned %d hits, expected %d", r, mode, len(hits), ei.cols)
				continue
			}
			for i, h := range hits {
				eid, esc := ei.i[r*ei.cols+i], es.f[r*es.cols+i]
				if h.ClusterID != eid {
					add("query %d: %s search rank %d is cluster %d, expected %d", r, mode, i+1,
						h.ClusterID, eid)
					break
				}
				if !(math.Abs(h.Score-esc) <= tol) {
					add("query %d: %s search rank %d score %.9g, expected %.9g", r, mode, i+1,
						h.Score, esc)
					break
				}
			}
		}
	}
	return strings.Join(problems, "; ")
}

// checkHeadsInvalid: the tree's projection must be refused, by discovery or by loading, with a
// message; which of the two refuses it is the loader's choice.
func checkHeadsInvalid(loader Loader, c Case, fixtures string) string {
	root := filepath.Join(fixtures, filepath.FromSlash(c.Root))
	if _, err := loader.DiscoverProjections(root); err != nil {
		if err.Error() == "" {
			return "discovery refused the tree with an empty message; say what is wrong and where"
		}
		return ""
	}
	_, err := loader.LoadProjection(root, c.MhID)
	switch {
	case err == nil:
		return fmt.Sprintf("projection %d loaded; expected it to be refused: %s", c.MhID, c.Why)
	case err.Error() == "":
		return "refused with an empty message; say what is wrong and where"
	}
	return ""
}

func readMetaIDs(root string, c Case) ([]int64, error) {
	// the manifest names the model folder through discover; read that mh_<id>.json
	for _, d := range c.Discover {
		if d.MhID != c.MhID {
			continue
		}
		folder, err := ldakit.ModelFolder(d.Model)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(root, "embeddings", folder,
			fmt.Sprintf("mh_%d.json", c.MhID)))
		if err != nil {
			return nil, err
		}
		var meta struct {
			ClusterIDs []int64 `json:"cluster_ids"`
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			return nil, err
		}
		return meta.ClusterIDs, nil
	}
	return nil, fmt.Errorf("the manifest's discover list lacks mh %d", c.MhID)
}
