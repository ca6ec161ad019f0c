package ldakit

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MetaFormats are the "format" values of the mh_<id>.json files this package reads. Edition 2
// adds the query adapter and the blend (docs/FORMAT.md §4); an edition-1 file is read as a
// projection with neither.
var MetaFormats = []string{"ldakit.mh/1", "ldakit.mh/2"}

// Meta is the content of embeddings/<model folder>/mh_<id>.json.
type Meta struct {
	Format         string  `json:"format"`
	MhProjectionID int64   `json:"mh_projection_id"`
	Model          string  `json:"model"`
	Dimensions     int     `json:"dimensions"`
	Temperature    float64 `json:"temperature"`
	NumHeads       int     `json:"num_heads"`
	ClusterIDs     []int64 `json:"cluster_ids"`
	// Adapter is the file name of the query adapter W, always "mh_<id>_W.npy", or "" for none
	// ("adapter" absent or null).
	Adapter string `json:"-"`
	// Blend is β, from 0 to 1; 1 when "blend" is absent (no blending).
	Blend float64 `json:"-"`
	// RawAdapter and RawBlend hold the JSON values as written, so that absent, null and a value
	// of the wrong type stay apart; readMeta resolves them into Adapter and Blend.
	RawAdapter json.RawMessage `json:"adapter"`
	RawBlend   json.RawMessage `json:"blend"`
}

// ProjectionInfo is a projection found under a store root.
type ProjectionInfo struct {
	MhID int64
	// Model is the model name; ModelFolder the folder it lives in ('/' written as "__").
	Model       string
	ModelFolder string
	// Dir is the model folder's path; MetaPath the mh_<id>.json file.
	Dir      string
	MetaPath string
	Meta     Meta
}

// Projection is a multi-head projection ready to use: unit-length centroids and answers.
type Projection struct {
	ID          int64
	Model       string
	Dimensions  int
	Temperature float64
	// ClusterIDs, Centroids and Answers share one order: the order of mh_<id>.json.
	ClusterIDs []int64
	Centroids  [][]float64
	Answers    [][]float64
	// Adapter is the query adapter W as d rows of d (Adapter[i][j] = W[i, j]), routing by
	// normalize(W q̂); nil when the projection has none.
	Adapter [][]float64
	// Blend is β: the searched vector is normalize(β p + (1 − β) q̂); 1 searches with p itself.
	Blend float64
}

// Hit is one ranked cluster.
type Hit struct {
	ClusterID int64
	Score     float64
}

var metaName = regexp.MustCompile(`^mh_([0-9]+)\.json$`)

// ModelNameProblem says why model is not a model name (docs/FORMAT.md §1.3), or "" when it is:
// a model name is one or more parts of the characters A-Z a-z 0-9 . _ - separated by single '/',
// and its folder must not be "." or "..". The reason names the first offending character with its
// code point and 1-based position (counted in characters), or the empty part, or the folder.
func ModelNameProblem(model string) string {
	if model == "" {
		return "the name is empty"
	}
	position := 0
	for i, r := range model {
		position++
		if r == utf8.RuneError {
			// A Go string may hold bytes that are not UTF-8; range reports each as U+FFFD.
			if _, size := utf8.DecodeRuneInString(model[i:]); size == 1 {
				return fmt.Sprintf("byte 0x%02X at position %d is not UTF-8; use letters A-Z a-z, "+
					"digits, \".\", \"_\", \"-\" and \"/\"", model[i], position)
			}
		}
		if !isModelNameChar(r) && r != '/' {
			return fmt.Sprintf("character %s (U+%04X) at position %d is not allowed; use letters "+
				"A-Z a-z, digits, \".\", \"_\", \"-\" and \"/\"", strconv.Quote(string(r)), r, position)
		}
	}
	// Every character is ASCII from here on, so byte offsets are positions.
	if strings.HasPrefix(model, "/") {
		return `the name starts with "/"; "/" separates parts and no part may be empty`
	}
	if strings.HasSuffix(model, "/") {
		return `the name ends with "/"; "/" separates parts and no part may be empty`
	}
	if i := strings.Index(model, "//"); i >= 0 {
		return fmt.Sprintf(`"//" at position %d leaves an empty part; separate parts with a `+
			`single "/"`, i+1)
	}
	if folder := strings.Replace(model, "/", "__", -1); folder == "." || folder == ".." {
		return fmt.Sprintf("%q is not a usable folder name", folder)
	}
	return ""
}

