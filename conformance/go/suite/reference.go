package suite

import "ldakit/conformance/ldakit"

// Reference is the Loader backed by package ldakit.
type Reference struct{}

// ReadNpy reads with package ldakit.
func (Reference) ReadNpy(path string, maxHeaderSize int) (*NpyResult, error) {
	arr, err := ldakit.ReadNpyWithOptions(path, ldakit.Options{MaxHeaderSize: maxHeaderSize})
	if err != nil {
		return nil, err
	}
	return &NpyResult{
		Descr:         arr.Descr,
		Shape:         arr.Shape,
		FortranOrder:  arr.FortranOrder,
		LittleEndianC: arr.Bytes(),
		Float64:       arr.Float64s(),
	}, nil
}

// DiscoverProjections lists the projections under a store root.
func (Reference) DiscoverProjections(root string) ([]Discovered, error) {
	found, err := ldakit.DiscoverProjections(root)
	if err != nil {
		return nil, err
	}
	out := make([]Discovered, len(found))
	for i, f := range found {
		out[i] = Discovered{MhID: f.MhID, Model: f.Model}
	}
	return out, nil
}

// LoadProjection loads one projection.
func (Reference) LoadProjection(root string, mhID int64) (Projection, error) {
	p, err := ldakit.LoadProjection(root, mhID)
	if err != nil {
		return nil, err
	}
	return referenceProjection{p}, nil
}

// ModelFolder applies the model-name rule with package ldakit.
func (Reference) ModelFolder(model string) (string, error) { return ldakit.ModelFolder(model) }

type referenceProjection struct{ p *ldakit.Projection }

func (r referenceProjection) ClusterIDs() []int64 { return r.p.ClusterIDs }

func (r referenceProjection) Weights(q []float64) ([]float64, error) { return r.p.Weights(q) }

func (r referenceProjection) Project(q []float64) ([]float64, error) { return r.p.Project(q) }

func (r referenceProjection) Search(q []float64, k int) ([]Hit, error) {
	return hits(r.p.Search(q, k))
}

func (r referenceProjection) DirectSearch(q []float64, k int) ([]Hit, error) {
	return hits(r.p.DirectSearch(q, k))
}

func hits(in []ldakit.Hit, err error) ([]Hit, error) {
	if err != nil {
		return nil, err
	}
	out := make([]Hit, len(in))
	for i, h := range in {
		out[i] = Hit{ClusterID: h.ClusterID, Score: h.Score}
	}
	return out, nil
}
