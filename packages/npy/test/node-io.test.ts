/**
 * Node file I/O: readNpy / writeNpy / readNpyHeader / NpyStreamWriter, checked against NumPy.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodeNpy,
  NpyStreamWriter,
  type NpyTypedArray,
  readNpy,
  readNpyHeader,
  writeNpy,
} from "../src/index.js";
import {
  buildNpy,
  bytesOf,
  cToF,
  type DtypeName,
  expectNpyErrorAsync,
  f4Payload,
  firstDiff,
  makeData,
  makeTempDir,
  nativeDescr,
  numpyDict,
  product,
  sameBytes,
} from "./helpers.js";
import {
  type CheckResult,
  checkWithNumpy,
  type GeneratedFile,
  generateWithNumpy,
} from "./numpy-helper.js";

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

describe("writeNpy / readNpy", () => {
  const WRITES: {
    id: string;
    name: DtypeName;
    descr: string;
    shape: number[];
    fortran: boolean;
  }[] = [
    { id: "f4 (1000, 384)", name: "f4", descr: "<f4", shape: [1000, 384], fortran: false },
    { id: "f8 Fortran (30, 7)", name: "f8", descr: "<f8", shape: [30, 7], fortran: true },
    { id: "big-endian i8 (5, 6)", name: "i8", descr: ">i8", shape: [5, 6], fortran: false },
    { id: "b1 0-d", name: "b1", descr: "|b1", shape: [], fortran: false },
    { id: "f2 empty (4, 0)", name: "f2", descr: "<f2", shape: [4, 0], fortran: false },
    { id: "u2 rank 5", name: "u2", descr: ">u2", shape: [2, 1, 3, 2, 2], fortran: true },
  ];
  const written: { file: string; raw: string; dataC: NpyTypedArray; data: NpyTypedArray }[] = [];
  let numpy: CheckResult[] = [];
  let dir = "";

  beforeAll(async () => {
    dir = join(tmp.dir, "writes");
    mkdirSync(dir);
    for (const [i, w] of WRITES.entries()) {
      const dataC = makeData(w.name, product(w.shape), 50 + i);
      const data = w.fortran ? cToF(dataC, w.shape) : dataC;
      const file = join(dir, `w${i}.npy`);
      await writeNpy(file, { data, shape: w.shape, dtype: w.descr, fortranOrder: w.fortran });
      const raw = join(tmp.dir, `w${i}.raw`);
      writeFileSync(raw, bytesOf(dataC));
      written.push({ file, raw, dataC, data });
    }
    numpy = checkWithNumpy(written.map(({ file, raw }) => ({ file, raw })));
  });

  it("leaves only the target files behind (no temporary files)", () => {
    expect(readdirSync(dir).sort()).toEqual(WRITES.map((_, i) => `w${i}.npy`).sort());
  });

  it.each(WRITES.map((w, i) => [w.id, w, i] as const))("%s: NumPy loads it", (_id, w, i) => {
    const r = numpy[i] as CheckResult;
    expect(r.error).toBeUndefined();
    expect(r.descr).toBe(w.descr);
    expect(r.shape).toEqual(w.shape);
    expect(r.valuesEqual).toBe(true);
    if (w.fortran) expect(r.fortranOrder).toBe(true);
  });

  it.each(WRITES.map((w, i) => [w.id, w, i] as const))(
    "%s: readNpy reads it back",
    async (_id, w, i) => {
      const { file, data } = written[i] as (typeof written)[number];
      const arr = await readNpy(file);
      expect(arr.dtype).toBe(nativeDescr(w.descr));
      expect(arr.shape).toEqual(w.shape);
      expect(arr.fortranOrder).toBe(w.fortran);
      expect(sameBytes(bytesOf(arr.data), bytesOf(data))).toBe(true);
      // the file is exactly what encodeNpy produces
      const bytes = encodeNpy({ data, shape: w.shape, dtype: w.descr, fortranOrder: w.fortran });
      expect(sameBytes(new Uint8Array(readFileSync(file)), bytes)).toBe(true);
    },
  );

  it("replaces an existing file", async () => {
    const file = join(tmp.dir, "replace.npy");
    writeFileSync(file, "old contents");
    await writeNpy(file, { data: new Float32Array([1, 2, 3]) });
    const arr = await readNpy(file);
    expect(Array.from(arr.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it("a failing write leaves no file behind", async () => {
    const d = join(tmp.dir, "failing");
    mkdirSync(d);
    await expectNpyErrorAsync(
      () => writeNpy(join(d, "x.npy"), { data: new Float32Array(5), shape: [2, 3] }),
      "BAD_ARRAY",
    );
    expect(readdirSync(d)).toEqual([]);
  });

  it("readNpy reports NpyError codes for bad files", async () => {
    const valid = buildNpy({ data: f4Payload() });
    const cases: [string, Uint8Array, string][] = [
      ["truncated.npy", valid.slice(0, valid.length - 2), "TRUNCATED"],
      ["trailing.npy", new Uint8Array([...valid, 1, 2, 3, 4]), "TRAILING_DATA"],
      ["header-cut.npy", valid.slice(0, 30), "TRUNCATED"],
      ["magic.npy", new Uint8Array(100), "BAD_MAGIC"],
      ["empty.npy", new Uint8Array(0), "TRUNCATED"],
      [
        "dtype.npy",
        buildNpy({ header: numpyDict("|O", false, [3]), data: f4Payload() }),
        "UNSUPPORTED_DTYPE",
      ],
    ];
    for (const [name, bytes, code] of cases) {
      const file = join(tmp.dir, name);
      writeFileSync(file, bytes);
      await expectNpyErrorAsync(() => readNpy(file), code);
    }
  });

  it("readNpy of a missing file rejects with the fs error", async () => {
    await expect(readNpy(join(tmp.dir, "does-not-exist.npy"))).rejects.toMatchObject({
      code: "ENOENT",
    });
  });
});

describe("readNpy / readNpyHeader on NumPy files", () => {
  let files: GeneratedFile[] = [];
  beforeAll(() => {
    files = generateWithNumpy(tmp.dir, [
      { name: "h_save", descr: "<f4", shape: [100, 384], seed: 1 },
      { name: "h_fortran", descr: "<i2", shape: [3, 5], order: "F", seed: 2 },
      { name: "h_be", descr: ">f8", shape: [4, 2], seed: 3 },
      { name: "h_v2", descr: "<u4", shape: [6], writer: "v2", seed: 4 },
      { name: "h_v3", descr: "<i8", shape: [2, 2], writer: "v3", seed: 5 },
      { name: "h_long", descr: "<f4", shape: [3, 2], writer: "v2-long", seed: 6 },
    ]);
  });

  function file(name: string): GeneratedFile {
    return files.find((f) => f.name === name) as GeneratedFile;
  }

  it("readNpyHeader reports version, lengths, offsets", async () => {
    for (const name of ["h_save", "h_fortran", "h_v2", "h_v3"]) {
      const g = file(name);
      const info = await readNpyHeader(g.file);
      expect(info.dtype).toBe(g.descr);
      expect(info.shape).toEqual(g.shape);
      expect(info.fortranOrder).toBe(g.fortranOrder);
      expect(info.version).toEqual(g.version);
      expect(info.dataOffset).toBe(g.dataOffset);
      expect(info.headerLength).toBe(g.dataOffset - (g.version[0] === 1 ? 10 : 12));
    }
    await expectNpyErrorAsync(() => readNpyHeader(file("h_long").file), "HEADER_TOO_LARGE");
    const long = await readNpyHeader(file("h_long").file, { maxHeaderSize: 100_000 });
    expect(long.version).toEqual([2, 0]);
    expect(long.dataOffset).toBe(file("h_long").dataOffset);
  });

  it("readNpy returns the values NumPy wrote", async () => {
    for (const g of files) {
      const options = g.name === "h_long" ? { maxHeaderSize: 100_000 } : undefined;
      const arr = await readNpy(g.file, options);
      expect(arr.dtype).toBe(g.nativeDescr);
      expect(arr.shape).toEqual(g.shape);
      expect(arr.fortranOrder).toBe(g.fortranOrder);
      const want = new Uint8Array(readFileSync(g.raw));
      expect(
        sameBytes(bytesOf(arr.data), want),
        `${g.name}: ${firstDiff(bytesOf(arr.data), want)}`,
      ).toBe(true);
    }
    await expectNpyErrorAsync(() => readNpy(file("h_long").file), "HEADER_TOO_LARGE");
  });
});

describe("NpyStreamWriter", () => {
  it("writes an (n, d) file NumPy reads back equal, byte-identical to np.save", async () => {
    const d = 5;
    const chunks = [2, 0, 7, 1].map((rows, i) => makeData("f4", rows * d, 90 + i) as Float32Array);
    const all = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    const dir = join(tmp.dir, "stream1");
    mkdirSync(dir);
    const path = join(dir, "rows.npy");
    const w = await NpyStreamWriter.create(path, { dtype: "<f4", rowShape: [d] });
    for (const c of chunks) await w.append(c);
    expect(existsSync(path)).toBe(false);
    await w.close();
    expect(readdirSync(dir)).toEqual(["rows.npy"]);

    const raw = join(tmp.dir, "stream1.raw");
    writeFileSync(raw, bytesOf(all));
    const [r] = checkWithNumpy([{ file: path, raw }]);
    expect(r?.error).toBeUndefined();
    expect(r?.descr).toBe("<f4");
    expect(r?.shape).toEqual([10, d]);
    expect(r?.valuesEqual).toBe(true);
    expect(r?.resaveEqual, "stream output differs from np.save").toBe(true);

    const back = await readNpy(path);
    expect(back.shape).toEqual([10, d]);
    expect(sameBytes(bytesOf(back.data), bytesOf(all))).toBe(true);
    const want = encodeNpy({ data: all, shape: [10, d] });
    const got = new Uint8Array(readFileSync(path));
    expect(sameBytes(got, want), firstDiff(got, want)).toBe(true);
  });

  it("streams big-endian rows, 1-d streams and zero rows", async () => {
    const dir = join(tmp.dir, "stream2");
    mkdirSync(dir);
    const be = join(dir, "be.npy");
    const w1 = await NpyStreamWriter.create(be, { dtype: ">f8", rowShape: [2, 3] });
    const v = makeData("f8", 24, 5) as Float64Array;
    await w1.append(v.subarray(0, 6));
    await w1.append(v.subarray(6));
    await w1.close();
    const scal = join(dir, "scalars.npy");
    const w2 = await NpyStreamWriter.create(scal, { dtype: "<i8", rowShape: [] });
    const s = makeData("i8", 9, 6) as BigInt64Array;
    await w2.append(s);
    await w2.close();
    const none = join(dir, "none.npy");
    const w3 = await NpyStreamWriter.create(none, { dtype: "<f4", rowShape: [384] });
    await w3.close();

    const raws = [v, s, new Float32Array(0)].map((a, i) => {
      const raw = join(tmp.dir, `stream2_${i}.raw`);
      writeFileSync(raw, bytesOf(a));
      return raw;
    });
    const res = checkWithNumpy([
      { file: be, raw: raws[0] as string },
      { file: scal, raw: raws[1] as string },
      { file: none, raw: raws[2] as string },
    ]);
    expect(res.map((r) => r.error)).toEqual([undefined, undefined, undefined]);
    expect(res.map((r) => r.descr)).toEqual([">f8", "<i8", "<f4"]);
    expect(res.map((r) => r.shape)).toEqual([[4, 2, 3], [9], [0, 384]]);
    expect(res.map((r) => r.valuesEqual)).toEqual([true, true, true]);
    expect(res.map((r) => r.resaveEqual)).toEqual([true, true, true]);
    expect(readdirSync(dir).sort()).toEqual(["be.npy", "none.npy", "scalars.npy"]);
  });

  it("rejects partial rows and the wrong array type", async () => {
    const dir = join(tmp.dir, "stream3");
    mkdirSync(dir);
    const w = await NpyStreamWriter.create(join(dir, "x.npy"), { dtype: "<f4", rowShape: [5] });
    await expectNpyErrorAsync(() => w.append(new Float32Array(7)), "BAD_ARRAY");
    await expectNpyErrorAsync(() => w.append(new Float64Array(5)), "BAD_ARRAY");
    await w.append(new Float32Array(10));
    await w.close();
    const arr = await readNpy(join(dir, "x.npy"));
    expect(arr.shape).toEqual([2, 5]);
  });

  it("abort leaves no file", async () => {
    const dir = join(tmp.dir, "stream4");
    mkdirSync(dir);
    const path = join(dir, "aborted.npy");
    const w = await NpyStreamWriter.create(path, { dtype: "<f4", rowShape: [4] });
    await w.append(new Float32Array(40));
    await w.abort();
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
