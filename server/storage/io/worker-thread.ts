// A worker thread of this process that answers numbered requests: started on first use,
// started again after it fails (whatever waited on it is rejected), and never what keeps
// the process alive. What the hashing thread (trailing-hasher.ts) and the writing thread
// (whole-files.ts) share.
import { Worker } from 'node:worker_threads';

export class WorkerThread<Request extends { id: number }, Answer extends { id: number }> {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (answer: Answer) => void; reject: (err: Error) => void }>();

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
      const waiter = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      this.idleUnlessWaited();
      waiter?.resolve(answer);
    });
    const fail = (err: Error): void => {
      // ('error' then 'exit': a thread started in between is not this one.)
      if (this.worker === worker) this.worker = null;
      for (const waiter of this.waiting.values()) waiter.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`${this.name} exited (${code})`)));
    // Idle, it must not keep the process alive; after the listeners, which ref it again.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** A thread with no answer awaited keeps nothing alive; one that owes an answer does. */
  private idleUnlessWaited(): void {
    if (this.waiting.size === 0) this.worker?.unref();
    else this.worker?.ref();
  }

  /** Starts the thread now, so that its memory is there before the first request. */
  warm(): void {
    void this.thread;
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
    const answer = new Promise<Answer>((resolve, reject) => this.waiting.set(request.id, { resolve, reject }));
    this.thread.postMessage(request);
    this.idleUnlessWaited();
    return answer;
  }

  /** Stops waiting for an answer; tells nothing to a thread that is not running. */
  forget(id: number, request?: Request): void {
    this.waiting.delete(id);
    this.idleUnlessWaited();
    if (request && this.worker) this.worker.postMessage(request);
  }
}
