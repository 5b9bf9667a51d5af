/**
 * Plain-JS float64 forward passes of two fixtures, written from the architectures the fixtures document
 * (torchvision's BasicBlock ResNet, HF's CLIP text transformer), reading only the weights from the model:
 * an independent check of what the generated graphs compute.
 */
import { type Model } from '../src';

/** A float32 initializer's values by name. */
export function weight(model: Model, name: string): Float32Array {
  const t = model.graph.initializers.get(name);
  if (t?.dtype !== 'float32') {
    throw new Error(`no float32 initializer ${name}`);
  }
  return t.data;
}

/** An NCHW activation. */
export interface Act {
  c: number;
  h: number;
  w: number;
  /** c·h·w values of one image. */
  data: Float64Array;
}

/** 2-D convolution of one image with a square kernel, zero padding, and a bias. */
export function conv(
  x: Act,
  w: Float32Array,
  bias: Float32Array,
  cout: number,
  k: number,
  stride: number,
  pad: number,
): Act {
  const h = Math.floor((x.h + 2 * pad - k) / stride) + 1;
  const wd = Math.floor((x.w + 2 * pad - k) / stride) + 1;
  const out = new Float64Array(cout * h * wd);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < wd; j++) {
        let s = bias[o]!;
        for (let c = 0; c < x.c; c++) {
          for (let u = 0; u < k; u++) {
            const y = i * stride - pad + u;
            if (y < 0 || y >= x.h) {
              continue;
            }
            for (let v = 0; v < k; v++) {
              const z = j * stride - pad + v;
              if (z < 0 || z >= x.w) {
                continue;
              }
              s += x.data[(c * x.h + y) * x.w + z]! * w[((o * x.c + c) * k + u) * k + v]!;
            }
          }
        }
        out[(o * h + i) * wd + j] = s;
      }
    }
  }
  return { c: cout, h, w: wd, data: out };
}

function relu(x: Act): Act {
  return { ...x, data: x.data.map((v) => Math.max(v, 0)) };
}

function add(a: Act, b: Act): Act {
  return { ...a, data: a.data.map((v, i) => v + b.data[i]!) };
}

/** Max pooling, kernel 3, stride 2, padding 1 (padded cells never win). */
function maxPool(x: Act): Act {
  const h = Math.floor((x.h + 2 - 3) / 2) + 1;
  const w = Math.floor((x.w + 2 - 3) / 2) + 1;
  const out = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let m = -Infinity;
        for (let u = 0; u < 3; u++) {
          for (let v = 0; v < 3; v++) {
            const y = 2 * i - 1 + u;
            const z = 2 * j - 1 + v;
            if (y >= 0 && y < x.h && z >= 0 && z < x.w) {
              m = Math.max(m, x.data[(c * x.h + y) * x.w + z]!);
            }
          }
        }
        out[(c * h + i) * w + j] = m;
      }
    }
  }
  return { c: x.c, h, w, data: out };
}

/**
 * Logits of the tiny ResNet for one image [3, h, w]: stem conv 7×7/2 → ReLU → max-pool, BasicBlock
 * (width) and BasicBlock (2·width, stride 2, 1×1 downsample), global average pool, fc.
 */
export function tinyResnetLogits(
  model: Model,
  image: Float64Array,
  h: number,
  w: number,
  width: number,
  classes: number,
): number[] {
  const cw = (name: string, cout: number, k: number, stride: number, pad: number, x: Act): Act =>
    conv(x, weight(model, `${name}.weight`), weight(model, `${name}.bias`), cout, k, stride, pad);
  let x: Act = { c: 3, h, w, data: image };
  x = maxPool(relu(cw('conv1', width, 7, 2, 3, x)));
  let y = relu(cw('layer1.0.conv1', width, 3, 1, 1, x));
  y = cw('layer1.0.conv2', width, 3, 1, 1, y);
  x = relu(add(y, x));
  y = relu(cw('layer2.0.conv1', 2 * width, 3, 2, 1, x));
  y = cw('layer2.0.conv2', 2 * width, 3, 1, 1, y);
  const shortcut = cw('layer2.0.downsample.0', 2 * width, 1, 2, 0, x);
  x = relu(add(y, shortcut));
  const feat = Array.from({ length: x.c }, (_, c) => {
    let s = 0;
    for (let i = 0; i < x.h * x.w; i++) {
      s += x.data[c * x.h * x.w + i]!;
    }
    return s / (x.h * x.w);
  });
  const fw = weight(model, 'fc.weight');
  const fb = weight(model, 'fc.bias');
  return Array.from({ length: classes }, (_, k) =>
    feat.reduce((s, f, c) => s + f * fw[k * x.c + c]!, fb[k]!),
  );
}

type Mat = number[][];

