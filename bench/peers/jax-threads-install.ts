// Side-effect module for jax-threads-child.ts: installs the Worker shim with the thread count given
// as the child's first argument. Must be imported before @jax-js/jax.
import { installNodeWorkerShim } from './node-worker-shim.ts';

const threads = Number(process.argv[2]);
if (!(threads >= 1)) throw new Error(`jax-threads-child: bad thread count ${process.argv[2]}`);
installNodeWorkerShim(threads);
