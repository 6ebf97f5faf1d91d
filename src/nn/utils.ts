/** @file nn.utils: gradient clipping (PyTorch's torch.nn.utils names). */
export { clipGradNorm_, clipGradValue_ } from './clip-grad.ts';
