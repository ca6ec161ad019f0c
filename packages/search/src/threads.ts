/**
 * Helper threads for the WebAssembly kernel (Node.js only; the browser-safe core never imports
 * this). A large call is split between the caller's thread and the helpers, which run the same
 * kernel on the same shared memory: the matrices are never copied, and the calls stay synchronous.
 *
 * Each helper has a small shared control block. The caller writes a call's arguments there, bumps
 * a sequence number and notifies; the helper runs the call and bumps "done". Between calls a
 * helper spins briefly (the next call of the same query usually follows within microseconds), then
 * sleeps in Atomics.wait. Helpers are unref'd: they never keep a process alive.
 */
import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import {
  installKernelThreads,
  KERNEL_OP_EXPORTS,
  type KernelOp,
  type KernelThreadPool,
  type WasmMemory,
  type WasmModule,
} from "./kernel.js";

// control block layout (Int32 slots)
const SEQ = 0;
const DONE = 1;
const OP = 2;
const MEMORY_ID = 3;
const READY = 4;
const FAILED = 5;
const ARGS = 8;
const SLOTS = 16;
/** The op that only reads the helper's mailbox (memories attached or released). */
const OP_MAILBOX = -1;
/** Spins before sleeping: about 50–100 µs on current CPUs. */
const SPINS = 1 << 17;

/**
 * The helper's code. It is evaluated (not loaded from a file) so the threads work the same from
 * the sources, the build and a bundle.
 */
const HELPER_SOURCE = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const { control, port } = workerData;
const c = new Int32Array(control);
const EXPORTS = ${JSON.stringify(KERNEL_OP_EXPORTS)};
const kernels = new Map();
function readMailbox() {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const msg = m.message;
    if (msg.attach !== undefined) {
      kernels.set(msg.attach, new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } }).exports);
    } else {
      kernels.delete(msg.release);
    }
  }
}
Atomics.store(c, ${READY}, 1);
let seen = 0;
for (;;) {
  let spins = 0;
  while (Atomics.load(c, ${SEQ}) === seen) {
    if (++spins > ${SPINS}) Atomics.wait(c, ${SEQ}, seen);
  }
  seen = Atomics.load(c, ${SEQ});
  try {
    readMailbox();
    const op = c[${OP}];
    if (op !== ${OP_MAILBOX}) {
      const k = kernels.get(c[${MEMORY_ID}]);
      k[EXPORTS[op]](...c.subarray(${ARGS}, ${ARGS + 7}));
    }
  } catch {
    Atomics.store(c, ${FAILED}, 1);
  }
  Atomics.store(c, ${DONE}, seen);
  Atomics.notify(c, ${DONE});
}
`;

interface Helper {
  worker: Worker;
  control: Int32Array;
  port: MessagePort;
  /** The sequence number of the last call handed to this helper. */
  seq: number;
  started: Promise<void>;
}

class HelperPool implements KernelThreadPool {
  readonly size: number;
  readonly #helpers: Helper[] = [];
  readonly #released = new FinalizationRegistry<number>((id) => this.#release(id));
  #nextId = 0;
  #broken = false;

  constructor(size: number) {
    for (let h = 0; h < size; h++) {
      const control = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(HELPER_SOURCE, {
        eval: true,
        workerData: { control: control.buffer, port: port2 },
        transferList: [port2],
        name: `@ldakit/search kernel helper ${h + 1}`,
      });
      worker.unref();
      port1.unref();
      const started = new Promise<void>((resolve) => {
        worker.once("online", () => resolve());
        worker.once("error", () => resolve());
        worker.once("exit", () => resolve());
      });
      // a helper that dies leaves calls nobody answers: stop handing out work (the caller's
      // thread computes everything from then on)
      worker.once("exit", () => {
        this.#broken = true;
      });
      this.#helpers.push({ worker, control, port: port1, seq: 0, started });
    }
    this.size = size;
  }

  async started(): Promise<void> {
    // an unref'd worker's events do not keep the event loop alive: hold it while we wait
    for (const h of this.#helpers) h.worker.ref();
    try {
      await Promise.all(this.#helpers.map((h) => h.started));
      // "online" fires before the helper's first statement: wait for its ready flag too
      for (const h of this.#helpers) {
        while (!this.#broken && Atomics.load(h.control, READY) !== 1) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
    } finally {
      for (const h of this.#helpers) h.worker.unref();
    }
  }

  ready(helper: number): boolean {
    const h = this.#helpers[helper];
    return !this.#broken && h !== undefined && Atomics.load(h.control, READY) === 1;
  }

  attach(module: WasmModule, memory: WasmMemory, owner: object): number {
    const id = this.#nextId++;
    for (const h of this.#helpers) h.port.postMessage({ attach: id, module, memory });
    this.#released.register(owner, id);
    return id;
  }

  start(helper: number, id: number, op: KernelOp, args: number[]): void {
    const h = this.#helpers[helper] as Helper;
    this.#wait(h);
    const c = h.control;
    c[OP] = op;
    c[MEMORY_ID] = id;
    for (let i = 0; i < args.length; i++) c[ARGS + i] = args[i] as number;
    h.seq = (h.seq + 1) | 0;
    Atomics.store(c, SEQ, h.seq);
    Atomics.notify(c, SEQ);
  }

  finish(): number[] {
    const failed: number[] = [];
    for (let i = 0; i < this.#helpers.length; i++) {
      const h = this.#helpers[i] as Helper;
      this.#wait(h);
      if (Atomics.load(h.control, FAILED) === 1) {
        Atomics.store(h.control, FAILED, 0);
        failed.push(i);
      }
    }
    return failed;
  }

  /** Waits until helper `h` finished its last call: a short spin, then Atomics.wait. */
  #wait(h: Helper): void {
    const c = h.control;
    let spins = 0;
    for (let done = Atomics.load(c, DONE); done !== h.seq; done = Atomics.load(c, DONE)) {
      if (++spins > SPINS) {
        // the timeout only guards against a helper that died mid-call
        if (Atomics.wait(c, DONE, done, 1000) === "timed-out" && this.#broken) {
          Atomics.store(c, FAILED, 1);
          return;
        }
      }
    }
  }

  #release(id: number): void {
    if (this.#broken) return;
    for (const h of this.#helpers) {
      h.port.postMessage({ release: id });
      // wake the helper so it lets go of the memory now, not at its next call
      this.start(this.#helpers.indexOf(h), -1, OP_MAILBOX as KernelOp, []);
    }
  }
}

let pool: HelperPool | undefined;

installKernelThreads(() => {
  if (pool === undefined) {
    const cores = typeof availableParallelism === "function" ? availableParallelism() : 1;
    try {
      pool = new HelperPool(Math.max(0, Math.min(cores, 8) - 1));
    } catch {
      // e.g. a runtime that forbids worker threads: everything runs on the caller's thread
      pool = new HelperPool(0);
    }
  }
  return pool;
});