function layerNorm(x: Mat, g: Float32Array, b: Float32Array): Mat {
  return x.map((row) => {
    const mean = row.reduce((s, v) => s + v, 0) / row.length;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * g[i]! + b[i]!);
  });
}

/** x [S, in] · W (stored [in, out]) + b. */
function linear(x: Mat, w: Float32Array, b: Float32Array | undefined, out: number): Mat {
  return x.map((row) =>
    Array.from({ length: out }, (_, o) => row.reduce((s, v, i) => s + v * w[i * out + o]!, b?.[o] ?? 0)),
  );
}

/** Options of {@link clipTextReference}. */
export interface TextRefSpec {
  width: number;
  heads: number;
  mlp: number;
  layers: number;
  activation: 'quick_gelu' | 'gelu';
}

function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse for a 1e-5 comparison; integrate the series instead.
  let sum = 0;
  let term = x;
  for (let n = 0; n < 200; n++) {
    const next = term / (2 * n + 1);
    sum += next;
    term *= (-x * x) / (n + 1);
    if (Math.abs(next) < 1e-17) {
      break;
    }
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/**
 * HF CLIPTextTransformer on one sequence: token + position embeddings, pre-norm layers with causal
 * multi-head attention (queries scaled by d^-½) and an MLP, final LayerNorm, the state at the position of
 * the largest id. Returns the last hidden state and the pooled state.
 */
export function clipTextReference(
  model: Model,
  ids: number[],
  s: TextRefSpec,
): { hidden: Mat; pooled: number[] } {
  const tok = weight(model, 'text_model.embeddings.token_embedding.weight');
  const pos = weight(model, 'text_model.embeddings.position_embedding.weight');
  const W = s.width;
  const d = W / s.heads;
  let x: Mat = ids.map((id, t) => Array.from({ length: W }, (_, i) => tok[id * W + i]! + pos[t * W + i]!));
  for (let l = 0; l < s.layers; l++) {
    const p = `text_model.encoder.layers.${l}`;
    const w = (n: string): Float32Array => weight(model, `${p}.${n}`);
    const n1 = layerNorm(x, w('layer_norm1.weight'), w('layer_norm1.bias'));
    const q = linear(n1, w('self_attn.q_proj.weight_t'), w('self_attn.q_proj.bias'), W).map((r) =>
      r.map((v) => v / Math.sqrt(d)),
    );
    const k = linear(n1, w('self_attn.k_proj.weight_t'), w('self_attn.k_proj.bias'), W);
    const v = linear(n1, w('self_attn.v_proj.weight_t'), w('self_attn.v_proj.bias'), W);
    const ctx: Mat = x.map(() => new Array<number>(W).fill(0));
    for (let h = 0; h < s.heads; h++) {
      for (let i = 0; i < x.length; i++) {
        const scores = Array.from({ length: i + 1 }, (_, j) => {
          let dot = 0;
          for (let e = 0; e < d; e++) {
            dot += q[i]![h * d + e]! * k[j]![h * d + e]!;
          }
          return dot;
        });
        const m = Math.max(...scores);
        const ex = scores.map((z) => Math.exp(z - m));
        const total = ex.reduce((a, z) => a + z, 0);
        for (let j = 0; j <= i; j++) {
          for (let e = 0; e < d; e++) {
            ctx[i]![h * d + e]! += (ex[j]! / total) * v[j]![h * d + e]!;
          }
        }
      }
    }
    const attn = linear(ctx, w('self_attn.out_proj.weight_t'), w('self_attn.out_proj.bias'), W);
    x = x.map((r, i) => r.map((z, e) => z + attn[i]![e]!));
    const n2 = layerNorm(x, w('layer_norm2.weight'), w('layer_norm2.bias'));
    const act = linear(n2, w('mlp.fc1.weight_t'), w('mlp.fc1.bias'), s.mlp).map((r) =>
      r.map((z) =>
        s.activation === 'quick_gelu' ? z / (1 + Math.exp(-1.702 * z)) : 0.5 * z * (1 + erf(z / Math.SQRT2)),
      ),
    );
    const mlp = linear(act, w('mlp.fc2.weight_t'), w('mlp.fc2.bias'), W);
    x = x.map((r, i) => r.map((z, e) => z + mlp[i]![e]!));
  }
  const hidden = layerNorm(
    x,
    weight(model, 'text_model.final_layer_norm.weight'),
    weight(model, 'text_model.final_layer_norm.bias'),
  );
  const eos = ids.indexOf(Math.max(...ids));
  return { hidden, pooled: hidden[eos]! };
}

/** `pooled · P` for a projection stored [width, E]. */
export function project(pooled: number[], p: Float32Array, e: number): number[] {
  return linear([pooled], p, undefined, e)[0]!;
}
