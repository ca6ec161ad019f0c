/**
 * The BERT encoder and sentence-transformers pooling, written with TensorFlow.js ops.
 *
 *   embeddings = LayerNorm(word[ids] + position[0..L) + token_type[type_ids])
 *   for each layer:
 *     a = softmax(Q·Kᵀ/√d_head + mask) · V            (per head; mask is 0 or -1e9 per key)
 *     x = LayerNorm(x + a·W_o + b_o)
 *     x = LayerNorm(x + act(x·W_i + b_i)·W_out + b_out)   (act: GELU with erf, as BERT's "gelu")
 *   pooled = mean / cls / max / mean·√len over the real tokens only; then L2-normalized if asked.
 *
 * Weights are stored transposed to [in, out] at load time (the wasm backend's matMul is an order
 * of magnitude slower with transposeB); 1/√d_head is folded into W_q and b_q, and GELU's 1/√2
 * into W_i, b_i and W_out (see `fromSafetensors`). A batch without padding skips the masks.
 */
import type { Tensor, Tensor1D, Tensor2D, TfCore } from "@ldakit/tf";
import { type BertConfig, ModelFolderError, type StModelSpec } from "./folder.js";
import { hasNativeKernelBackend, NativeOps } from "./native-ops.js";
import type { SafetensorsFile } from "./safetensors.js";

interface Linear {
  w: Tensor2D; // [in, out]
  b: Tensor1D; // [out]
}

interface Norm {
  gamma: Tensor1D;
  beta: Tensor1D;
}

interface Layer {
  /** Q, K, V as three Linears, or (on tfjs-node) one whose output is Q | K | V side by side. */
  qkv: Linear[];
  o: Linear;
  norm1: Norm;
  inter: Linear;
  out: Linear;
  norm2: Norm;
}

/** One padded batch: `ids`/`typeIds` are [batch, seqLen] row-major; `lengths` the real lengths. */
export interface BatchInput {
  readonly ids: Int32Array;
  readonly typeIds: Int32Array;
  readonly lengths: Int32Array;
  readonly batch: number;
  readonly seqLen: number;
}

/** The encoder's weights as tensors of one TensorFlow.js engine, and the forward pass. */
export class BertEncoder {
  private disposed = false;
  private readonly native:
    | { ops: NativeOps; eps: Tensor; one: Tensor; toHeads: Tensor; fromHeads: Tensor }
    | undefined;

  private constructor(
    private readonly tf: TfCore,
    private readonly spec: StModelSpec,
    private readonly word: Tensor2D,
    private readonly position: Tensor2D,
    private readonly tokenType: Tensor2D,
    private readonly tokenType0: Tensor1D,
    private readonly embNorm: Norm,
    private readonly layers: Layer[],
  ) {
    if (hasNativeKernelBackend(tf)) {
      const ops = new NativeOps(tf);
      this.native = {
        ops,
        eps: ops.scalar(spec.config.layerNormEps),
        one: ops.scalar(1),
        toHeads: ops.constant([2, 0, 3, 1, 4]), // [B, L, 3, nh, dh] → [3, B, nh, L, dh]
        fromHeads: ops.constant([0, 2, 1, 3]), // [B, nh, L, dh] → [B, L, nh, dh]
      };
    }
  }

  get config(): BertConfig {
    return this.spec.config;
  }

