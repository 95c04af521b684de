/**
 * Engine precision: with fp16 or bf16, every float32 tensor of the computation is stored in the narrow
 * type (kernels still compute in fp32: statistics, softmax and reductions accumulate in fp32, see
 * src/codegen/dtypes.ts), while the engine's inputs and outputs stay float32 at the boundary.
 *
 * The transform (on the engine's own copy of the model, before planning):
 * - float32 initializers are rounded to the narrow type (saturating);
 * - each float32 graph input gets a Cast to the narrow type in front of its uses, each float32 graph output
 *   a Cast back to float32 behind its producer;
 * - Cast/ConstantOfShape/EyeLike/Constant nodes that make float32 make the narrow type instead;
 * - values on the host-side shape path (Resize scales and what they are computed from) stay float32.
 * Types are then re-inferred.
 */
import { Node, type Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { onnxCode, type DType } from '../ir/dtype.js';
import { roundArrayInto } from '../ir/float.js';
import { inferShapes } from '../infer/index.js';
import { SATURATING_CAST } from '../codegen/ops/ew-table.js';

export type Precision = 'fp32' | 'fp16' | 'bf16';

export function precisionDType(p: Precision): DType {
  return p === 'fp16' ? 'float16' : p === 'bf16' ? 'bfloat16' : 'float32';
}

function narrow(t: Tensor, to: DType): Tensor {
  const data = new Float32Array(t.size);
  roundArrayInto(to, t.data as Float32Array, data, true);
  return new Tensor(to, t.shape, data);
}

export function applyPrecision(model: Model, precision: Precision, hostValues: ReadonlySet<string>): void {
  if (precision === 'fp32') return;
  const to = precisionDType(precision);
  const g = model.graph;
  const isF32 = (name: string) => {
    const t = g.typeOf(name);
    return t?.kind === 'tensor' && t.dtype === 'float32';
  };
  for (const [name, t] of g.initializers) {
    if (t.dtype === 'float32' && !hostValues.has(name)) g.initializers.set(name, narrow(t, to));
  }
  const toCode = BigInt(onnxCode(to));
  const f32Code = BigInt(onnxCode('float32'));
  for (const n of g.nodes) {
    if (n.domain !== '' || n.outputs.some((o) => hostValues.has(o))) continue;
    if (n.op === 'Cast' && n.intBig('to') === f32Code) {
      n.attrs.set('to', { type: 'int', value: toCode });
      n.doc = SATURATING_CAST;
    }
    if (n.op === 'EyeLike' && n.has('dtype') && n.intBig('dtype') === f32Code) n.attrs.set('dtype', { type: 'int', value: toCode });
    for (const attr of ['value']) {
      const t = (n.op === 'ConstantOfShape' || n.op === 'Constant') ? n.tensor(attr) : undefined;
      if (t && t.dtype === 'float32') n.attrs.set(attr, { type: 'tensor', value: narrow(t, to) });
    }
  }
  // boundary casts
  const uses = (name: string) => g.nodes.filter((n) => n.inputs.includes(name));
  const prologue: Node[] = [];
  for (const v of g.inputs) {
    if (g.initializers.has(v.name) || !isF32(v.name) || hostValues.has(v.name)) continue;
    const inner = `${v.name}::${precision}`;
    for (const n of uses(v.name)) n.inputs = n.inputs.map((x) => (x === v.name ? inner : x));
    prologue.push(new Node({ op: 'Cast', inputs: [v.name], outputs: [inner], name: `chimera_cast_in_${v.name}`, attrs: { to: { type: 'int', value: toCode } }, doc: SATURATING_CAST }));
  }
  const epilogue: Node[] = [];
  for (const o of g.outputs) {
    const t = g.typeOf(o.name);
    if (t?.kind !== 'tensor' || t.dtype !== 'float32' || hostValues.has(o.name) || g.initializers.has(o.name) || g.inputs.some((i) => i.name === o.name)) continue;
    const inner = `${o.name}::${precision}`;
    for (const n of g.nodes) {
      n.outputs = n.outputs.map((x) => (x === o.name ? inner : x));
      n.inputs = n.inputs.map((x) => (x === o.name ? inner : x));
    }
    epilogue.push(new Node({ op: 'Cast', inputs: [inner], outputs: [o.name], name: `chimera_cast_out_${o.name}`, attrs: { to: { type: 'int', value: f32Code } } }));
  }
  g.nodes = [...prologue, ...g.nodes, ...epilogue];
  // re-infer: intermediate types changed
  g.valueInfo.clear();
  inferShapes(model, { onError: 'report' });
}
