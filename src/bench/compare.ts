/** Output checks of the benchmark: relative L2 error over whole tensors, without per-element allocation. */
import { Tensor } from '../ir/tensor.js';
import type { RuntimeValue } from '../ref/kernel.js';

/** ‖got − want‖₂ / ‖want‖₂ (NaN when either holds a NaN; Infinity when the shapes differ). */
export function relL2(got: Tensor, want: Tensor): number {
  if (got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i])) return Infinity;
  const x = got.data as ArrayLike<number | bigint>;
  const y = want.data as ArrayLike<number | bigint>;
  let num = 0;
  let den = 0;
  if (typeof x[0] === 'number' && typeof y[0] === 'number') {
    const a = x as ArrayLike<number>;
    const b = y as ArrayLike<number>;
    for (let i = 0; i < a.length; i++) {
      const d = a[i] - b[i];
      num += d * d;
      den += b[i] * b[i];
    }
  } else {
    for (let i = 0; i < x.length; i++) {
      const a = Number(x[i]);
      const b = Number(y[i]);
      num += (a - b) * (a - b);
      den += b * b;
    }
  }
  if (Number.isNaN(num) || Number.isNaN(den)) return NaN;
  if (num === 0) return 0;
  return Math.sqrt(num) / Math.sqrt(den || 1e-300);
}

export interface OutputCheck {
  /** worst relative L2 over the checked outputs (NaN beats everything) */
  worst: number;
  worstName: string;
  byName: Record<string, number>;
}

/** a is a worse error than b (NaN is the worst of all). */
function worse(a: number, b: number): boolean {
  if (Number.isNaN(b)) return false;
  return Number.isNaN(a) || a > b;
}

/** Compares each expected output with the one chimera produced (a missing one counts as Infinity). */
export function checkOutputs(got: ReadonlyMap<string, RuntimeValue>, want: ReadonlyMap<string, Tensor>): OutputCheck {
  const byName: Record<string, number> = {};
  let worst = 0;
  let worstName = '';
  for (const [name, ref] of want) {
    const g = got.get(name);
    const e = g instanceof Tensor ? relL2(g, ref) : Infinity;
    byName[name] = e;
    if (worstName === '' || worse(e, worst)) {
      worst = e;
      worstName = name;
    }
  }
  return { worst, worstName, byName };
}