func isModelNameChar(r rune) bool {
	return r == '.' || r == '_' || r == '-' || (r >= '0' && r <= '9') ||
		(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

// ModelFolder is the folder of a model under embeddings/: the name with every '/' written "__"
// (docs/FORMAT.md §1.3). A name that breaks the rule is an error saying why (ModelNameProblem).
// The mapping is not one-to-one: "a/b" and "a__b" share the folder "a__b".
func ModelFolder(model string) (string, error) {
	if problem := ModelNameProblem(model); problem != "" {
		return "", fmt.Errorf("ldakit: invalid model name %s: %s", strconv.Quote(model), problem)
	}
	return strings.Replace(model, "/", "__", -1), nil
}

// DiscoverProjections finds every projection under a store root (the folder that holds
// embeddings/ and, with ldakit, lda.db), from the files alone: each
// embeddings/<model folder>/mh_<id>.json. The result is sorted by id, then model folder.
func DiscoverProjections(root string) ([]ProjectionInfo, error) {
	embeddings := filepath.Join(root, "embeddings")
	models, err := os.ReadDir(embeddings)
	if err != nil {
		return nil, fmt.Errorf("ldakit: %v", err)
	}
	var out []ProjectionInfo
	for _, m := range models {
		if !m.IsDir() {
			continue
		}
		dir := filepath.Join(embeddings, m.Name())
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("ldakit: %v", err)
		}
		for _, e := range entries {
			match := metaName.FindStringSubmatch(e.Name())
			if match == nil || e.IsDir() {
				continue
			}
			id, err := strconv.ParseInt(match[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("ldakit: %s: id out of range", filepath.Join(dir, e.Name()))
			}
			path := filepath.Join(dir, e.Name())
			meta, err := readMeta(path)
			if err != nil {
				return nil, err
			}
			if meta.MhProjectionID != id {
				return nil, fmt.Errorf("ldakit: %s: mh_projection_id is %d, the file name says %d",
					path, meta.MhProjectionID, id)
			}
			folder, err := ModelFolder(meta.Model)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
			if folder != m.Name() {
				return nil, fmt.Errorf("ldakit: %s: model %q belongs in folder %q, not %q",
					path, meta.Model, folder, m.Name())
			}
			out = append(out, ProjectionInfo{MhID: id, Model: meta.Model, ModelFolder: folder,
				Dir: dir, MetaPath: path, Meta: *meta})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].MhID != out[j].MhID {
			return out[i].MhID < out[j].MhID
		}
		return out[i].ModelFolder < out[j].ModelFolder
	})
	return out, nil
}

func readMeta(path string) (*Meta, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ldakit: %v", err)
	}
	var meta Meta
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("ldakit: %s: %v", path, err)
	}
	problem := ""
	switch {
	case meta.Format != MetaFormats[0] && meta.Format != MetaFormats[1]:
		problem = fmt.Sprintf("format is %q; this reader knows %q and %q", meta.Format,
			MetaFormats[0], MetaFormats[1])
	case meta.Dimensions <= 0:
		problem = fmt.Sprintf("dimensions is %d", meta.Dimensions)
	case !(meta.Temperature > 0) || math.IsInf(meta.Temperature, 0):
		problem = fmt.Sprintf("temperature is %v; it must be a positive number", meta.Temperature)
	case meta.NumHeads != len(meta.ClusterIDs):
		problem = fmt.Sprintf("num_heads is %d but cluster_ids has %d", meta.NumHeads,
			len(meta.ClusterIDs))
	case meta.NumHeads == 0:
		problem = "no heads"
	}
	if problem == "" {
		problem = resolveAdapterAndBlend(&meta)
	}
	if problem != "" {
		return nil, fmt.Errorf("ldakit: %s: %s", path, problem)
	}
	seen := make(map[int64]bool, len(meta.ClusterIDs))
	for _, id := range meta.ClusterIDs {
		if seen[id] {
			return nil, fmt.Errorf("ldakit: %s: cluster id %d appears twice", path, id)
		}
		seen[id] = true
	}
	return &meta, nil
}

