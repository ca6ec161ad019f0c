/**
 * TensorFlow ops called straight on tfjs-node's kernel backend, for the encoder's hot loop.
 *
 * Through tfjs-core every op pays for argument checks, kernel lookup and, on tfjs-node, a fresh
 * int32 tensor for each shape, permutation or axis list (created, uploaded and freed per call);
 * `fused.matMul` is there a tidy of reshapes, BatchMatMul and an add. Measured on a [3, 384] input:
 * tf.reshape 55 µs against 16 µs raw, tf.mean 130 µs against 16 µs, fused.matMul 306 µs against
 * 44 µs for MatMul. A BERT forward pass is ~250 such ops, so for short texts this overhead was most
 * of the time. The kernels run are TensorFlow's own, the same ones tfjs-node's kernels call, so
 * results do not change; only the bookkeeping around them goes.
 *
 * Output tensors are made by the backend through the engine, so `tf.tidy` tracks them as usual.
 */
import type { Tensor, TfCore } from "@ldakit/tf";

interface OpAttr {
  name: string;
  type: number;
  value: number | boolean | string | number[];
}

/** The part of tfjs-node's `NodeJSKernelBackend` used here (stable in @tensorflow/tfjs-node 4.x). */
interface NodeKernelBackend {
  binding: {
    TF_ATTR_TYPE: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_INT: number;
    TF_FLOAT: number;
    TF_INT32: number;
  };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: Tensor[]): Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: Tensor[], n: number): Tensor[];
}

/** Whether `tf`'s active backend is tfjs-node's, with the entry points this module calls. */
export function hasNativeKernelBackend(tf: TfCore): boolean {
  if (tf.getBackend() !== "tensorflow") return false;
  const be = tf.backend() as unknown as Partial<NodeKernelBackend>;
  return (
    typeof be.executeSingleOutput === "function" &&
    typeof be.executeMultipleOutputs === "function" &&
    typeof be.binding?.TF_ATTR_TYPE === "number"
  );
}

/**
 * Float32 ops on tfjs-node. Permutations, axes and scalars are kept tensors, made by `constant`
 * and `scalar` when the model loads (so an engine's tensor count is flat from then on); shapes,
 * which change with every batch, by `shape`, shared by the ops of one call.
 */
export class NativeOps {
  private readonly be: NodeKernelBackend;
  private readonly tFloat: OpAttr;
  private readonly consts: Tensor[] = [];
  private readonly lastAxis: Tensor;

  constructor(private readonly tf: TfCore) {
    if (!hasNativeKernelBackend(tf)) throw new Error("NativeOps needs the tensorflow backend");
    this.be = tf.backend() as unknown as NodeKernelBackend;
    this.tFloat = {
      name: "T",
      type: this.be.binding.TF_ATTR_TYPE,
      value: this.be.binding.TF_FLOAT,
    };
    this.lastAxis = this.constant([-1]);
  }

  private int32Type(name: string): OpAttr {
    return { name, type: this.be.binding.TF_ATTR_TYPE, value: this.be.binding.TF_INT32 };
  }

  private bool(name: string, value: boolean): OpAttr {
    return { name, type: this.be.binding.TF_ATTR_BOOL, value };
  }

  /** A kept int32 vector (a permutation for `transpose`), released by `dispose`. */
  constant(values: readonly number[]): Tensor {
    const t = this.tf.keep(this.tf.tensor1d(values as number[], "int32"));
    this.consts.push(t);
    return t;
  }

  /** A kept float32 scalar, released by `dispose`. */
  scalar(value: number): Tensor {
    const t = this.tf.keep(this.tf.scalar(value, "float32"));
    this.consts.push(t);
    return t;
  }

  private unary(name: string, x: Tensor): Tensor {
    return this.be.executeSingleOutput(name, [this.tFloat], [x]);
  }

  private binary(name: string, a: Tensor, b: Tensor): Tensor {
    return this.be.executeSingleOutput(name, [this.tFloat], [a, b]);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.binary("AddV2", a, b);
  }

  sub(a: Tensor, b: Tensor): Tensor {
    return this.binary("Sub", a, b);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return this.binary("Mul", a, b);
  }

  square(x: Tensor): Tensor {
    return this.unary("Square", x);
  }

  rsqrt(x: Tensor): Tensor {
    return this.unary("Rsqrt", x);
  }

  erf(x: Tensor): Tensor {
    return this.unary("Erf", x);
  }

  tanh(x: Tensor): Tensor {
    return this.unary("Tanh", x);
  }

  relu(x: Tensor): Tensor {
    return this.unary("Relu", x);
  }

  /** Softmax over the last axis. */
  softmax(x: Tensor): Tensor {
    return this.unary("Softmax", x);
  }

  /** Rank-2 a·b. */
  matMul(a: Tensor, b: Tensor): Tensor {
    return this.be.executeSingleOutput(
      "MatMul",
      [this.tFloat, this.bool("transpose_a", false), this.bool("transpose_b", false)],
      [a, b],
    );
  }

  /** Batched a·b (or a·bᵀ) over the leading axes, broadcasting them. */
  batchMatMul(a: Tensor, b: Tensor, transposeB = false): Tensor {
    return this.be.executeSingleOutput(
      "BatchMatMulV2",
      [this.tFloat, this.bool("adj_x", false), this.bool("adj_y", transposeB)],
      [a, b],
    );
  }

  /** A shape operand for `reshape`; not kept, so create it in the caller's `tf.tidy`. */
  shape(dims: readonly number[]): Tensor {
    return this.tf.tensor1d(dims as number[], "int32");
  }

  reshape(x: Tensor, shape: Tensor): Tensor {
    return this.be.executeSingleOutput(
      "Reshape",
      [this.tFloat, this.int32Type("Tshape")],
      [x, shape],
    );
  }

  transpose(x: Tensor, perm: Tensor): Tensor {
    return this.be.executeSingleOutput(
      "Transpose",
      [this.tFloat, this.int32Type("Tperm")],
      [x, perm],
    );
  }

  /** Mean over the last axis, kept as a size-1 axis. */
  meanLast(x: Tensor): Tensor {
    return this.be.executeSingleOutput(
      "Mean",
      [this.bool("keep_dims", true), this.tFloat, this.int32Type("Tidx")],
      [x, this.lastAxis],
    );
  }

  /** Split along axis 0 into its `n` slices. */
  unstack(x: Tensor, n: number): Tensor[] {
    const { binding } = this.be;
    return this.be.executeMultipleOutputs(
      "Unpack",
      [
        this.tFloat,
        { name: "num", type: binding.TF_ATTR_INT, value: n },
        { name: "axis", type: binding.TF_ATTR_INT, value: 0 },
      ],
      [x],
      n,
    );
  }

  dispose(): void {
    for (const t of this.consts) t.dispose();
    this.consts.length = 0;
  }
}
