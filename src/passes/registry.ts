/**
 * The default optimization pipeline: an explicit, ordered list of passes. `optimizeModel` runs the passes
 * whose `minLevel` is at most the requested --level (see manager.ts for rounds and fixed points).
 *
 * HOW TO ADD A PASS (one import line + one list line):
 *   1. In your file export a Pass (or `rulePass(name, kind, minLevel, rules)` from pattern.ts).
 *   2. Add `import { myPass } from './my-pass.js';` below, in the section of its stage.
 *   3. Add `myPass,` to DEFAULT_PIPELINE in the same section. Order matters: canonicalize first, then
 *      fold, cleanup, layout, fusions, and a final cleanup; fusions may assume canonical input.
 *   Pass names must be unique; `requires` names must come earlier in this list.
 *
 * Levels (Pass.minLevel): 0 = only what correctness needs; 1 = canonicalize, fold, cleanup;
 * 2 (default) = also layout and stable fusions; 3 = also experimental fusions.
 */
import type { Pass } from './api.js';
import { ChimeraError } from '../errors.js';

// ---- 1. canonicalize (Identity/Dropout/no-op Cast/Reshape removal, ...) ----
import { removeNoops } from './remove-noops.js';

// ---- 2. fold (constant folding, shape-computation folding) ----
import { foldConstants } from './fold-constants.js';
import { foldShapes } from './fold-shapes.js';
import { convBnFold } from './conv-bn.js';

// ---- 3. cleanup (dead code, common subexpressions) ----
import { cse } from './cse.js';
import { dce } from './dce.js';

// ---- 4. layout (transpose/reshape cancellation and sinking) ----
import { transposeCancel } from './transpose.js';

// ---- 5. fusions (src/passes/fusions/*) ----
import { layerNormFusion } from './fusions/layernorm.js';
import { rmsNormFusion } from './fusions/rmsnorm.js';
import { geluFusion } from './fusions/gelu.js';
import { attentionFusion } from './fusions/attention.js';
import { rotaryFusion } from './fusions/rotary.js';
import { rotaryHalfFusion } from './fusions/rotary-half.js';
import { attentionLayoutFusion } from './fusions/attention-layout.js';
import { attentionResidualFusion } from './fusions/attention-residual.js';
import { linearFusion } from './fusions/linear.js';
import { skipLayerNormFusion } from './fusions/skip-layernorm.js';

export const DEFAULT_PIPELINE: readonly Pass[] = [
  // 1. canonicalize
  removeNoops,

  // 2. fold
  foldConstants,
  foldShapes,
  convBnFold,

  // 3. cleanup
  cse,
  dce,

  // 4. layout
  transposeCancel,

  // 5. fusions
  layerNormFusion,
  rmsNormFusion,
  geluFusion,
  attentionFusion,
  rotaryFusion,
  rotaryHalfFusion,
  attentionLayoutFusion,
  attentionResidualFusion,
  linearFusion,
  skipLayerNormFusion,

  // 6. final cleanup (the manager always prunes dead nodes and initializers at the end: 'core.prune')
];

/** The passes of the default pipeline by name (tests look passes up here). */
export function passByName(name: string): Pass | undefined {
  return DEFAULT_PIPELINE.find((p) => p.name === name);
}

/** Resolves pass names against the default pipeline; an unknown name is an error listing the known ones. */
export function resolvePasses(list: readonly (string | Pass)[]): Pass[] {
  return list.map((p) => {
    if (typeof p !== 'string') return p;
    const found = passByName(p);
    if (!found) throw new ChimeraError('E_USAGE', `unknown pass '${p}' (known: ${DEFAULT_PIPELINE.map((q) => q.name).join(', ') || 'none yet'})`);
    return found;
  });
}
