/**
 * In-memory behaviour: zero-copy views of aligned input, a correct copy of misaligned input,
 * inputs never modified, toCOrder, and encodeNpy's argument checks.
 */
import { describe, expect, it } from "vitest";
import { decodeNpy, encodeNpy, NpyError, type NpyTypedArray, toCOrder } from "../src/index.js";
import {
  bytesOf,
  cToF,
  DTYPE_NAMES,
  DTYPES,
  type DtypeName,
  expectNpyError,
  firstDiff,
  fToC,
  makeData,
  nativeDescr,
  sameBytes,
} from "./helpers.js";

/** Copies `bytes` into a fresh ArrayBuffer at `offset`. */
function placeAt(bytes: Uint8Array, offset: number): Uint8Array {
  const buf = new ArrayBuffer(bytes.length + offset + 8);
  const out = new Uint8Array(buf, offset, bytes.length);
  out.set(bytes);
  return out;
}

function encoded(name: DtypeName, n = 33, descr = nativeDescr(name)) {
  const data = makeData(name, n, 7);
  return { data, bytes: encodeNpy({ data, dtype: descr }) };
}

describe("zero-copy decoding", () => {
  it.each(DTYPE_NAMES.map((n) => [n] as const))(
    "%s: aligned input is viewed, not copied",
    (name) => {
      const { data, bytes } = encoded(name);
      for (const offset of [0, 64]) {
        const input = placeAt(bytes, offset);
        const arr = decodeNpy(input);
        expect(arr.data.buffer).toBe(input.buffer);
        expect(arr.data.byteOffset).toBe(offset + bytes.length - data.byteLength);
        expect(sameBytes(bytesOf(arr.data), bytesOf(data))).toBe(true);
      }
    },
  );

  it.each(DTYPE_NAMES.map((n) => [n] as const))(
    "%s: misaligned input decodes correctly",
    (name) => {
      const { data, bytes } = encoded(name);
      // like bytes.subarray(1) of a copy: the data starts at an odd address
      const copy = new Uint8Array(bytes.length + 1);
      copy.set(bytes, 1);
      const input = copy.subarray(1);
      const before = new Uint8Array(input);
      const arr = decodeNpy(input);
      expect(arr.data).toBeInstanceOf(DTYPES[name].ctor);
      expect(arr.data.byteOffset % DTYPES[name].size).toBe(0);
      expect(
        sameBytes(bytesOf(arr.data), bytesOf(data)),
        firstDiff(bytesOf(arr.data), bytesOf(data)),
      ).toBe(true);
      expect(sameBytes(input, before), "input modified").toBe(true);
      if (DTYPES[name].size === 1) expect(arr.data.buffer).toBe(copy.buffer);
    },
  );

  it("a misaligned decode is a copy: changing it leaves the input alone", () => {
    const { bytes } = encoded("f8", 4);
    const input = placeAt(bytes, 3);
    const before = new Uint8Array(input);
    const arr = decodeNpy(input);
    expect(arr.data.buffer).not.toBe(input.buffer);
    (arr.data as Float64Array).fill(42);
    expect(sameBytes(input, before)).toBe(true);
  });

  it.each(DTYPE_NAMES.filter((n) => DTYPES[n].size > 1).map((n) => [n] as const))(
    "%s: decoding big-endian bytes does not modify the input",
    (name) => {
      const { data, bytes } = encoded(name, 21, `>${name}`);
      const before = new Uint8Array(bytes);
      const arr = decodeNpy(bytes);
      expect(arr.dtype).toBe(nativeDescr(name));
      expect(sameBytes(bytesOf(arr.data), bytesOf(data))).toBe(true);
      expect(sameBytes(bytes, before), "input modified").toBe(true);
    },
  );

  it("decodeNpy accepts a Buffer", () => {
    const { data, bytes } = encoded("f4", 10);
    const arr = decodeNpy(Buffer.from(bytes));
    expect(sameBytes(bytesOf(arr.data), bytesOf(data))).toBe(true);
  });
});

