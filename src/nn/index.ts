/** @file The nn namespace: functional ops (more modules arrive with the training stack). */
export * as functional from './functional.ts';
