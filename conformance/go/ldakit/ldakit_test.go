package ldakit_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"ldakit/conformance/ldakit"
	"ldakit/conformance/suite"
)

// The whole manifest through the suite: every case passes (no expected failures are listed).
func TestConformanceSuite(t *testing.T) {
	dir := fixturesDir(t)
	var out bytes.Buffer
	passed, failed, err := suite.Run(suite.Reference{}, suite.Options{
		Fixtures:         dir,
		ExpectedFailures: filepath.Join("..", "expected-failures.txt"),
		Out:              &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || passed == 0 {
		t.Fatalf("%d passed, %d failed:\n%s", passed, failed, out.String())
	}
}

// npyBytes frames a header the way NumPy does (space padding, '\n', data at a multiple of 64).
func npyBytes(header string, data []byte, major byte) []byte {
	prefix := 10
	if major > 1 {
		prefix = 12
	}
	total := prefix + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	out := append([]byte("\x93NUMPY"), major, 0)
	n := make([]byte, 4)
	binary.LittleEndian.PutUint32(n, uint32(len(header)))
	if major == 1 {
		n = n[:2]
	}
	out = append(out, n...)
	return append(append(out, header...), data...)
}

func f4(values ...float32) []byte {
	out := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}

func TestHeadersNumpyAccepts(t *testing.T) {
	data := f4(0, 1, 2)
	cases := map[string]string{
		"numpy layout":        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
		"keys in other order": "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}",
		"double quotes":       `{"descr": "<f4", "fortran_order": False, "shape": (3,)}`,
		"whitespace":          "{\n\t'descr' :\t'<f4' ,\n 'fortran_order':False,\r\n'shape':( 3 , ) ,\n}",
		"one-letter code":     "{'descr': 'f', 'fortran_order': False, 'shape': (3,), }",
		"native order '='":    "{'descr': '=f4', 'fortran_order': False, 'shape': (3,), }",
		"python 2 long":       "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }",
		"unicode prefix":      "{u'descr': u'<f4', u'fortran_order': False, u'shape': (3,), }",
	}
	for name, header := range cases {
		arr, err := ldakit.DecodeNpy(npyBytes(header, data, 1), ldakit.Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(arr.Data, []float32{0, 1, 2}) || !reflect.DeepEqual(arr.Shape, []int{3}) {
			t.Errorf("%s: got %v %v", name, arr.Shape, arr.Data)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
	cases := []struct {
		name  string
		bytes []byte
		code  ldakit.ErrorCode
	}{
		{"python 2 long in v3", npyBytes(strings.Replace(good, "(3,)", "(3L,)", 1), f4(0, 1, 2), 3),
			ldakit.BadHeader},
		{"bool in shape", npyBytes(strings.Replace(good, "(3,)", "(True,)", 1), f4(0), 1),
			ldakit.BadShape},
		{"duplicate key keeps the last", npyBytes("{'descr': '<i4', 'descr': '<f4', "+
			"'fortran_order': False, 'shape': (3,), }", f4(0, 1, 2, 3), 1), ldakit.TrailingData},
		{"huge dimension", npyBytes(strings.Replace(good, "(3,)", "(99999999999999999999,)", 1),
			nil, 1), ldakit.BadShape},
		{"subarray descr", npyBytes("{'descr': ('<f4', (3,)), 'fortran_order': False, "+
			"'shape': (1,), }", f4(0, 1, 2), 1), ldakit.BadHeader},
	}
	for _, c := range cases {
		_, err := ldakit.DecodeNpy(c.bytes, ldakit.Options{})
		var ne *ldakit.NpyError
		if !errors.As(err, &ne) || ne.Code != c.code {
			t.Errorf("%s: got %v, expected %s", c.name, err, c.code)
		}
	}
}

// The header rules @ldakit/npy took from Python's ast.literal_eval and NumPy (docs/FORMAT.md
// §3.3 steps 6 and 10); each of these was read, or refused with another code, before.
func TestHeaderLiteralEdges(t *testing.T) {
	withDescr := func(raw string) string {
		return "{'descr': '" + raw + "', 'fortran_order': False, 'shape': (3,), }"
	}
	withShape := func(shape string) string {
		return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }"
	}
	nestedTuple := func(depth int) string {
		return strings.Repeat("(", depth) + "3," + strings.Repeat("),", depth-1) + ")"
	}
	deep := withShape(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000))
	cases := []struct {
		name   string
		header string
		major  byte
		code   ldakit.ErrorCode
	}{
		{"dict and 63 tuples: 64 levels", withShape(nestedTuple(63)), 1, ldakit.BadShape},
		{"dict and 64 tuples: 65 levels", withShape(nestedTuple(64)), 1, ldakit.BadHeader},
		{"lists 100 000 deep", deep, 2, ldakit.BadHeader},
		{"escape past U+10FFFF", withDescr(`\U00110000`), 1, ldakit.BadHeader},
		{"lone surrogate", withDescr(`\ud800`), 1, ldakit.UnsupportedDtype},
		{"octal escape", withDescr(`\074f4`), 1, ldakit.BadHeader},
		{"NUL escape then 8 (not octal)", withDescr(`<f4\08`), 1, ldakit.UnsupportedDtype},
		{"CR inside a string", withDescr("<f4\r"), 1, ldakit.BadHeader},
		{"two signs", withShape("(- -3,)"), 1, ldakit.BadHeader},
		{"plus then minus", withShape("(+-3,)"), 1, ldakit.BadHeader},
		{"leading zero", withShape("(03,)"), 1, ldakit.BadHeader},
		{"leading zero before _", withShape("(0_3,)"), 1, ldakit.BadHeader},
		{"form feed before 3L", "\n\f" + withShape("(3L,)"), 1, ldakit.BadHeader},
		{"lone CR before 3L", "\r" + withShape("(3L,)"), 1, ldakit.BadHeader},
		{"2**53 elements", withShape("(9007199254740992,)"), 1, ldakit.BadShape},
		{"2**53 - 1 elements", withShape("(9007199254740991,)"), 1, ldakit.Truncated},
		{"empty, other axes overflow", withShape("(2147483648, 0, 3, 2147483648)"), 1, ldakit.BadShape},
	}
	for _, c := range cases {
		_, err := ldakit.DecodeNpy(npyBytes(c.header, f4(0, 1, 2), c.major),
			ldakit.Options{MaxHeaderSize: 300_000})
		var ne *ldakit.NpyError
		if !errors.As(err, &ne) || ne.Code != c.code {
			t.Errorf("%s: got %v, expected %s", c.name, err, c.code)
		}
	}
	// -0 is Python's 0, and 00 is a valid int (01 is not).
	arr, err := ldakit.DecodeNpy(npyBytes(withShape("(-0, 00, 3)"), nil, 1), ldakit.Options{})
	if err != nil || !reflect.DeepEqual(arr.Shape, []int{0, 0, 3}) {
		t.Errorf("(-0, 00, 3): got %v, %v", arr, err)
	}
}

// Whitespace, signs and leading zeros as Python's ast.literal_eval reads them: outside brackets
// its tokenizer has line and indent rules, inside any whitespace but a vertical tab goes. Each
// text is judged by Python itself.
func TestHeaderWhitespaceAsPythonReadsIt(t *testing.T) {
	// python3 is what the conformance suite's own runner needs; without it this cross-check fails.
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is not on PATH; this test asks Python's ast.literal_eval: %v", err)
	}
	body := "{'descr': '<f4', 'fortran_order': False, 'shape': (0,)}"
	var texts []string
	for _, w := range []string{"", " ", "\t", "\f", "\n", "\r", "\r\n", " \n ", "\n\n",
		"\f\n  \n", "\t\f", " \f\t", "\f\t", "\n\f", "\n \f", "\n\f ", "\r ", " \r ", "\v",
		"\n\t", "\r\n "} {
		texts = append(texts, w+body+"\n")
	}
	for _, w := range []string{"", " ", "\n", "\n  ", "\n\f", "\n \n", "\r\n  \r\n", "\n\t",
		"\n\t\n", "\f", " \f ", "\n\f ", "\n \f", "\r", "\r ", "\r\r", "\n  \t  ",
		" \r\n \r\n", "\nx", "\v", "\n\v\n"} {
		texts = append(texts, body+w)
	}
	texts = append(texts,
		"{\f'descr'\r:\n'<f4', 'fortran_order'\t: False,\r\n'shape': (0,)\f}",
		"{'descr': '<f4',\v'fortran_order': False, 'shape': (0,)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (0, - -1)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (0, +-1)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (- 0,)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (-\n0,)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (01, 0)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (00, 0_0)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (0_1, 0)}",
		"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1_0)}",
	)
	input, _ := json.Marshal(texts)
	script := "import ast, json, sys\nout = []\nfor t in json.load(sys.stdin):\n" +
		"    try:\n        ast.literal_eval(t)\n        out.append(True)\n" +
		"    except Exception:\n        out.append(False)\nprint(json.dumps(out))\n"
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(input)
	output, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var accepts []bool
	if err := json.Unmarshal(output, &accepts); err != nil || len(accepts) != len(texts) {
		t.Fatalf("python3 said %q (%v)", output, err)
	}
	for i, text := range texts {
		// Unpadded: NumPy's padding would end every text with spaces and a newline.
		raw := append([]byte("\x93NUMPY\x01\x00"), byte(len(text)), byte(len(text)>>8))
		_, err := ldakit.DecodeNpy(append(raw, text...), ldakit.Options{})
		var ne *ldakit.NpyError
		if err != nil && (!errors.As(err, &ne) || ne.Code != ldakit.BadHeader) {
			t.Errorf("%q: %v, expected BAD_HEADER or a value", text, err)
			continue
		}
		if got := err == nil; got != accepts[i] {
			t.Errorf("%q: read %v (%v), ast.literal_eval accepts it: %v", text, got, err, accepts[i])
		}
	}
}

func TestReadNpyNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npy")
	if err := os.WriteFile(path, []byte("not npy"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ldakit.ReadNpy(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "BAD_MAGIC") {
		t.Fatalf("got %v", err)
	}
}

func TestFloat16(t *testing.T) {
	cases := map[uint16]float64{
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: math.Ldexp(1, -24), 0x0400: math.Ldexp(1, -14),
		0x7c00: math.Inf(1), 0xfc00: math.Inf(-1), 0x3555: 0.333251953125,
	}
	for bits, want := range cases {
		if got := ldakit.Float16(bits).Float64(); got != want {
			t.Errorf("%#04x: got %v, want %v", bits, got, want)
		}
	}
	if got := ldakit.Float16(0x8000).Float64(); got != 0 || !math.Signbit(got) {
		t.Errorf("-0: got %v", got)
	}
	if !math.IsNaN(ldakit.Float16(0x7e00).Float64()) {
		t.Error("NaN")
	}
}

// The manifest's model-name table, shared by every runner, through ModelFolder.
func TestModelFolderTable(t *testing.T) {
	m, err := suite.ReadManifest(fixturesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	valid, refused := 0, 0
	for _, c := range m.ModelNames {
		folder, err := ldakit.ModelFolder(c.Name)
		problem := ldakit.ModelNameProblem(c.Name)
		if c.Error {
			refused++
			if err == nil || problem == "" {
				t.Errorf("%s: %q accepted as %q (%s)", c.Case, c.Name, folder, c.Why)
			} else if !strings.HasSuffix(err.Error(), ": "+problem) {
				t.Errorf("%s: the error %q does not end with the problem %q", c.Case, err, problem)
			}
			continue
		}
		valid++
		if err != nil || folder != c.Folder || problem != "" {
			t.Errorf("%s: %q gives %q, %v; expected %q", c.Case, c.Name, folder, err, c.Folder)
		}
	}
	// the table covers both sides, so a rule that refuses everything or nothing fails here
	if valid < 10 || refused < 10 {
		t.Fatalf("the table has %d valid and %d refused names", valid, refused)
	}
}

// The messages say what is wrong and where, in the words of @ldakit/format.
func TestModelNameMessages(t *testing.T) {
	use := `; use letters A-Z a-z, digits, ".", "_", "-" and "/"`
	cases := []struct{ name, message string }{
		{"", "the name is empty"},
		{"my model", `character " " (U+0020) at position 3 is not allowed` + use},
		{"a\\b", `character "\\" (U+005C) at position 2 is not allowed` + use},
		{"modèle", `character "è" (U+00E8) at position 4 is not allowed` + use},
		// positions count characters, not bytes: "è" is two bytes in UTF-8
		{"è😀", `character "è" (U+00E8) at position 1 is not allowed` + use},
		{"ab😀", `character "😀" (U+1F600) at position 3 is not allowed` + use},
		{"éa b", `character "é" (U+00E9) at position 1 is not allowed` + use},
		{"a\x00", `character "\x00" (U+0000) at position 2 is not allowed` + use},
		{"a\xffb", `byte 0xFF at position 2 is not UTF-8` + use},
		{"\uFFFD", "character \"\uFFFD\" (U+FFFD) at position 1 is not allowed" + use},
		{"a b//c", `character " " (U+0020) at position 2 is not allowed` + use},
		{"a//b", `"//" at position 2 leaves an empty part; separate parts with a single "/"`},
		{"org/a///b", `"//" at position 6 leaves an empty part; separate parts with a single "/"`},
		{"/a", `the name starts with "/"; "/" separates parts and no part may be empty`},
		{"a/", `the name ends with "/"; "/" separates parts and no part may be empty`},
		{"./", `the name ends with "/"; "/" separates parts and no part may be empty`},
		{".", `"." is not a usable folder name`},
		{"..", `".." is not a usable folder name`},
	}
	for _, c := range cases {
		if got := ldakit.ModelNameProblem(c.name); got != c.message {
			t.Errorf("%q: got  %s\n              want %s", c.name, got, c.message)
		}
	}
	_, err := ldakit.ModelFolder("my model")
	want := `ldakit: invalid model name "my model": character " " (U+0020) at position 3 is not allowed` + use
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// The rule said another way — parts of [A-Za-z0-9._-] joined by single '/', not "." or ".." —
// agrees with ModelNameProblem on every name of up to 5 characters over a small alphabet.
func TestModelNameRuleExhaustive(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
	alphabet := []string{"a", ".", "/", "_", "-", " "}
	checked := 0
	var visit func(name string)
	visit = func(name string) {
		want := pattern.MatchString(name) && name != "." && name != ".."
		if got := ldakit.ModelNameProblem(name) == ""; got != want {
			t.Errorf("%q: valid %v, the rule says %v", name, got, want)
		}
		if folder, err := ldakit.ModelFolder(name); want && (err != nil ||
			folder != strings.Replace(name, "/", "__", -1)) {
			t.Errorf("%q: folder %q, %v", name, folder, err)
		}
		checked++
		if len(name) < 5 {
			for _, c := range alphabet {
				visit(name + c)
			}
		}
	}
	visit("")
	if checked != 1+6+36+216+1296+7776 {
		t.Fatalf("checked %d names", checked)
	}
}

func TestModelFolderSharedByTwoNames(t *testing.T) {
	a, errA := ldakit.ModelFolder("a/b")
	b, errB := ldakit.ModelFolder("a__b")
	if errA != nil || errB != nil || a != "a__b" || b != "a__b" {
		t.Fatalf("a/b -> %q %v, a__b -> %q %v", a, errA, b, errB)
	}
}

func TestProjectionFromFixtures(t *testing.T) {
	root := filepath.Join(fixturesDir(t), "heads", "f32_small")
	found, err := ldakit.DiscoverProjections(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].MhID != 3 || found[1].MhID != 31 {
		t.Fatalf("found %+v", found)
	}
	p, err := ldakit.LoadProjection(root, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ClusterIDs) != 18 || p.Dimensions != 384 || p.Temperature != 0.1 {
		t.Fatalf("loaded %d heads, d=%d, τ=%v", len(p.ClusterIDs), p.Dimensions, p.Temperature)
	}
	// a query equal to a head's centroid routes mostly to that head
	q := append([]float64(nil), p.Centroids[5]...)
	w, err := p.Weights(q)
	if err != nil {
		t.Fatal(err)
	}
	sum, best := 0.0, 0
	for k, x := range w {
		sum += x
		if x > w[best] {
			best = k
		}
	}
	if math.Abs(sum-1) > 1e-12 || best != 5 {
		t.Fatalf("weights sum %v, best head %d", sum, best)
	}
	if _, err := p.Project(make([]float64, 384)); err == nil {
		t.Fatal("a zero query was accepted")
	}
	if _, err := p.Search(make([]float64, 3), 5); err == nil {
		t.Fatal("a query of the wrong size was accepted")
	}
	if hits, _ := p.Search(q, 1000); len(hits) != 18 {
		t.Fatalf("k past the head count gave %d hits", len(hits))
	}
	if _, err := ldakit.LoadProjection(root, 4); err == nil {
		t.Fatal("a missing projection loaded")
	}
}

func TestLoadProjectionErrors(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "embeddings", "m")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mh_1.json", `{"format": "ldakit.mh/1", "mh_projection_id": 1, "model": "m",
		"dimensions": 3, "temperature": 0.1, "num_heads": 1, "cluster_ids": [5]}`)
	write("mh_1_cluster_5_centroid.npy", string(npyBytes(
		"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f4(1, 0, 0), 1)))
	_, err := ldakit.LoadProjection(root, 1)
	if err == nil || !strings.Contains(err.Error(), "mh_1_cluster_5_answer.npy") {
		t.Fatalf("missing answer: %v", err)
	}
	write("mh_1_cluster_5_answer.npy", string(npyBytes(
		"{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", f4(1, 0, 0), 1)))
	if _, err = ldakit.LoadProjection(root, 1); err == nil || !strings.Contains(err.Error(), "dtype") {
		t.Fatalf("integer answer: %v", err)
	}
	write("mh_1_cluster_5_answer.npy", string(npyBytes(
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4(1, 0), 1)))
	if _, err = ldakit.LoadProjection(root, 1); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("short answer: %v", err)
	}
	write("mh_1.json", `{"format": "ldakit.mh/1", "mh_projection_id": 1, "model": "other",
		"dimensions": 3, "temperature": 0.1, "num_heads": 1, "cluster_ids": [5]}`)
	if _, err = ldakit.DiscoverProjections(root); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Fatalf("model in the wrong folder: %v", err)
	}
	write("mh_1.json", `{"format": "ldakit.mh/3", "mh_projection_id": 1, "model": "m",
		"dimensions": 3, "temperature": 0.1, "num_heads": 1, "cluster_ids": [5]}`)
	if _, err = ldakit.DiscoverProjections(root); err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("unknown format: %v", err)
	}
}

// A store whose mh_<id>.json names a model with an empty part, in the folder that name would
// map to, is refused with the reason (the old rule mapped "a//b" to "a____b" and accepted it).
func TestDiscoverRefusesABadModelName(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "embeddings", "a____b")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := `{"format": "ldakit.mh/1", "mh_projection_id": 1, "model": "a//b",
		"dimensions": 3, "temperature": 0.1, "num_heads": 1, "cluster_ids": [5]}`
	if err := os.WriteFile(filepath.Join(dir, "mh_1.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ldakit.DiscoverProjections(root)
	if err == nil || !strings.Contains(err.Error(), "mh_1.json") ||
		!strings.Contains(err.Error(), `invalid model name "a//b": "//" at position 2`) {
		t.Fatalf("got %v", err)
	}
}

// adapterStore writes a two-head projection of d = 2 (c = a = the axes, τ = 0.01) whose
// mh_1.json ends with extraJSON, and W as '<f8' when w is not nil.
func adapterStore(t *testing.T, format, extraJSON string, w []float64) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "embeddings", "m")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vec := func(x, y float32) []byte {
		return npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4(x, y), 1)
	}
	write("mh_1.json", []byte(`{"format": "`+format+`", "mh_projection_id": 1, "model": "m",
		"dimensions": 2, "temperature": 0.01, "num_heads": 2, "cluster_ids": [1, 2]`+extraJSON+`}`))
	write("mh_1_cluster_1_centroid.npy", vec(1, 0))
	write("mh_1_cluster_1_answer.npy", vec(1, 0))
	write("mh_1_cluster_2_centroid.npy", vec(0, 1))
	write("mh_1_cluster_2_answer.npy", vec(0, 1))
	if w != nil {
		data := make([]byte, 8*len(w))
		for i, x := range w {
			binary.LittleEndian.PutUint64(data[8*i:], math.Float64bits(x))
		}
		write("mh_1_W.npy", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
			data, 1))
	}
	return root
}

// W = [[0, 0], [1, 0]] (row-major, W[1, 0] = 1) sends q = (1, 0) to r = (0, 1): routing goes to
// head 2, where q itself (or Wᵀ q = 0) would go to head 1 (or be refused). β = 0.5 then blends
// p ≈ (0, 1) with q̂ = (1, 0).
func TestAdapterOrientationAndBlend(t *testing.T) {
	root := adapterStore(t, "ldakit.mh/2", `, "adapter": "mh_1_W.npy", "blend": 0.5`,
		[]float64{0, 0, 1, 0})
	p, err := ldakit.LoadProjection(root, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Blend != 0.5 || len(p.Adapter) != 2 || p.Adapter[1][0] != 1 || p.Adapter[0][1] != 0 {
		t.Fatalf("adapter %v, blend %v", p.Adapter, p.Blend)
	}
	w, err := p.Weights([]float64{3, 0})
	if err != nil {
		t.Fatal(err)
	}
	if w[1] != 1 || !(w[0] < 1e-40) {
		t.Fatalf("weights %v: the adapter should route to head 2", w)
	}
	b, err := p.Project([]float64{3, 0})
	if err != nil {
		t.Fatal(err)
	}
	if h := math.Sqrt(0.5); math.Abs(b[0]-h) > 1e-15 || math.Abs(b[1]-h) > 1e-15 {
		t.Fatalf("blended vector %v, expected (√½, √½)", b)
	}
	hits, err := p.Search([]float64{3, 0}, 2)
	if err != nil || len(hits) != 2 || hits[0].ClusterID != 1 || math.Abs(hits[0].Score-hits[1].Score) > 1e-15 {
		t.Fatalf("hits %v (%v): equal scores, ties to the smaller id", hits, err)
	}
	// q = (0, 1): W q = 0, the adapter maps the query to nothing
	if _, err := p.Search([]float64{0, 1}, 2); err == nil || !strings.Contains(err.Error(), "adapter") {
		t.Fatalf("a query the adapter sends to zero: %v", err)
	}
}

// A W file with fortran_order True holds W column by column; the adapter is the matrix np.load
// returns, not the bytes read row by row (which would be Wᵀ). Checked in both byte orders, since
// the swap and the transposition must compose.
func TestAdapterFortranOrder(t *testing.T) {
	f8be := func(values ...float64) []byte {
		out := make([]byte, 8*len(values))
		for i, v := range values {
			binary.BigEndian.PutUint64(out[8*i:], math.Float64bits(v))
		}
		return out
	}
	for _, c := range []struct {
		descr  string
		encode func(values ...float64) []byte
	}{
		{"<f4", func(v ...float64) []byte {
			out := make([]float32, len(v))
			for i, x := range v {
				out[i] = float32(x)
			}
			return f4(out...)
		}},
		{">f8", f8be},
	} {
		write := func(root string, columns ...float64) {
			header := "{'descr': '" + c.descr + "', 'fortran_order': True, 'shape': (2, 2), }"
			path := filepath.Join(root, "embeddings", "m", "mh_1_W.npy")
			if err := os.WriteFile(path, npyBytes(header, c.encode(columns...), 1), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		load := func(root string) *ldakit.Projection {
			p, err := ldakit.LoadProjection(root, 1)
			if err != nil {
				t.Fatalf("%s: %v", c.descr, err)
			}
			return p
		}
		extra := `, "adapter": "mh_1_W.npy", "blend": 0.5`
		// W = [[1, 2], [3, 4]]: by column the file holds 1, 3, 2, 4
		root := adapterStore(t, "ldakit.mh/2", extra, nil)
		write(root, 1, 3, 2, 4)
		if w := load(root).Adapter; !reflect.DeepEqual(w, [][]float64{{1, 2}, {3, 4}}) {
			t.Errorf("%s: adapter %v, expected [[1 2] [3 4]]", c.descr, w)
		}
		// W = [[0, 0], [1, 0]] sends q = (1, 0) to (0, 1), head 2; the bytes read row by row
		// (Wᵀ) would send it to zero and refuse the query
		root = adapterStore(t, "ldakit.mh/2", extra, nil)
		write(root, 0, 1, 0, 0)
		weights, err := load(root).Weights([]float64{3, 0})
		if err != nil || weights[1] != 1 || !(weights[0] < 1e-40) {
			t.Errorf("%s: weights %v (%v): the adapter should route to head 2", c.descr, weights, err)
		}
	}
}

// β = ½ with p = −q̂ cancels: b = 0, every score is 0 and the ranking is by cluster id.
func TestBlendCancels(t *testing.T) {
	root := adapterStore(t, "ldakit.mh/2", `, "blend": 0.5`, nil)
	// answers swapped against the centroids and negated: q = (1, 0) routes to head 1, whose
	// answer is (−1, 0)
	dir := filepath.Join(root, "embeddings", "m")
	neg := npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4(-1, 0), 1)
	if err := os.WriteFile(filepath.Join(dir, "mh_1_cluster_1_answer.npy"), neg, 0o644); err != nil {
		t.Fatal(err)
	}
	// τ = 0.001 makes the routing exactly one-hot (e^-1000 underflows to 0), so p = −q̂ exactly
	meta := `{"format": "ldakit.mh/2", "mh_projection_id": 1, "model": "m", "dimensions": 2,
		"temperature": 0.001, "num_heads": 2, "cluster_ids": [1, 2], "blend": 0.5}`
	if err := os.WriteFile(filepath.Join(dir, "mh_1.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := ldakit.LoadProjection(root, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Project([]float64{1, 0})
	if err != nil || b[0] != 0 || b[1] != 0 {
		t.Fatalf("blended vector %v (%v), expected 0", b, err)
	}
	hits, err := p.Search([]float64{1, 0}, 2)
	if err != nil || hits[0].ClusterID != 1 || hits[0].Score != 0 || hits[1].Score != 0 {
		t.Fatalf("hits %v (%v)", hits, err)
	}
}

func TestAdapterAndBlendKeys(t *testing.T) {
	for _, c := range []struct {
		format, extra string
		w             []float64
		problem       string // "" = loads
	}{
		{"ldakit.mh/1", `, "blend": 1, "adapter": null`, nil, ""},
		{"ldakit.mh/2", `, "adapter": null`, nil, ""},
		{"ldakit.mh/2", `, "blend": 0`, nil, ""},
		{"ldakit.mh/2", `, "adapter": "mh_1_W.npy"`, []float64{1, 0, 0, 1}, ""},
		{"ldakit.mh/1", `, "blend": 0.5`, nil, "ldakit.mh/2"},
		{"ldakit.mh/1", `, "adapter": "mh_1_W.npy"`, []float64{1, 0, 0, 1}, "ldakit.mh/2"},
		{"ldakit.mh/2", `, "blend": null`, nil, "blend is null"},
		{"ldakit.mh/2", `, "blend": true`, nil, "blend is true"},
		{"ldakit.mh/2", `, "blend": 1.0000001`, nil, "blend is 1.0000001"},
		{"ldakit.mh/2", `, "adapter": "./mh_1_W.npy"`, []float64{1, 0, 0, 1}, "adapter is"},
		{"ldakit.mh/2", `, "adapter": 1`, nil, "adapter is 1"},
		{"ldakit.mh/2", `, "adapter": "mh_1_W.npy"`, nil, "mh_1_W.npy"},
		{"ldakit.mh/2", `, "adapter": "mh_1_W.npy"`, []float64{1, math.NaN(), 0, 1}, "W[0, 1] is NaN"},
	} {
		_, err := ldakit.LoadProjection(adapterStore(t, c.format, c.extra, c.w), 1)
		switch {
		case c.problem == "" && err != nil:
			t.Errorf("%s%s: %v", c.format, c.extra, err)
		case c.problem != "" && (err == nil || !strings.Contains(err.Error(), c.problem)):
			t.Errorf("%s%s: got %v, expected an error with %q", c.format, c.extra, err, c.problem)
		}
	}
}