describe("encodeNpy", () => {
  it("infers the dtype from the typed array", () => {
    const cases: [NpyTypedArray, string][] = [
      [new Uint8Array(2), "|u1"],
      [new Int8Array(2), "|i1"],
      [new Int16Array(2), "<i2"],
      [new Uint16Array(2), "<u2"],
      [new Int32Array(2), "<i4"],
      [new Uint32Array(2), "<u4"],
      [new BigInt64Array(2), "<i8"],
      [new BigUint64Array(2), "<u8"],
      [new Float32Array(2), "<f4"],
      [new Float64Array(2), "<f8"],
    ];
    for (const [data, dtype] of cases) {
      const arr = decodeNpy(encodeNpy({ data }));
      expect(arr.dtype).toBe(dtype);
      expect(arr.shape).toEqual([2]);
      expect(arr.fortranOrder).toBe(false);
    }
  });

  it("'|b1' and '<f2' are held in Uint8Array and Uint16Array", () => {
    const b = decodeNpy(encodeNpy({ data: new Uint8Array([1, 0, 1]), dtype: "|b1" }));
    expect(b.dtype).toBe("|b1");
    expect(b.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(b.data as Uint8Array)).toEqual([1, 0, 1]);
    const h = decodeNpy(encodeNpy({ data: new Uint16Array([0x3c00, 0xc000]), dtype: "<f2" }));
    expect(h.dtype).toBe("<f2");
    expect(h.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(h.data as Uint16Array)).toEqual([0x3c00, 0xc000]);
  });

  it("writes big-endian bytes on request without touching the input", () => {
    const data = new Float32Array([1, -2, 0.5]);
    const bytes = encodeNpy({ data, dtype: ">f4" });
    const tail = bytes.subarray(bytes.length - 12);
    expect(Array.from(tail)).toEqual([0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0, 0x3f, 0, 0, 0]);
    expect(Array.from(data)).toEqual([1, -2, 0.5]);
  });

  it("places the data at a multiple of 64 and reports it in the header", () => {
    for (const n of [0, 1, 5, 100]) {
      const bytes = encodeNpy({ data: new Float64Array(n) });
      expect((bytes.length - n * 8) % 64).toBe(0);
      expect(bytes[bytes.length - n * 8 - 1]).toBe(0x0a);
    }
  });

  it("encodes a subarray view (non-zero byteOffset) correctly", () => {
    const big = makeData("f8", 20, 3) as Float64Array;
    const view = big.subarray(5, 11);
    const arr = decodeNpy(encodeNpy({ data: view, shape: [2, 3] }));
    expect(sameBytes(bytesOf(arr.data), bytesOf(view))).toBe(true);
  });

  it("rejects data whose length does not match the shape", () => {
    expectNpyError(() => encodeNpy({ data: new Float32Array(5), shape: [2, 3] }), "BAD_ARRAY");
    expectNpyError(() => encodeNpy({ data: new Float32Array(7), shape: [2, 3] }), "BAD_ARRAY");
    expectNpyError(() => encodeNpy({ data: new Float32Array(2), shape: [] }), "BAD_ARRAY");
    expectNpyError(() => encodeNpy({ data: new Float32Array(1), shape: [0] }), "BAD_ARRAY");
  });

  it("rejects a typed array that does not fit the dtype", () => {
    expectNpyError(() => encodeNpy({ data: new Float32Array(3), dtype: "<f8" }), "BAD_ARRAY");
    expectNpyError(() => encodeNpy({ data: new Float64Array(3), dtype: "<f4" }), "BAD_ARRAY");
    expectNpyError(() => encodeNpy({ data: new Float32Array(3), dtype: "<i4" }), "BAD_ARRAY");
    expectNpyError(() => encodeNpy({ data: new Int32Array(3), dtype: "<f4" }), "BAD_ARRAY");
    expectNpyError(() => encodeNpy({ data: new BigInt64Array(3), dtype: "<u8" }), "BAD_ARRAY");
    expectNpyError(() => encodeNpy({ data: new Float32Array(3), dtype: "<f2" }), "BAD_ARRAY");
  });

  it("rejects unsupported dtypes and bad shapes", () => {
    expectNpyError(
      () => encodeNpy({ data: new Float32Array(2), dtype: "<c8" }),
      "UNSUPPORTED_DTYPE",
    );
    expectNpyError(() => encodeNpy({ data: new Uint8Array(2), dtype: "|O" }), "UNSUPPORTED_DTYPE");
    expectNpyError(
      () => encodeNpy({ data: new Float32Array(2), dtype: "<f3" }),
      "UNSUPPORTED_DTYPE",
    );
    for (const shape of [[-2], [2.5], [Number.NaN], [1, -1, -2]]) {
      expectNpyError(
        () => encodeNpy({ data: new Float32Array(2), shape }),
        ["BAD_SHAPE", "BAD_ARRAY"],
      );
    }
  });

  it("throws NpyError, an Error subclass with a code", () => {
    try {
      encodeNpy({ data: new Float32Array(5), shape: [2, 3] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(Error);
      expect(err).toBeInstanceOf(NpyError);
      expect((err as NpyError).code).toBe("BAD_ARRAY");
    }
  });
});

describe("toCOrder", () => {
  it.each(DTYPE_NAMES.map((n) => [n] as const))("%s: returns a C-order copy", (name) => {
    for (const shape of [[3, 4], [2, 3, 4], [2, 1, 3, 2, 2], [5], [], [3, 0]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const dataC = makeData(name, n, 11);
      const dataF = cToF(dataC, shape);
      const before = new Uint8Array(bytesOf(dataF));
      const arr = { dtype: nativeDescr(name), shape, fortranOrder: true, data: dataF };
      const c = toCOrder(arr);
      expect(c.fortranOrder).toBe(false);
      expect(c.shape).toEqual(shape);
      expect(c.dtype).toBe(arr.dtype);
      expect(c.data).toBeInstanceOf(DTYPES[name].ctor);
      const got = bytesOf(c.data);
      const want = bytesOf(dataC);
      expect(sameBytes(got, want), `${JSON.stringify(shape)} ${firstDiff(got, want)}`).toBe(true);
      expect(sameBytes(bytesOf(dataF), before), "input modified").toBe(true);
      expect(arr.fortranOrder).toBe(true);
    }
  });

  it("keeps a C-order array's values", () => {
    const data = makeData("i4", 12, 2);
    const c = toCOrder({ dtype: "<i4", shape: [3, 4], fortranOrder: false, data });
    expect(c.fortranOrder).toBe(false);
    expect(sameBytes(bytesOf(c.data), bytesOf(data))).toBe(true);
  });

  it("matches the reference transpose on a decoded NumPy-style Fortran file", () => {
    const dataC = new Float64Array(Array.from({ length: 24 }, (_, i) => i));
    const shape = [2, 3, 4];
    const bytes = encodeNpy({ data: cToF(dataC, shape), shape, fortranOrder: true });
    const arr = decodeNpy(bytes);
    expect(arr.fortranOrder).toBe(true);
    expect(Array.from(toCOrder(arr).data as Float64Array)).toEqual(Array.from(dataC));
    expect(Array.from(fToC(arr.data as Float64Array, shape))).toEqual(Array.from(dataC));
  });
});

describe("decodeNpy on a Node.js Buffer", () => {
  it("never changes the caller's bytes, and copies a misaligned Buffer", () => {
    const bytes = Buffer.from(encodeNpy({ data: new Float32Array([1.5, -2, 3]), dtype: ">f4" }));
    const before = Buffer.from(bytes);
    const array = decodeNpy(bytes);
    expect(Array.from(array.data as Float32Array)).toEqual([1.5, -2, 3]);
    expect(bytes.equals(before)).toBe(true);
    const padded = Buffer.concat([
      Buffer.alloc(1),
      Buffer.from(encodeNpy({ data: new Float32Array([4, 5]) })),
    ]);
    expect(Array.from(decodeNpy(padded.subarray(1)).data as Float32Array)).toEqual([4, 5]);
  });
});
