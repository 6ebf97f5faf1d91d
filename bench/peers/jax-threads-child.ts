// Child process of measureJaxThreaded(): `node --import tsx jax-threads-child.ts <threads> <MeasureOpts JSON>`.
// Prints one line 'ROWS <json>' on stdout.
//
// The first import installs the Worker shim; ES modules evaluate in import order, so it is in place
// before @jax-js/jax (imported by jaxjs.ts) creates its wasm device and checks for `Worker`.
import './jax-threads-install.ts';
import { measureSuite, type MeasureOpts, type Row } from '../harness.ts';
import { jaxSuite } from './jaxjs.ts';

const threads = Number(process.argv[2]);
const opts = JSON.parse(process.argv[3] ?? '{}') as MeasureOpts;
const rows: Row[] = [];
for (const jit of [false, true]) {
  rows.push(...(await measureSuite(jaxSuite('wasm', jit, `jax-js wasm ${threads}thr${jit ? ' jit' : ''}`), opts)));
}
console.log('ROWS ' + JSON.stringify(rows));
process.exit(0); // the worker threads keep the event loop alive
