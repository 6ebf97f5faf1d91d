import { TapegradError } from '../errors.ts';

/** A file or byte buffer does not follow its format (IDX, safetensors, …); the message names the source and field. */
export class FormatError extends TapegradError {
  override name = 'FormatError';
}

/** A dataset file that was looked for is not on disk; the message lists every path tried and how to get the files. */
export class DatasetNotFoundError extends TapegradError {
  override name = 'DatasetNotFoundError';
}

/**
 * Reading or writing a file failed (missing file, a directory, no permission, full disk); the
 * message names the operation and the path, and the operating system's error is the `cause`.
 */
export class IOError extends TapegradError {
  override name = 'IOError';
  /** the operating system's error code ('ENOENT', 'EISDIR', …), when it gave one */
  readonly code: string | undefined;
  constructor(readonly op: string, readonly path: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`${op}: cannot ${op === 'save' ? 'write' : 'read'} ${JSON.stringify(path)}: ${why}`, { cause });
    const code = (cause as { code?: unknown } | null)?.code;
    this.code = typeof code === 'string' ? code : undefined;
  }
}
