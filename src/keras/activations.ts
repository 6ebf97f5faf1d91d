/** @file Keras activation names and how each maps onto tapegrad's ops. */
import { ValueError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import * as F from '../ops/functional.ts';

/** Activations by name, as Keras spells them (softmax is over the last axis). */
export const ACTIVATIONS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax', 'softplus', 'gelu'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];
/** A named activation, or any function of a tensor. */
export type ActivationSpec = ActivationName | ((x: Tensor) => Tensor);

const ALIASES: Readonly<Record<string, ActivationName>> = { linear: 'linear', relu: 'relu', sigmoid: 'sigmoid', tanh: 'tanh', softmax: 'softmax', softplus: 'softplus', gelu: 'gelu' };

/** Checks an activation argument; `where` names the layer in the error. */
export function resolveActivation(spec: unknown, where: string): ActivationSpec {
  if (spec === undefined || spec === null) return 'linear';
  if (typeof spec === 'function') return spec as (x: Tensor) => Tensor;
  const name = typeof spec === 'string' ? ALIASES[spec] : undefined;
  if (name === undefined) {
    throw new ValueError(`${where}: unknown activation ${JSON.stringify(spec)}; expected one of ${ACTIVATIONS.map((a) => `'${a}'`).join(', ')}, or a function of a tensor`);
  }
  return name;
}

/** Applies an activation. */
export function activate(spec: ActivationSpec, x: Tensor): Tensor {
  if (typeof spec === 'function') return spec(x);
  switch (spec) {
    case 'linear': return x;
    case 'relu': return F.relu(x);
    case 'sigmoid': return F.sigmoid(x);
    case 'tanh': return F.tanh(x);
    case 'softmax': return F.softmax(x, -1);
    case 'softplus': return F.softplus(x);
    case 'gelu': return F.gelu(x);
    default: return spec satisfies never;
  }
}

/** How an activation is printed in summaries and errors. */
export function activationLabel(spec: ActivationSpec): string {
  return typeof spec === 'function' ? (spec.name || 'custom') : spec;
}
