/** @file Assertions on typed errors: the class, and a message pattern (tests of bad input). */
import { expect } from 'vitest';

type ErrorClass = abstract new (...args: never[]) => Error;

/** The error `fn` throws, failing the test when it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  expect.fail('expected an error, none was thrown');
}

/** `fn` throws an instance of `cls` whose message matches `re`; returns it. */
export function throws(fn: () => unknown, cls: ErrorClass, re: RegExp): Error {
  const err = thrown(fn);
  expect(err, `expected ${cls.name} matching ${re}`).toBeInstanceOf(cls);
  expect((err as Error).message).toMatch(re);
  return err as Error;
}

/** `p` rejects with an instance of `cls` whose message matches `re`; returns the error. */
export async function rejects(p: Promise<unknown>, cls: ErrorClass, re: RegExp): Promise<Error> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${cls.name} matching ${re}`).toBeInstanceOf(cls);
  expect((err as Error).message).toMatch(re);
  return err as Error;
}
