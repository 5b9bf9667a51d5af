import { TensorError } from './matrix';

/** Options of {@link Adam}; defaults are PyTorch's. */
export interface AdamOptions {
  /** @defaultValue 1e-3 */
  lr?: number;
  /** @defaultValue 0.9 */
  beta1?: number;
  /** @defaultValue 0.999 */
  beta2?: number;
  /** @defaultValue 1e-8 */
  eps?: number;
  /** Coupled L2 penalty added to the gradient (torch.optim.Adam's weight_decay, not AdamW). @defaultValue 0 */
  weightDecay?: number;
}

function checkShapes(params: readonly Float32Array[], grads: readonly Float32Array[], who: string): void {
  if (grads.length !== params.length) {
    throw new TensorError(`${who}.step: ${grads.length} gradients for ${params.length} parameters`);
  }
  for (let i = 0; i < params.length; i++) {
    if (grads[i]!.length !== params[i]!.length) {
      throw new TensorError(
        `${who}.step: gradient ${i} has ${grads[i]!.length} values, parameter has ${params[i]!.length}`,
      );
    }
  }
}

/**
 * Adam with coupled L2 weight decay, step for step the arithmetic of `torch.optim.Adam`
 * (non-amsgrad): g ← g + λθ; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
 * θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε). Parameters are updated in place.
 */
export class Adam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;
  readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;

  constructor(
    private readonly params: readonly Float32Array[],
    options: AdamOptions = {},
  ) {
    this.lr = options.lr ?? 1e-3;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  /** Number of steps taken. */
  get steps(): number {
    return this.t;
  }

  /** One update with the given gradients (same order as the parameters) at learning rate `lr`. */
  step(grads: readonly Float32Array[], lr = this.lr): void {
    checkShapes(this.params, grads, 'Adam');
    this.t++;
    const { beta1, beta2, eps, weightDecay } = this;
    const stepSize = lr / (1 - beta1 ** this.t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.t);
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const g = grads[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! + weightDecay * p[i]!;
        const mi = beta1 * m[i]! + (1 - beta1) * gi;
        const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i]! - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
      }
    }
  }
}

/** Options of {@link SgdMomentum}; defaults follow the method's label fine-tuning. */
export interface SgdOptions {
  /** @defaultValue 0.02 */
  lr?: number;
  /** @defaultValue 0.9 */
  momentum?: number;
  /** Coupled L2 penalty added to the gradient. @defaultValue 0 */
  weightDecay?: number;
}

/**
 * SGD with momentum as `torch.optim.SGD` (no dampening, no Nesterov): g ← g + λθ;
 * b ← g on the first step, else b ← μb + g; θ ← θ − lr·b. Parameters are updated in place.
 */
export class SgdMomentum {
  private readonly buf: Float32Array[];
  private t = 0;
  readonly lr: number;
  private readonly momentum: number;
  private readonly weightDecay: number;

  constructor(
    private readonly params: readonly Float32Array[],
    options: SgdOptions = {},
  ) {
    this.lr = options.lr ?? 0.02;
    this.momentum = options.momentum ?? 0.9;
    this.weightDecay = options.weightDecay ?? 0;
    this.buf = params.map((p) => new Float32Array(p.length));
  }

  /** One update with the given gradients at learning rate `lr`. */
  step(grads: readonly Float32Array[], lr = this.lr): void {
    checkShapes(this.params, grads, 'SgdMomentum');
    const first = this.t === 0;
    this.t++;
    const { momentum, weightDecay } = this;
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const g = grads[k]!;
      const b = this.buf[k]!;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]! + weightDecay * p[i]!;
        const bi = first ? gi : momentum * b[i]! + gi;
        b[i] = bi;
        p[i] = p[i]! - lr * bi;
      }
    }
  }
}

/** Per-epoch cosine annealing schedule. */
export interface CosineSchedule {
  /** Learning rate at epoch 0. */
  baseLr: number;
  /** Floor reached at epoch `epochs` (never actually used as a training epoch). @defaultValue 0 */
  minLr?: number;
  /** Period T in epochs (torch's T_max). */
  epochs: number;
}

/**
 * Learning rate at `epoch` (0-based) under cosine annealing stepped once per epoch, the closed form of
 * torch's CosineAnnealingLR: minLr + (baseLr − minLr)·(1 + cos(π·epoch/T))/2.
 */
export function cosineLr(epoch: number, schedule: CosineSchedule): number {
  const { baseLr, minLr = 0, epochs } = schedule;
  if (!(epochs > 0)) {
    throw new TensorError(`cosineLr: epochs must be positive, got ${epochs}`);
  }
  return minLr + ((baseLr - minLr) * (1 + Math.cos((Math.PI * epoch) / epochs))) / 2;
}