  /** Create the weight tensors from a safetensors file, checking every name and shape. */
  static fromSafetensors(tf: TfCore, spec: StModelSpec, st: SafetensorsFile): BertEncoder {
    const c = spec.config;
    const H = c.hiddenSize;
    const prefix = st.has("embeddings.word_embeddings.weight")
      ? ""
      : st.has("bert.embeddings.word_embeddings.weight")
        ? "bert."
        : "";
    const created: Tensor[] = [];
    const get = (name: string, shape: number[]): Float32Array => {
      const full = prefix + name;
      const e = st.entries.get(full);
      if (e === undefined) {
        throw new ModelFolderError(`${st.file}: weight ${full} is missing`, st.file);
      }
      if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
        throw new ModelFolderError(
          `${st.file}: weight ${full} has shape [${e.shape.join(", ")}], expected [${shape.join(", ")}] from ${spec.configFile}`,
          st.file,
        );
      }
      return st.float32(full);
    };
    const t1 = (name: string, n: number, scale = 1): Tensor1D => {
      const v = get(name, [n]);
      if (scale !== 1) for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) * scale;
      const t = tf.tensor1d(v, "float32");
      created.push(t);
      return t;
    };
    const t2 = (name: string, rows: number, cols: number): Tensor2D => {
      const t = tf.tensor2d(get(name, [rows, cols]), [rows, cols], "float32");
      created.push(t);
      return t;
    };
    // A PyTorch Linear stores [out, in]; keep it as [in, out].
    // `scale` multiplies the layer's output (weights and bias); `inScale` its input (weights only).
    const linear = (name: string, inF: number, outF: number, scale = 1, inScale = 1): Linear => {
      const raw = get(`${name}.weight`, [outF, inF]);
      const ws = scale * inScale;
      if (ws !== 1) for (let i = 0; i < raw.length; i++) raw[i] = (raw[i] as number) * ws;
      // Transposed on the engine (much faster than in JavaScript).
      const wt = tf.tidy(() => tf.transpose(tf.tensor2d(raw, [outF, inF], "float32")) as Tensor2D);
      created.push(wt);
      return { w: wt, b: t1(`${name}.bias`, outF, scale) };
    };
    const norm = (name: string): Norm => ({
      gamma: t1(`${name}.weight`, H),
      beta: t1(`${name}.bias`, H),
    });

    try {
      const word = t2("embeddings.word_embeddings.weight", c.vocabSize, H);
      const position = t2("embeddings.position_embeddings.weight", c.maxPositions, H);
      const tokenType = t2("embeddings.token_type_embeddings.weight", c.typeVocabSize, H);
      const tokenType0 = tf.tidy(
        () => tf.reshape(tf.slice(tokenType, [0, 0], [1, H]), [H]) as Tensor1D,
      );
      created.push(tokenType0);
      const embNorm = norm("embeddings.LayerNorm");
      const scale = 1 / Math.sqrt(H / c.numHeads);
      // Exact GELU is x·Φ(x) = 0.5·x·(1 + erf(x/√2)). With u = x/√2 it is (1/√2)·u·(1 + erf(u)):
      // W_i, b_i are scaled by 1/√2 (the layer then yields u) and W_out by 1/√2, which leaves
      // three elementwise ops on the widest activation instead of five.
      const exactGelu = c.hiddenAct === "gelu";
      const geluIn = exactGelu ? Math.SQRT1_2 : 1;
      const geluOut = exactGelu ? Math.SQRT1_2 : 1;
      // On tfjs-node each op costs tens of µs whatever its size, so Q, K and V come from one
      // matMul there; on wasm three separate ones measured no slower, and it keeps them as they were.
      const fuseQkv = hasNativeKernelBackend(tf);
      const qkv = (p: string): Linear[] => {
        const parts = [
          linear(`${p}.query`, H, H, scale),
          linear(`${p}.key`, H, H),
          linear(`${p}.value`, H, H),
        ];
        if (!fuseQkv) return parts;
        const fused: Linear = {
          w: tf.concat(
            parts.map((x) => x.w),
            1,
          ),
          b: tf.concat(parts.map((x) => x.b)),
        };
        created.push(fused.w, fused.b);
        for (const x of parts) {
          x.w.dispose();
          x.b.dispose();
        }
        return [fused];
      };
      const layers: Layer[] = [];
      for (let l = 0; l < c.numLayers; l++) {
        const p = `encoder.layer.${l}`;
        layers.push({
          qkv: qkv(`${p}.attention.self`),
          o: linear(`${p}.attention.output.dense`, H, H),
          norm1: norm(`${p}.attention.output.LayerNorm`),
          inter: linear(`${p}.intermediate.dense`, H, c.intermediateSize, geluIn),
          out: linear(`${p}.output.dense`, c.intermediateSize, H, 1, geluOut),
          norm2: norm(`${p}.output.LayerNorm`),
        });
      }
      const extra = `${prefix}encoder.layer.${c.numLayers}.attention.self.query.weight`;
      if (st.has(extra)) {
        throw new ModelFolderError(
          `${st.file} has more layers than num_hidden_layers ${c.numLayers} in ${spec.configFile}`,
          st.file,
        );
      }
      return new BertEncoder(tf, spec, word, position, tokenType, tokenType0, embNorm, layers);
    } catch (e) {
      for (const t of created) t.dispose();
      throw e;
    }
  }

  /**
   * Embed one padded batch: returns a [batch, dimensions] tensor (the caller reads and disposes
   * it). Every intermediate tensor is released.
   */
  forward(input: BatchInput): Tensor2D {
    if (this.disposed) throw new Error("the encoder was disposed");
    const { tf } = this;
    const c = this.spec.config;
    const { batch: B, seqLen: L } = input;
    const H = c.hiddenSize;
    if (L > c.maxPositions)
      throw new Error(`sequence length ${L} exceeds max_position_embeddings ${c.maxPositions}`);

    let padded = false;
    for (let b = 0; b < B && !padded; b++) padded = input.lengths[b] !== L;
    let allTypeZero = true;
    for (let i = 0; i < input.typeIds.length && allTypeZero; i++)
      allTypeZero = input.typeIds[i] === 0;
    // Additive attention mask over keys, and the pooling mask, from the real lengths.
    const maskAdd = new Float32Array(B * L);
    const mask = new Float32Array(B * L);
    for (let b = 0; b < B; b++) {
      const len = input.lengths[b] as number;
      for (let t = 0; t < L; t++) {
        if (t < len) mask[b * L + t] = 1;
        else maskAdd[b * L + t] = -1e9;
      }
    }

    return tf.tidy(() => {
      // (Functional ops throughout: tfjs-core's node bundle does not register chained ops.)
      const ids = tf.tensor1d(input.ids, "int32");
      let x: Tensor = tf.reshape(tf.gather(this.word, ids), [B, L, H]);
      x = tf.add(x, tf.slice(this.position, [0, 0], [L, H]));
      if (allTypeZero) x = tf.add(x, this.tokenType0);
      else
        x = tf.add(
          x,
          tf.reshape(tf.gather(this.tokenType, tf.tensor1d(input.typeIds, "int32")), [B, L, H]),
        );
      // Without padding the additive mask is all zeros: skip it.
      const attnMask = padded ? tf.tensor4d(maskAdd, [B, 1, 1, L]) : undefined;
      const h = this.native
        ? this.encodeNative(this.native, x, attnMask, B, L)
        : this.encode(x, attnMask, B, L);

      const tokens = tf.reshape(h, [B, L, H]);
      const m = tf.tensor3d(mask, [B, L, 1]); // (unused when nothing is padded)
      const parts: Tensor[] = [];
      for (const mode of this.spec.pooling) {
        if (mode === "cls") {
          parts.push(tf.reshape(tf.slice(tokens, [0, 0, 0], [B, 1, H]), [B, H]));
        } else if (mode === "max") {
          // sentence-transformers sets padding to -1e9 before the max.
          parts.push(
            tf.max(padded ? tf.add(tf.mul(tokens, m), tf.mul(tf.sub(m, 1), 1e9)) : tokens, 1),
          );
        } else {
          const sum = tf.sum(padded ? tf.mul(tokens, m) : tokens, 1); // [B, H]
          const count = tf.tensor2d(
            Float32Array.from(input.lengths, (n) => Math.max(n, 1e-9)),
            [B, 1],
          );
          parts.push(tf.div(sum, mode === "mean" ? count : tf.sqrt(count)));
        }
      }
      let pooled = parts.length === 1 ? (parts[0] as Tensor) : tf.concat(parts, 1);
      if (this.spec.normalize) {
        // torch.nn.functional.normalize: x / max(‖x‖, 1e-12)
        const norm = tf.maximum(tf.sqrt(tf.sum(tf.square(pooled), 1, true)), 1e-12);
        pooled = tf.div(pooled, norm);
      }
      return pooled as Tensor2D;
    });
  }

  /** The encoder layers through tfjs-core ops: [B·L, H] hidden states. */
  private encode(x: Tensor, attnMask: Tensor | undefined, B: number, L: number): Tensor {
    const { tf } = this;
    const c = this.spec.config;
    const H = c.hiddenSize;
    const nh = c.numHeads;
    const dh = H / nh;
    let h = this.layerNorm(tf.reshape(x, [B * L, H]), this.embNorm);

    const heads = (t: Tensor, perm: number[]) => tf.transpose(tf.reshape(t, [B, L, nh, dh]), perm);
    for (const layer of this.layers) {
      // A scope per layer: its intermediates (the B×heads×L×L scores above all) are freed
      // before the next layer runs.
      const prev = h;
      h = tf.tidy(() => {
        // Self-attention (1/√d_head is folded into W_q).
        const [ql, kl, vl] = layer.qkv as [Linear, Linear, Linear];
        const q = heads(this.dense(prev, ql), [0, 2, 1, 3]); // [B, nh, L, dh]
        const k = heads(this.dense(prev, kl), [0, 2, 3, 1]); // [B, nh, dh, L]
        const v = heads(this.dense(prev, vl), [0, 2, 1, 3]); // [B, nh, L, dh]
        const scores = tf.matMul(q, k); // [B, nh, L, L]
        const probs = tf.softmax(attnMask ? tf.add(scores, attnMask) : scores);
        const ctx = tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [B * L, H]);
        const a = this.layerNorm(tf.add(this.dense(ctx, layer.o), prev), layer.norm1);
        // Feed-forward.
        const inter = this.activation(this.dense(a, layer.inter));
        return this.layerNorm(tf.add(this.dense(inter, layer.out), a), layer.norm2);
      });
      prev.dispose();
    }
    return h;
  }

  /**
   * The same layers through tfjs-node's kernels directly (see native-ops.ts): Q, K and V from one
   * matMul, split into heads by one reshape, transpose and unstack; Kᵀ by the batched matMul's
   * adjoint flag instead of a transpose.
   */
  private encodeNative(
    { ops, eps, one, toHeads, fromHeads }: NonNullable<BertEncoder["native"]>,
    x: Tensor,
    attnMask: Tensor | undefined,
    B: number,
    L: number,
  ): Tensor {
    const c = this.spec.config;
    const H = c.hiddenSize;
    const nh = c.numHeads;
    const dh = H / nh;
    const dense = (t: Tensor, lin: Linear) => ops.add(ops.matMul(t, lin.w), lin.b);
    const norm = (t: Tensor, n: Norm) => {
      const mean = ops.meanLast(t);
      const xc = ops.sub(t, mean);
      const rs = ops.rsqrt(ops.add(ops.meanLast(ops.square(xc)), eps));
      return ops.add(ops.mul(ops.mul(xc, rs), n.gamma), n.beta);
    };
    const act = (t: Tensor): Tensor => {
      switch (c.hiddenAct) {
        case "gelu":
          // t is u = x/√2 here (see fromSafetensors).
          return ops.mul(t, ops.add(ops.erf(t), one));
        case "gelu_tanh":
          return this.activation(t);
        case "relu":
          return ops.relu(t);
      }
    };
    const rows = ops.shape([B * L, H]);
    const split = ops.shape([B, L, 3, nh, dh]);
    let h = norm(ops.reshape(x, rows), this.embNorm);
    for (const layer of this.layers) {
      // A scope per layer: its intermediates (the B×heads×L×L scores above all) are freed
      // before the next layer runs.
      const prev = h;
      h = this.tf.tidy(() => {
        const [qkvLin] = layer.qkv as [Linear];
        const qkv = ops.transpose(ops.reshape(dense(prev, qkvLin), split), toHeads); // [3, B, nh, L, dh]
        const [q, k, v] = ops.unstack(qkv, 3) as [Tensor, Tensor, Tensor];
        const scores = ops.batchMatMul(q, k, true); // [B, nh, L, L]
        const probs = ops.softmax(attnMask ? ops.add(scores, attnMask) : scores);
        const ctx = ops.reshape(ops.transpose(ops.batchMatMul(probs, v), fromHeads), rows);
        const a = norm(ops.add(dense(ctx, layer.o), prev), layer.norm1);
        const inter = act(dense(a, layer.inter));
        return norm(ops.add(dense(inter, layer.out), a), layer.norm2);
      });
      prev.dispose();
    }
    return h;
  }

  private dense(x: Tensor, lin: Linear): Tensor2D {
    return this.tf.fused.matMul({ a: x as Tensor2D, b: lin.w, bias: lin.b }) as Tensor2D;
  }

  private layerNorm(x: Tensor, n: Norm): Tensor2D {
    const { tf } = this;
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    const y = tf.mul(xc, tf.rsqrt(tf.add(variance, this.spec.config.layerNormEps)));
    return tf.add(tf.mul(y, n.gamma), n.beta) as Tensor2D;
  }

  private activation(x: Tensor): Tensor {
    const { tf } = this;
    switch (this.spec.config.hiddenAct) {
      case "gelu":
        // x is u = x/√2 here, and the 1/√2 factor is folded into the next layer (see fromSafetensors).
        return tf.mul(x, tf.add(tf.erf(x), 1));
      case "gelu_tanh": {
        const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
        return tf.mul(tf.mul(x, tf.add(tf.tanh(inner), 1)), 0.5);
      }
      case "relu":
        return tf.relu(x);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const all: Tensor[] = [
      this.word,
      this.position,
      this.tokenType,
      this.tokenType0,
      this.embNorm.gamma,
      this.embNorm.beta,
    ];
    for (const l of this.layers) {
      for (const lin of [...l.qkv, l.o, l.inter, l.out]) all.push(lin.w, lin.b);
      all.push(l.norm1.gamma, l.norm1.beta, l.norm2.gamma, l.norm2.beta);
    }
    for (const t of all) t.dispose();
    this.native?.ops.dispose();
  }
}