// resolveAdapterAndBlend checks "adapter" and "blend" and sets Meta.Adapter and Meta.Blend, or
// says what is wrong. The adapter can only be this projection's own W file, never a path, so a
// json cannot point a reader elsewhere. An edition-1 file must not carry either with a
// non-default value: an edition-1 reader would ignore them and rank differently.
func resolveAdapterAndBlend(meta *Meta) string {
	isNull := func(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }
	want := fmt.Sprintf("mh_%d_W.npy", meta.MhProjectionID)
	if !isNull(meta.RawAdapter) {
		var name string
		if err := json.Unmarshal(meta.RawAdapter, &name); err != nil || name != want {
			return fmt.Sprintf("adapter is %s; it must be %q or null", meta.RawAdapter, want)
		}
		meta.Adapter = name
	}
	meta.Blend = 1
	if len(meta.RawBlend) != 0 {
		var blend float64
		// a JSON number only: null, a string or a bool is refused by Unmarshal or the check
		if string(meta.RawBlend) == "null" || json.Unmarshal(meta.RawBlend, &blend) != nil ||
			!(blend >= 0 && blend <= 1) {
			return fmt.Sprintf("blend is %s; it must be a number from 0 to 1", meta.RawBlend)
		}
		meta.Blend = blend
	}
	if meta.Format == MetaFormats[0] && (meta.Adapter != "" || meta.Blend != 1) {
		return fmt.Sprintf("an %s file carries an adapter or a blend; those need %s",
			MetaFormats[0], MetaFormats[1])
	}
	return ""
}

// LoadProjection loads projection mhID from a store root, reading every head's
// mh_<id>_cluster_<cluster id>_centroid.npy and _answer.npy ((d,) '<f4' or '<f8').
func LoadProjection(root string, mhID int64) (*Projection, error) {
	all, err := DiscoverProjections(root)
	if err != nil {
		return nil, err
	}
	var found []ProjectionInfo
	for _, p := range all {
		if p.MhID == mhID {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("ldakit: no mh_%d.json under %s", mhID,
			filepath.Join(root, "embeddings", "*"))
	}
	if len(found) > 1 {
		return nil, fmt.Errorf("ldakit: projection %d exists in two model folders: %s and %s",
			mhID, found[0].Dir, found[1].Dir)
	}
	info := found[0]
	m := info.Meta
	p := &Projection{ID: mhID, Model: m.Model, Dimensions: m.Dimensions,
		Temperature: m.Temperature, ClusterIDs: append([]int64(nil), m.ClusterIDs...),
		Blend: m.Blend}
	if m.Adapter != "" {
		w, err := readAdapter(filepath.Join(info.Dir, m.Adapter), m.Dimensions)
		if err != nil {
			return nil, err
		}
		p.Adapter = w
	}
	for _, cid := range m.ClusterIDs {
		c, err := readVector(info.Dir, mhID, cid, "centroid", m.Dimensions)
		if err != nil {
			return nil, err
		}
		a, err := readVector(info.Dir, mhID, cid, "answer", m.Dimensions)
		if err != nil {
			return nil, err
		}
		p.Centroids = append(p.Centroids, c)
		p.Answers = append(p.Answers, a)
	}
	return p, nil
}

func readVector(dir string, mhID, clusterID int64, role string, d int) ([]float64, error) {
	path := filepath.Join(dir, fmt.Sprintf("mh_%d_cluster_%d_%s.npy", mhID, clusterID, role))
	arr, err := ReadNpy(path)
	if err != nil {
		return nil, err
	}
	if arr.Dtype.Kind != 'f' || arr.Dtype.ItemSize < 4 {
		return nil, fmt.Errorf("ldakit: %s: dtype %s; expected '<f4' or '<f8'", path, arr.Descr)
	}
	if len(arr.Shape) != 1 || arr.Shape[0] != d {
		return nil, fmt.Errorf("ldakit: %s: shape %s; expected (%d,)", path, shapeString(arr.Shape), d)
	}
	v, ok := unit(arr.Float64s())
	if !ok {
		return nil, fmt.Errorf("ldakit: %s: the vector has zero length or non-finite values", path)
	}
	return v, nil
}

// readAdapter reads W: (d, d), f4 or f8 in either byte order, every element finite.
func readAdapter(path string, d int) ([][]float64, error) {
	arr, err := ReadNpy(path)
	if err != nil {
		return nil, fmt.Errorf("ldakit: the adapter named in mh_<id>.json: %v", err)
	}
	if arr.Dtype.Kind != 'f' || arr.Dtype.ItemSize < 4 {
		return nil, fmt.Errorf("ldakit: %s: dtype %s; an adapter is '<f4' or '<f8'", path,
			arr.Descr)
	}
	if len(arr.Shape) != 2 || arr.Shape[0] != d || arr.Shape[1] != d {
		return nil, fmt.Errorf("ldakit: %s: shape %s; expected (%d, %d)", path,
			shapeString(arr.Shape), d, d)
	}
	values := arr.Float64s()
	w := make([][]float64, d)
	for i := range w {
		w[i] = values[i*d : (i+1)*d]
		for j, x := range w[i] {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("ldakit: %s: W[%d, %d] is %v; an adapter must be finite",
					path, i, j, x)
			}
		}
	}
	return w, nil
}

