/** Registers every op lowering (importing this module has that effect). One family per file. */
import './reduce.js';
import './softmax.js';
import './norm.js';
import './matmul.js';
import './conv.js';
import './pool.js';
import './attention.js';
import './rotary.js';
import './movement-shape.js';
import './movement-index.js';
import './loss.js';
import './quantize.js';
import './sampling.js';
import './resize.js';
import './topk.js';
import './sources.js';
