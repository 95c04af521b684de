/**
 * The memory planner: places every device value of a plan at an offset in one arena so that values
 * whose lifetimes overlap never share bytes. Lifetimes are step intervals: from the step that produces
 * a value (feeds: before the first) to the last step that reads it or any view of it (graph outputs:
 * to the end). Placement is greedy by size, largest first, at the lowest free offset (256-byte aligned).
 * Reports the planned peak against the naive sum of all tensors.
 */
import type { Plan } from './plan.js';

export const ALIGN = 256;

export interface MemoryPlan {
  offsets: Map<string, number>;
  /** the arena size: the planned peak */
  arenaBytes: number;
  /** the sum of all placed values' (aligned) sizes: what one buffer per tensor would take */
  naiveBytes: number;
  /** number of values placed */
  count: number;
}

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export function planMemory(plan: Plan): MemoryPlan {
  const start = new Map<string, number>();
  const end = new Map<string, number>();
  const rootOf = (name: string) => plan.values.get(name)?.aliasOf ?? name;
  const touch = (name: string, i: number) => {
    const r = rootOf(name);
    end.set(r, Math.max(end.get(r) ?? i, i));
  };
  const needsSlot = (name: string) => {
    const v = plan.values.get(name);
    return v !== undefined && v.place !== 'const' && !v.aliasOf && v.bytes > 0;
  };
  for (const v of plan.values.values()) if (v.feed && v.onDevice && needsSlot(v.name)) start.set(v.name, -1);
  plan.steps.forEach((s, i) => {
    for (const w of s.writes) {
      if (!needsSlot(w)) continue;
      const v = plan.values.get(w)!;
      if (s.kind === 'host' && !v.onDevice) continue;
      if (!start.has(w)) start.set(w, i);
      touch(w, i);
    }
    for (const r of s.reads) {
      if (!needsSlot(rootOf(r))) continue;
      if (!start.has(rootOf(r)) && r.startsWith('%scratch')) start.set(r, i);
      touch(r, i);
    }
  });
  for (const o of plan.outputs) if (start.has(rootOf(o))) end.set(rootOf(o), plan.steps.length);
  const items = [...start.keys()].map((name) => ({ name, bytes: align(plan.values.get(name)!.bytes), s: start.get(name)!, e: end.get(name) ?? start.get(name)! }));
  items.sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
  const placed: { off: number; bytes: number; s: number; e: number }[] = [];
  const offsets = new Map<string, number>();
  let arena = 0;
  for (const it of items) {
    const conflicts = placed.filter((p) => p.s <= it.e && it.s <= p.e).sort((a, b) => a.off - b.off);
    let off = 0;
    for (const c of conflicts) {
      if (off + it.bytes <= c.off) break;
      off = Math.max(off, c.off + c.bytes);
    }
    placed.push({ off, bytes: it.bytes, s: it.s, e: it.e });
    offsets.set(it.name, off);
    arena = Math.max(arena, off + it.bytes);
  }
  return { offsets, arenaBytes: arena, naiveBytes: items.reduce((a, b) => a + b.bytes, 0), count: items.length };
}