func unit(v []float64) ([]float64, bool) {
	var s float64
	for _, x := range v {
		s += x * x
	}
	n := math.Sqrt(s)
	if !(n > 0) || math.IsInf(n, 0) {
		return nil, false
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / n
	}
	return out, true
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func (p *Projection) query(q []float64) ([]float64, error) {
	if len(q) != p.Dimensions {
		return nil, fmt.Errorf("ldakit: query has %d dimensions, projection %d has %d",
			len(q), p.ID, p.Dimensions)
	}
	u, ok := unit(q)
	if !ok {
		return nil, fmt.Errorf("ldakit: query has zero length or non-finite values")
	}
	return u, nil
}

// Weights are the routing weights softmax(cos(r, c_k) / temperature), in ClusterIDs order,
// where r is W q̂ with an adapter and q̂ without.
func (p *Projection) Weights(q []float64) ([]float64, error) {
	u, err := p.query(q)
	if err != nil {
		return nil, err
	}
	return p.weights(u)
}

// route is the unit routing vector: normalize(W u) (r_i = Σ_j W[i, j] u_j), or u itself.
func (p *Projection) route(u []float64) ([]float64, error) {
	if p.Adapter == nil {
		return u, nil
	}
	r := make([]float64, len(p.Adapter))
	for i, row := range p.Adapter {
		r[i] = dot(row, u)
	}
	v, ok := unit(r)
	if !ok {
		return nil, fmt.Errorf("ldakit: the adapter of projection %d maps the query to a zero "+
			"or non-finite vector", p.ID)
	}
	return v, nil
}

func (p *Projection) weights(u []float64) ([]float64, error) {
	r, err := p.route(u)
	if err != nil {
		return nil, err
	}
	w := make([]float64, len(p.Centroids))
	max := math.Inf(-1)
	for k, c := range p.Centroids {
		w[k] = dot(r, c) / p.Temperature
		if w[k] > max {
			max = w[k]
		}
	}
	var sum float64
	for k := range w {
		w[k] = math.Exp(w[k] - max)
		sum += w[k]
	}
	for k := range w {
		w[k] /= sum
	}
	return w, nil
}

// Project moves a query into answer space: p = normalize(sum_k w_k a_k), then, when Blend is
// below 1, normalize(β p + (1 − β) q̂): the vector the answers are ranked against.
func (p *Projection) Project(q []float64) ([]float64, error) {
	u, err := p.query(q)
	if err != nil {
		return nil, err
	}
	return p.project(u)
}

func (p *Projection) project(u []float64) ([]float64, error) {
	w, err := p.weights(u)
	if err != nil {
		return nil, err
	}
	out := make([]float64, p.Dimensions)
	for k, a := range p.Answers {
		for i, x := range a {
			out[i] += w[k] * x
		}
	}
	v, ok := unit(out)
	if !ok {
		return nil, fmt.Errorf("ldakit: the projected query has zero length")
	}
	if p.Blend == 1 {
		return v, nil
	}
	for i := range v {
		v[i] = p.Blend*v[i] + (1-p.Blend)*u[i]
	}
	if b, ok := unit(v); ok {
		return b, nil
	}
	// p = −q̂ at β = ½ cancels: every score is 0 and the ranking falls to the cluster ids.
	return make([]float64, p.Dimensions), nil
}

// Search ranks every head's answer by cosine similarity to the projected query and returns the
// best k (ties go to the smaller cluster id).
func (p *Projection) Search(q []float64, k int) ([]Hit, error) {
	u, err := p.query(q)
	if err != nil {
		return nil, err
	}
	v, err := p.project(u)
	if err != nil {
		return nil, err
	}
	return p.rank(v, k), nil
}

// DirectSearch ranks every head's answer by cosine similarity to the query itself (no
// projection), for comparison.
func (p *Projection) DirectSearch(q []float64, k int) ([]Hit, error) {
	u, err := p.query(q)
	if err != nil {
		return nil, err
	}
	return p.rank(u, k), nil
}

func (p *Projection) rank(v []float64, k int) []Hit {
	hits := make([]Hit, len(p.Answers))
	for j, a := range p.Answers {
		hits[j] = Hit{ClusterID: p.ClusterIDs[j], Score: dot(v, a)}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ClusterID < hits[j].ClusterID
	})
	if k < 0 {
		k = 0
	}
	if k > len(hits) {
		k = len(hits)
	}
	return hits[:k]
}
