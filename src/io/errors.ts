/** A file or byte buffer does not follow its format (IDX, safetensors, …); the message names the source and field. */
export class FormatError extends Error {
  override name = 'FormatError';
}

/** A dataset file that was looked for is not on disk; the message lists every path tried and how to get the files. */
export class DatasetNotFoundError extends Error {
  override name = 'DatasetNotFoundError';
}
