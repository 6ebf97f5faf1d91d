/**
 * @file When conv2d folds a batch into one product: a measured rule, kept out of nn.functional
 * (whose exports are public API) so that tests can pin it.
 */

/**
 * Whether conv2d folds the batch into the columns of one product per group,
 * W[O/g, Cg·kh·kw] @ cols[Cg·kh·kw, N·L], instead of N products W @ cols[n] (L = oh·ow).
 *
 * Folding pays a permuted copy of the im2col columns (and of y, and of ȳ in the backward) for
 * products with N·L columns instead of L. Measured for forward + backward (batch 64; the CPU's
 * wasm gemm and WebGPU's tiled kernel on lavapipe, eager and jit; same rule on both): folding
 * wins when the per-image products are thin and the weight tall — L = 16, O = 128: 1.6–2.6×
 * faster; L = 36, O = 64: 1.1–1.2× — and loses 10–50% from L = 64 on (LeNet: L = 784 and 100,
 * both stay per image); for O = 16 the sign depends on the device. Folding part of the batch
 * (chunks of images) never won: the 4-D permuted copy costs more than the wider products save.
 */
const FOLD_MAX_L = 40;
const FOLD_MIN_ROWS = 32;
/**
 * Whether conv2d folds a batch of N images with L output pixels each into one product whose
 * weight operand has `rows` rows (out channels per group).
 */
export function conv2dFoldsBatch(N: number, L: number, rows: number): boolean {
  return N > 1 && L <= FOLD_MAX_L && rows >= FOLD_MIN_ROWS;
}
