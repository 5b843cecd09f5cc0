// A worker thread of this process that answers numbered requests: started on first use,
// started again after it fails (what waited on the failed one is rejected), and keeping
// the process alive only while it owes an answer. What the hashing thread
// (trailing-hasher.ts) and the writing threads (whole-files.ts) share.
import { Worker } from 'node:worker_threads';

interface Waiter<Answer> {
  worker: Worker;
  resolve: (answer: Answer) => void;
  reject: (err: Error) => void;
}

export class WorkerThread<Request extends { id: number }, Answer extends { id: number }> {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Waiter<Answer>>();

  /** `script`: the worker's module; `name`: what it is, for errors ("the hashing thread"). */
  constructor(
    private readonly script: URL,
    private readonly name: string,
  ) {}

  private get thread(): Worker {
    if (this.worker) return this.worker;
    // No flags of the main thread (an --input-type, say, would stop a file-based worker).
    const worker = new Worker(this.script, { execArgv: [] });
    worker.on('message', (answer: Answer) => {
      const waiter = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      this.idleUnlessOwing();
      waiter?.resolve(answer);
    });
    const fail = (err: Error): void => {
      // ('error' then 'exit': a thread started in between is not this one, nor are the
      // requests sent to it.)
      if (this.worker === worker) this.worker = null;
      for (const [id, waiter] of this.pending) {
        if (waiter.worker !== worker) continue;
        this.pending.delete(id);
        waiter.reject(err);
      }
      this.idleUnlessOwing();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`${this.name} exited (${code})`)));
    // Idle, it must not keep the process alive; after the listeners, which ref it again.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** A thread that owes no answer keeps nothing alive; one that owes one does. */
  private idleUnlessOwing(): void {
    if (this.pending.size === 0) this.worker?.unref();
    else this.worker?.ref();
  }

  /** Starts the thread now, so that its memory is there before the first request. */
  warm(): void {
    void this.thread;
  }

  /** How many answers it owes. */
  get waiting(): number {
    return this.pending.size;
  }

  /** A fresh request number. */
  id(): number {
    return this.nextId++;
  }

  /** A request that gets no answer. */
  tell(request: Request): void {
    this.thread.postMessage(request);
  }

  /** A request and its answer (rejected if the thread fails first). */
  ask(request: Request): Promise<Answer> {
    const worker = this.thread;
    // Sent first: a request that cannot be sent leaves nothing waiting.
    worker.postMessage(request);
    const answer = new Promise<Answer>((resolve, reject) => this.pending.set(request.id, { worker, resolve, reject }));
    this.idleUnlessOwing();
    return answer;
  }

  /** Stops waiting for an answer; tells nothing to a thread that is not running. */
  forget(id: number, request?: Request): void {
    this.pending.delete(id);
    this.idleUnlessOwing();
    if (request && this.worker) this.worker.postMessage(request);
  }
}
